// Package clean is deterministic simulation code that detcheck must not
// report.
package clean

import (
	"maps"
	"math/bits"
	"slices"
	"sort"
)

// Untyped constants are evaluated exactly by the compiler.
const (
	Scale = 1e6 // an untyped float constant that is an integer
	Half  = Scale / 2
	Ratio = 3.0 / 4.0
)

var perTick int64 = Scale / 1000

var quarter = int(Ratio * 100)

type Ship struct {
	X, Y, VX, VY int32
	Heading      uint8
}

type State struct {
	Ships  []Ship
	Scores map[int]int
	Names  map[string]int
}

// Step uses integer math, slices and map lookups only.
func (s *State) Step(inputs []uint8) uint64 {
	for i := range s.Ships {
		sh := &s.Ships[i]
		sh.X += sh.VX * 3 / 2
		sh.Heading += inputs[i%len(inputs)]
		s.Scores[i] = s.Scores[i] + 1 // lookup and store, no iteration
		if _, ok := s.Names["x"]; ok {
			delete(s.Names, "x")
		}
	}
	for i, sh := range s.Ships {
		_ = i
		_ = sh
	}
	for i := range 10 {
		_ = i
	}
	for _, r := range "runes" {
		_ = r
	}
	var h uint64
	// Sorted keys are the fix for a map range.
	for _, k := range slices.Sorted(maps.Keys(s.Scores)) {
		h = h*31 + uint64(k)
	}
	keys := make([]string, 0, len(s.Names))
	sort.Strings(keys)
	copyOf := maps.Collect(maps.All(s.Scores)) // building a map does not depend on the order
	maps.Insert(copyOf, maps.All(s.Scores))
	clear(s.Names)
	return bits.RotateLeft64(h, int(perTick%64)) + uint64(quarter+len(copyOf))
}
