package roster

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

func keys(t *testing.T, n int) []crypto.PublicKey {
	var out []crypto.PublicKey
	for i := 0; i < n; i++ {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k.Public())
	}
	return out
}

func hexes(ks []crypto.PublicKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Hex())
	}
	return out
}

func fileJSON(t *testing.T, f File) string {
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoad(t *testing.T) {
	ks := keys(t, 4)
	path := filepath.Join(t.TempDir(), "match.json")
	if err := os.WriteFile(path, []byte(fileJSON(t, File{Match: "friday", Players: hexes(ks)})), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Match != "friday" || len(r.Keys) != 4 || r.ID != crypto.NewMatchID("friday", ks) || r.F() != 1 {
		t.Fatalf("got %+v", r)
	}
	if r.Seat(ks[2]) != 2 || r.Seat(keys(t, 5)[4]) != -1 {
		t.Fatal("Seat")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("missing file: %v (an I/O error, not ErrInvalid)", err)
	}
}

// TestParseRefuses: every bad roster is refused with ErrInvalid and a
// message naming what is wrong.
func TestParseRefuses(t *testing.T) {
	ks := hexes(keys(t, 5))
	dup := append(append([]string(nil), ks[:4]...), ks[1])
	bad := append(append([]string(nil), ks[:2]...), "zz"+ks[2][2:], ks[3])
	for _, c := range []struct {
		name, data, want string
	}{
		{"unknown field", `{"match": "m", "player": ["` + ks[0] + `"]}`, `unknown field "player"`},
		{"trailing data", fileJSON(t, File{Match: "m", Players: ks[:4]}) + `{}`, "data after the JSON object"},
		{"not JSON", `match: m`, "invalid character"},
		{"duplicate key", fileJSON(t, File{Match: "m", Players: dup}), "players[1] and players[4] are the same key"},
		{"bad hex", fileJSON(t, File{Match: "m", Players: bad}), "players[2]"},
		{"short key", fileJSON(t, File{Match: "m", Players: append(ks[:3:3], "abcd")}), "players[3] \"abcd\""},
		{"too few", fileJSON(t, File{Match: "m", Players: ks[:3]}), "3 players; at least 4"},
		{"none", `{"match": "m"}`, "0 players"},
		{"no name", fileJSON(t, File{Players: ks[:4]}), "match name is required"},
		{"long name", fileJSON(t, File{Match: strings.Repeat("x", 257), Players: ks[:4]}), "at most 256"},
	} {
		_, err := Parse([]byte(c.data))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrInvalid naming %q", c.name, err, c.want)
		}
	}
	if _, err := New("m", keys(t, 65)); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("65 players: %v", err)
	}
}
