// Package durations uses time.Duration values only. The import is the one
// finding: gamestate's rule forbids importing time at all, and durations
// themselves are integers, so they are not reported again.
package durations

import "time" // want `import "time" is forbidden`

const TickLength = 50 * time.Millisecond

var ticksPerSecond = int64(time.Second / TickLength)

func At(tick int64) time.Duration { return time.Duration(tick) * TickLength }
