package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/roster"
)

// cmdline runs the command line in-process and returns its exit status
// and output.
func cmdline(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpExitsZero: -h and --help print the flags and exit 0 for every
// command, as `paxsync keygen -h` always did.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"help"},
		{"keygen", "-h"}, {"node", "-h"}, {"node", "--help"}, {"match", "-h"}, {"match", "play", "-h"},
		{"bench", "-h"}, {"bench", "--help"}, {"result", "-h"}, {"result", "verify", "-h"}, {"replay", "-h"}, {"replay", "--help"}, {"replay", "verify", "-h"},
	} {
		code, _, stderr := cmdline(args...)
		if code != 0 || !strings.Contains(stderr, "usage: paxsync") && !strings.Contains(stderr, "Usage of") {
			t.Errorf("paxsync %s: exit %d, stderr %q; want 0 and the usage", strings.Join(args, " "), code, stderr)
		}
	}
}

var doubledRe = regexp.MustCompile(`usage: usage:|paxsync \w+: paxsync \w+:`)

// TestNoDoubledPrefixes: an error is printed once after "paxsync CMD: ",
// without a second "paxsync node: " or "usage: usage: ".
func TestNoDoubledPrefixes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"node"}, "paxsync node: --key, --roster and --wal are required"},
		{[]string{"node", "--key", "k", "--roster", "r", "--wal", "w", "--fsync", "sometimes"}, "paxsync node: --fsync: "},
		{[]string{"node", "--tick", "20"}, "paxsync node: invalid value \"20\" for flag -tick: missing unit: use a unit, e.g. 20s"},
		{[]string{"node", "extra"}, "paxsync node: unexpected argument \"extra\""},
		{[]string{"replay"}, "paxsync replay: usage: paxsync replay verify"},
		{[]string{"replay", "verify"}, "paxsync replay: want exactly one FILE, got 0"},
		{[]string{"replay", "verify", "a", "b"}, "paxsync replay: want exactly one FILE, got 2"},
		{[]string{"match"}, "paxsync match: --scenario FILE is required"},
		{[]string{"keygen"}, "paxsync keygen: -o FILE is required"},
	} {
		code, _, stderr := cmdline(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("paxsync %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
		if m := doubledRe.FindString(stderr); m != "" {
			t.Errorf("paxsync %s: doubled prefix %q in %q", strings.Join(c.args, " "), m, stderr)
		}
	}
}

// TestKeygenPrintsPeerID: keygen prints the public key for the roster and
// the libp2p peer ID for --peer .../p2p/ID, both of the key it wrote.
func TestKeygenPrintsPeerID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alice.key")
	code, stdout, stderr := cmdline("keygen", "-o", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	k, err := crypto.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := netp2p.PeerIDOf(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"public key: " + k.Public().Hex() + "\n", "peer ID:    " + id + "\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout %q lacks %q", stdout, want)
		}
	}
}

// TestKeygenRefusesMissingDirectory: a mistyped directory is an error,
// not a silently created tree holding a secret key.
func TestKeygenRefusesMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "dir")
	code, _, stderr := cmdline("keygen", "-o", filepath.Join(missing, "k"))
	if code != 2 || !strings.Contains(stderr, "directory "+missing+" does not exist") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("keygen created %s/missing (%v)", dir, err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cmdline("keygen", "-o", filepath.Join(file, "k")); code != 2 || !strings.Contains(stderr, "is not a directory") {
		t.Fatalf("parent is a file: exit %d, stderr %q", code, stderr)
	}
}

// writeKeys makes n key files in dir and returns them with their keys.
func writeKeys(t *testing.T, dir string, n int) ([]string, []crypto.PublicKey) {
	var files []string
	var keys []crypto.PublicKey
	for i := 0; i < n; i++ {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "p"+string(rune('0'+i))+".key")
		if err := crypto.WriteKeyFile(f, k, false); err != nil {
			t.Fatal(err)
		}
		files, keys = append(files, f), append(keys, k.Public())
	}
	return files, keys
}

// TestNodeRefusesBadRosters: `paxsync node` used to accept a roster with a
// repeated key and wait forever; every bad roster is now refused at once
// (exit 2) by the shared strict loader, naming the problem.
func TestNodeRefusesBadRosters(t *testing.T) {
	dir := t.TempDir()
	files, keys := writeKeys(t, dir, 5)
	hexes := func(ks ...crypto.PublicKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Hex())
		}
		return out
	}
	marshal := func(f roster.File) string { return marshalAny(f) }
	for _, c := range []struct {
		name, data, want string
	}{
		{"duplicate key", marshal(roster.File{Match: "m", Players: hexes(keys[0], keys[1], keys[2], keys[1])}),
			"players[1] and players[3] are the same key"},
		{"unknown field", marshalAny(map[string]any{"match": "m", "players": hexes(keys[:4]...), "seed": 3}), `unknown field "seed"`},
		{"bad hex", marshal(roster.File{Match: "m", Players: append(hexes(keys[:3]...), "xyz")}), `players[3] "xyz"`},
		{"too few", marshal(roster.File{Match: "m", Players: hexes(keys[:3]...)}), "3 players; at least 4 are needed"},
		{"not a member", marshal(roster.File{Match: "m", Players: hexes(keys[1:5]...)}), "is not in the roster"},
	} {
		path := filepath.Join(dir, "roster.json")
		if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := cmdline("node", "--key", files[0], "--roster", path, "--wal", filepath.Join(dir, "wal"))
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming %q", c.name, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "wal")); !os.IsNotExist(err) {
		t.Errorf("a refused roster still created the WAL directory (%v)", err)
	}
}

// TestHelpTexts: what the issue asked to be said is said.
func TestHelpTexts(t *testing.T) {
	_, _, stderr := cmdline("match", "-h")
	if !strings.Contains(stderr, `"ticks" N`) {
		t.Errorf("match -h does not say what ticks means:\n%s", stderr)
	}
	_, _, stderr = cmdline("node", "-h")
	if !strings.Contains(stderr, "/p2p/<peer ID>") || !strings.Contains(stderr, "exactly\n") {
		t.Errorf("node -h:\n%s", stderr)
	}
}

func marshalAny(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
