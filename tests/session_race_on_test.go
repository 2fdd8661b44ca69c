//go:build race

package tests

const sessionRace = true
