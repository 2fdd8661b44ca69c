package match

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Heap profiles of a long match (docs/BENCHMARKS.md, "Memory over a long
// match"): with PAXSYNC_HEAPPROFILE=DIR in the environment every peer
// process of `paxsync match` or `paxsync bench`, at each elapsed time of
// PAXSYNC_HEAPPROFILE_AT (comma-separated Go durations since the match's
// tick grid started; default 1m,5m,15m), runs a GC and writes
// DIR/peer<seat>.heap.<elapsed>.pprof, and appends a line of figures to
// DIR/peer<seat>.heap.txt: at each of those times and every 30 s between,
// so the file is a growth curve.
//
//	elapsed_s heap_inuse_bytes heap_objects heap_sys_bytes rss_bytes
//
// Compare two profiles with `go tool pprof -top -sample_index=inuse_space
// -diff_base=peer0.heap.1m0s.pprof peer0.heap.5m0s.pprof`.

const heapSampleEvery = 30 * time.Second

// heapProfileRate is the sampling rate of the profiles (bytes per sample;
// the runtime's default, 512 KiB, is too coarse to tell a few MB apart).
const heapProfileRate = 32 << 10

// The rate must be set before the process allocates anything of interest,
// so it is set when the package loads, not when the peer starts.
func init() {
	if os.Getenv("PAXSYNC_HEAPPROFILE") != "" {
		runtime.MemProfileRate = heapProfileRate
	}
}

// heapProfiler runs on its own goroutine until stop.
type heapProfiler struct {
	dir   string
	seat  int
	start time.Time
	at    []time.Duration
	done  chan struct{}
	quit  chan struct{}
}

// startHeapProfiles starts the profiler if PAXSYNC_HEAPPROFILE is set; the
// returned stop (never nil) ends it and waits for it.
func startHeapProfiles(seat int, start time.Time) (stop func(), err error) {
	dir := os.Getenv("PAXSYNC_HEAPPROFILE")
	if dir == "" {
		return func() {}, nil
	}
	at, err := parseHeapTimes(os.Getenv("PAXSYNC_HEAPPROFILE_AT"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	hp := &heapProfiler{dir: dir, seat: seat, start: start, at: at, done: make(chan struct{}), quit: make(chan struct{})}
	go hp.run()
	return func() { close(hp.quit); <-hp.done }, nil
}

func parseHeapTimes(s string) ([]time.Duration, error) {
	if s == "" {
		s = "1m,5m,15m"
	}
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("PAXSYNC_HEAPPROFILE_AT: %q is not a positive duration", f)
		}
		out = append(out, d)
	}
	return out, nil
}

func (hp *heapProfiler) run() {
	defer close(hp.done)
	next := 0 // index into at
	sample := heapSampleEvery
	for {
		due := sample
		if next < len(hp.at) && hp.at[next] <= due {
			due = hp.at[next]
		}
		select {
		case <-hp.quit:
			return
		case <-time.After(time.Until(hp.start.Add(due))):
		}
		profile := next < len(hp.at) && hp.at[next] == due
		hp.write(due, profile)
		if profile {
			next++
		}
		if due == sample {
			sample += heapSampleEvery
		}
	}
}

// write runs a GC, appends one line of figures and, if profile, writes the
// heap profile for elapsed.
func (hp *heapProfiler) write(elapsed time.Duration, profile bool) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if f, err := os.OpenFile(filepath.Join(hp.dir, fmt.Sprintf("peer%d.heap.txt", hp.seat)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "%.0f %d %d %d %d\n", elapsed.Seconds(), ms.HeapInuse, ms.HeapObjects, ms.HeapSys, rssBytes())
		f.Close()
	}
	if !profile {
		return
	}
	f, err := os.Create(filepath.Join(hp.dir, fmt.Sprintf("peer%d.heap.%s.pprof", hp.seat, elapsed)))
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}

// rssBytes is this process's resident set size (Linux; 0 elsewhere).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
