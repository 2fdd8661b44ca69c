package detcheck

import "strings"

// gamestateForbidden mirrors the "deterministic" rule of
// tests/layering_test.go, which gamestate/ itself obeys: a game package
// checked by this analyzer is held to the same imports as the code that
// replays it. TestForbiddenImportsMatchLayeringRule fails if the two drift.
var gamestateForbidden = map[string]string{
	"time":         "it reads the wall clock and runs timers, and every peer's clock differs",
	"os":           "it reads files, the environment and the process, which differ on every peer",
	"net":          "it does network I/O, whose results and timing differ on every peer",
	"math/rand":    "its global source is seeded randomly at start-up, so every peer draws different numbers",
	"math/rand/v2": "its global source is seeded randomly at start-up, so every peer draws different numbers",
	"crypto/rand":  "it returns fresh OS randomness, different on every peer by design",
}

// extraForbidden are imports beyond the gamestate rule that are just as
// certainly nondeterministic in simulation code.
var extraForbidden = map[string]string{
	"os/exec":      "it runs processes, whose output and timing differ on every peer",
	"os/signal":    "signals arrive at different moments on every peer",
	"syscall":      "system calls read the machine, which differs on every peer",
	"hash/maphash": "its seeds are random per process, so the same input hashes differently on every peer",
	"runtime":      "it exposes the machine (GOOS, GOARCH, NumCPU) and the scheduler, which differ between peers",
	"unsafe":       "it exposes memory layout and addresses, which differ between architectures and runs",
}

// forbiddenImport returns why importing path breaks lockstep, or "".
func forbiddenImport(path string) string {
	if why, ok := gamestateForbidden[path]; ok {
		return why
	}
	return extraForbidden[path]
}

// Wall-clock reads and timers of package time.
var (
	clockReads = map[string]bool{"Now": true, "Since": true, "Until": true}
	timers     = map[string]bool{"Sleep": true, "After": true, "AfterFunc": true, "Tick": true,
		"NewTimer": true, "NewTicker": true}
)

// seededConstructors are the package-level functions of math/rand and
// math/rand/v2 that do not touch the global source: they build a
// generator from a seed the caller chooses. Every other package-level
// function of those packages draws from (or reseeds) the global source.
var seededConstructors = map[string]bool{
	"New": true, "NewSource": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true,
}

// mapIterators are the functions of package maps that yield a map's
// contents in its random iteration order.
var mapIterators = map[string]bool{"Keys": true, "Values": true, "All": true}

// orderFree are the functions that may consume a map iterator because the
// result does not depend on the order: they sort it or build a map from it.
var orderFree = map[string]bool{
	"slices.Sorted": true, "slices.SortedFunc": true, "slices.SortedStableFunc": true,
	"maps.Collect": true, "maps.Insert": true,
}

// reflectMapIteration are the methods of reflect.Value that walk a map in
// its random order.
var reflectMapIteration = map[string]bool{"MapKeys": true, "MapRange": true}

// isSyncPkg reports whether path is a package whose use means the state is
// shared between goroutines.
func isSyncPkg(path string) bool { return path == "sync" || strings.HasPrefix(path, "sync/") }
