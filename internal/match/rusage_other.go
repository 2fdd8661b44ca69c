//go:build !unix

package match

import "time"

// processCPU cannot be measured here: bench reports mark CPU unknown.
func processCPU() (time.Duration, bool) { return 0, false }
