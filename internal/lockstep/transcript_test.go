package lockstep

// Transcript tests: each testdata/*.txt file is a scenario for a cluster of
// cores, written as a sequence of commands, each followed by "----" and
// the output the command must print (in the spirit of etcd-io/raft's
// interaction tests and of bft's transcripts). The file format, the
// comparison and -rewrite are internal/transcript's; the command language
// is in transcript_cmds_test.go, the output format in
// transcript_print_test.go. To regenerate the expected outputs:
//
//	go test ./internal/lockstep -run TestTranscript -rewrite

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/internal/transcript"
)

func TestTranscript(t *testing.T) {
	transcript.Run(t, "testdata/*.txt", func(*testing.T) transcript.Runner { return &lnet{} })
}

// ticks parses argument k as a tick "T" or the inclusive range "T..U".
func ticks(c *transcript.Cmd, k string) (lo, hi uint64, err error) {
	v := c.Str(k, "")
	l, u, isRange := strings.Cut(v, "..")
	if !isRange {
		u = l
	}
	lo, err1 := strconv.ParseUint(l, 10, 64)
	hi, err2 := strconv.ParseUint(u, 10, 64)
	if v == "" || err1 != nil || err2 != nil || hi < lo {
		return 0, 0, fmt.Errorf("%s=%q: want a tick or a range T..U", k, v)
	}
	return lo, hi, nil
}
