// Package suppress checks the //paxsync:nondeterministic-ok directive.
package suppress

import (
	"os"   //paxsync:nondeterministic-ok replay files are written outside the simulation
	"time" // want `import "time" is forbidden`
)

// On the line of the finding.
func trailing(m map[int]int) (n int) {
	for range m { //paxsync:nondeterministic-ok counting entries does not depend on the order
		n++
	}
	return n
}

// On the line above.
func above(m map[int]int) (n int) {
	//paxsync:nondeterministic-ok counting entries does not depend on the order
	for range m {
		n++
	}
	for range m { // want `range over map`
		n++
	}
	return n
}

// SaveReplay writes the replay to disk; it runs after the match, off the
// simulation path.
//
//paxsync:nondeterministic-ok file I/O after the match, never inside Step
func SaveReplay(m map[string][]byte) error {
	start := time.Now()
	for name, b := range m {
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return err
		}
	}
	go func() { _ = time.Since(start) }()
	return nil
}

//paxsync:nondeterministic-ok the whole declaration is display-only
var (
	displayScale = 1.5
	displayGamma float32
)

// A directive covers only its own line and the next.
func tooFar(m map[int]int) (n int) {
	//paxsync:nondeterministic-ok too far away // want `suppresses nothing here`

	for range m { // want `range over map`
		n++
	}
	return n
}

// A directive without a reason suppresses nothing.
func noReason(m map[int]int) (n int) {
	for range m { //paxsync:nondeterministic-ok // want `range over map` `needs a reason`
		n++
	}
	return n
}

// An unused directive is reported so that it cannot hide a later hazard.
//
//paxsync:nondeterministic-ok nothing here is nondeterministic // want `suppresses nothing here`
func clean(a, b int) int { return a + b }
