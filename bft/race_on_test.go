//go:build race

package bft

const raceEnabled = true
