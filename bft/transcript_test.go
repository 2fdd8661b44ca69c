package bft

// Transcript tests: each testdata/*.txt file is a scenario written as a
// sequence of commands, each followed by "----" and the output the command
// must print, in the spirit of etcd-io/raft's interaction tests. The file
// format, the comparison and -rewrite are internal/transcript's; the
// command language and the output format are in transcript_cmds_test.go
// and transcript_net_test.go. To regenerate the expected outputs:
//
//	go test ./bft -run TestTranscript -rewrite

import (
	"testing"

	"github.com/paxsync/paxsync/internal/transcript"
)

func TestTranscript(t *testing.T) {
	transcript.Run(t, "testdata/*.txt", func(*testing.T) transcript.Runner { return &tnet{} })
}
