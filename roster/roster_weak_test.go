package roster

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

// identityKeys are two byte encodings of one small-order point, the
// identity: distinct bytes, the same point, and a key for which anyone can
// forge a signature.
var identityKeys = []string{
	"0100000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000080",
}

// TestParseRefusesSmallOrderKeys: a roster file with a small-order key is
// invalid, and the error names the player, whether the key stands alone
// or twice under two encodings (which the old byte comparison let hold two
// seats, enough with one real key for a forged 3-of-4 quorum).
func TestParseRefusesSmallOrderKeys(t *testing.T) {
	ks := hexes(keys(t, 4))
	for name, players := range map[string][]string{
		"one identity key":           {ks[0], ks[1], ks[2], identityKeys[0]},
		"identity in two encodings":  {identityKeys[0], identityKeys[1], ks[2], ks[3]},
		"an order-8 point":           {ks[0], "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", ks[2], ks[3]},
		"a non-canonical identity y": {ks[0], ks[1], "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ks[3]},
	} {
		_, err := Parse([]byte(fileJSON(t, File{Match: "ladder", Players: players})))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "players[") || !strings.Contains(err.Error(), crypto.ErrWeakKey.Error()) {
			t.Errorf("%s: %v, want ErrInvalid naming the player and the weak key", name, err)
		}
	}
}

// TestNewRefusesSmallOrderKeys: New, which takes keys that did not come
// from a file, checks them as Parse does.
func TestNewRefusesSmallOrderKeys(t *testing.T) {
	ks := keys(t, 4)
	var id crypto.PublicKey
	id[0] = 1 // the identity point
	ks[3] = id
	if _, err := New("ladder", ks); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "players[3]") {
		t.Fatalf("identity key at seat 3: %v", err)
	}
}

// TestLoadRefusesOversizedFile: Load reads at most MaxFileSize+1 bytes,
// so a huge roster file costs no more memory than a valid one, and
// refuses it as invalid with an error naming the limit.
func TestLoadRefusesOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"match": "friday", "players": [`); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(128 << 20); err != nil { // sparse: no disk, 128 MiB to read
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = Load(path)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), strconv.Itoa(MaxFileSize)) {
		t.Errorf("128 MiB roster file: %v, want ErrInvalid naming the %d-byte limit", err, MaxFileSize)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Load allocated %d MiB for a 128 MiB file: it must read at most %d bytes", alloc>>20, MaxFileSize+1)
	}
	// A file of exactly MaxFileSize is read and judged on its contents.
	if err := os.Truncate(path, MaxFileSize); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file at the limit: %v, want a JSON error", err)
	}
}
