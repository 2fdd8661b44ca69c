//go:build !race

package paxsync

const raceEnabled = false
