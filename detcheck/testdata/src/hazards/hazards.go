// Package hazards holds one instance of every hazard detcheck reports.
package hazards

import (
	crand "crypto/rand" // want `import "crypto/rand" is forbidden in simulation code: it returns fresh OS randomness`
	"hash/maphash"      // want `import "hash/maphash" is forbidden`
	"maps"
	"math"
	"math/rand"           // want `import "math/rand" is forbidden`
	randv2 "math/rand/v2" // want `import "math/rand/v2" is forbidden`
	"net"                 // want `import "net" is forbidden in simulation code: it does network I/O`
	"os"                  // want `import "os" is forbidden`
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time" // want `import "time" is forbidden in simulation code: it reads the wall clock`
)

var _ = maphash.MakeSeed
var _ net.IP
var _ = os.Getpid

// Floating point: one finding per statement or declaration.

type Vec struct {
	X, Y float64 // want `floating point \(the type float64\): float results can differ between peers`
	Z    float32 // want `floating point \(the type float32\)`
	N    int
}

type Meters float64 // want `floating point \(the type float64\)`

var gravity = 9.81 // want `floating point \(a float64 literal\)`

var c complex128 // want `floating point \(the type complex128\)`

func scale(a, b float64) int { // want `floating point \(the type float64\)`
	return int(a * b) // want `floating point \(float64 arithmetic\)`
}

func length(v Vec) int {
	d := v.X*v.X + v.Y*v.Y + 1.5 // want `floating point \(float64 arithmetic\)`
	return int(math.Sqrt(d))     // want `floating point \(a float64 value\)`
}

func convert(n int) int {
	f := float64(n)  // want `floating point \(a conversion to float64\)`
	_ = f            // want `floating point \(a float64 value\)`
	var m Meters = 3 // want `floating point \(the type Meters \(float64\)\)`
	_ = m            // want `floating point \(a Meters \(float64\) value\)`
	return 0
}

// Map iteration.

func mapRange(m map[int]int) (sum int) {
	for k, v := range m { // want `range over map: Go randomizes map iteration order on every run, so peers visit the entries in different orders`
		sum = sum*31 + k + v
	}
	for k := range maps.Keys(m) { // want `maps.Keys yields in map iteration order`
		sum = sum*31 + k
	}
	for _, v := range maps.All(m) { // want `maps.All yields in map iteration order`
		sum += v
	}
	ks := slices.Collect(maps.Values(m)) // want `maps.Values yields in map iteration order`
	rv := reflect.ValueOf(m)
	for range rv.MapKeys() { // want `reflect.Value.MapKeys walks the map`
	}
	_ = rv.MapRange // want `reflect.Value.MapRange walks the map`
	return sum + len(ks)
}

// The wall clock.

func clock() {
	start := time.Now()    // want `time.Now reads the wall clock: every peer reads a different time`
	_ = time.Since(start)  // want `time.Since reads the wall clock`
	_ = time.Until(start)  // want `time.Until reads the wall clock`
	time.Sleep(1)          // want `time.Sleep waits on the wall clock`
	<-time.After(1)        // want `time.After waits on the wall clock` `channel receive`
	_ = time.NewTimer      // want `time.NewTimer waits on the wall clock`
	_ = time.NewTicker(1)  // want `time.NewTicker waits`
	_ = time.Tick(1)       // want `time.Tick waits`
	time.AfterFunc(1, nil) // want `time.AfterFunc waits`
}

// Randomness.

func random(buf []byte) int {
	n := rand.Intn(6)          // want `math/rand.Intn uses the package's global source, which Go seeds randomly at start-up`
	n += randv2.IntN(6)        // want `math/rand/v2.IntN uses the package's global source`
	rand.Seed(42)              // want `math/rand.Seed uses the package's global source`
	rand.Shuffle(0, nil)       // want `math/rand.Shuffle uses`
	crand.Read(buf)            // want `crypto/rand.Read returns fresh OS randomness, different on every peer`
	_ = crand.Reader           // want `crypto/rand.Reader returns fresh OS randomness`
	_, _ = crand.Int(nil, nil) // want `crypto/rand.Int returns`
	// A seeded generator is allowed (the import is still reported) ...
	r := randv2.New(randv2.NewPCG(1, 2))
	n += r.IntN(6)
	// ... but not one seeded from the clock.
	r1 := rand.New(rand.NewSource(time.Now().UnixNano())) // want `time.Now reads the wall clock`
	return n + r1.Intn(6)
}

// Concurrency.

type shared struct {
	mu sync.Mutex   // want `sync.Mutex: synchronization means the state is shared between goroutines`
	n  atomic.Int64 // want `sync/atomic.Int64: synchronization`
}

func concurrency(s *shared, ch chan int) {
	go func() {}() // want `go statement: goroutines are scheduled in a different order on every peer`
	ch <- 1        // want `channel send: which goroutine receives it`
	v := <-ch      // want `channel receive: what arrives`
	select {       // want `select: when several cases are ready Go picks one at random`
	case ch <- v: // want `channel send`
	default:
	}
	for range ch { // want `range over channel: what arrives`
	}
	s.mu.Lock() // methods are not reported again: the declaration was
	s.mu.Unlock()
	s.n.Add(1)
}
