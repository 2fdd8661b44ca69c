//go:build race

package paxsync

// raceEnabled: tests that play long real-time matches skip themselves
// under the race detector; `make e2e` runs them without it.
const raceEnabled = true
