package tests

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayering enforces the architecture rules on the source (non-test
// files): bft/ is a pure state machine, gamestate/ is deterministic, only
// netp2p/ talks libp2p and only the demo talks Ebiten. A violation names
// the file and the import so the fix is obvious.
func TestLayering(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		why       string
		forbidden func(path string) bool
	}
	pure := rule{"a pure state machine: no clocks, sockets, processes or randomness", func(p string) bool {
		return p == "time" || p == "net" || strings.HasPrefix(p, "net/") || p == "os" || p == "os/exec" ||
			p == "math/rand" || p == "math/rand/v2" || p == "crypto/rand" || p == "sync"
	}}
	deterministic := rule{"deterministic: no clocks, I/O or unseeded randomness", func(p string) bool {
		return p == "time" || p == "os" || p == "net" || p == "math/rand" || p == "math/rand/v2" || p == "crypto/rand"
	}}
	libp2p := func(p string) bool { return strings.HasPrefix(p, "github.com/libp2p/") }
	ebiten := func(p string) bool { return strings.HasPrefix(p, "github.com/hajimehoshi/ebiten") }
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			check := func(r rule, where string) {
				if r.forbidden(p) {
					t.Errorf("%s imports %q, but %s must be %s", rel, p, where, r.why)
				}
			}
			switch {
			case dir == "bft" || strings.HasPrefix(dir, "bft/"):
				check(pure, "bft/")
			case dir == "gamestate" || strings.HasPrefix(dir, "gamestate/"):
				check(deterministic, "gamestate/")
			}
			if libp2p(p) && !strings.HasPrefix(dir, "netp2p") {
				t.Errorf("%s imports %q: only netp2p/ may use libp2p", rel, p)
			}
			if ebiten(p) && !strings.HasPrefix(dir, "demo") && dir != "cmd/paxsync-demo" {
				t.Errorf("%s imports %q: only demo/ and cmd/paxsync-demo may use Ebiten", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d source files found under %s: is the test running from tests/?", checked, root)
	}
}
