// Command paxsync-detcheck reports nondeterminism hazards in a lockstep
// game package: floating point, map iteration, wall-clock reads, global
// randomness, goroutines and the imports paxsync's gamestate rule forbids.
// A peer whose game hits one of them computes a different state from the
// same inputs and is convicted like a cheater, so run it on your game:
//
//	go run github.com/paxsync/paxsync/cmd/paxsync-detcheck ./mygame/...
//
// or, installed, through go vet:
//
//	go install github.com/paxsync/paxsync/cmd/paxsync-detcheck
//	go vet -vettool=$(go env GOPATH)/bin/paxsync-detcheck ./mygame
//
// It exits with status 3 when it reports a finding (1 on a load error, 0
// when clean). docs/DETERMINISM.md lists what it checks, why, and how to
// suppress a finding on code that is off the simulation path.
package main

import (
	"github.com/paxsync/paxsync/detcheck"
	"golang.org/x/tools/go/analysis/singlechecker"
)

func main() { singlechecker.Main(detcheck.Analyzer) }
