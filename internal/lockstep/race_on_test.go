//go:build race

package lockstep

// raceOn: the race detector slows the seeded simulation about tenfold.
const raceOn = true
