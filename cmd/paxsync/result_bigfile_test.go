package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
)

// TestResultVerifyRefusesOversizedFile: `result verify` reads at most one
// byte more than the largest certificate the decoder accepts
// (gamestate.MaxResultCertificateSize), so a 128 MiB file (or /dev/zero)
// costs no more memory than a valid certificate, and is refused as not
// verifying with an error naming the limit.
func TestResultVerifyRefusesOversizedFile(t *testing.T) {
	_, rosterPath, _, _ := resultFixture(t)
	big := filepath.Join(t.TempDir(), "big.cert")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("paxsync-result\x00\x01"); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(128 << 20); err != nil { // sparse: no disk, 128 MiB to read
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = runResult([]string{"verify", "--roster", rosterPath, big}, io.Discard, io.Discard)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, gamestate.ErrResultInvalid) || !strings.Contains(err.Error(), strconv.Itoa(gamestate.MaxResultCertificateSize)) {
		t.Errorf("128 MiB certificate file: %v, want ErrResultInvalid naming the %d-byte limit", err, gamestate.MaxResultCertificateSize)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("verify allocated %d MiB for a 128 MiB file: it must read at most %d bytes", alloc>>20, gamestate.MaxResultCertificateSize+1)
	}
}
