package tests

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/paxsync/paxsync"

// layers ranks the module's packages from the bottom up: a package may
// import only packages of a lower rank, or of its own group (its
// sub-packages: gamestate/arena, transport/memnet). The longest matching
// prefix decides a package's group. docs/ARCHITECTURE.md draws this graph.
var layers = []struct {
	dir  string
	rank int
}{
	{"wire", 0}, {"wal", 0}, {"internal/cli", 0}, {"internal/transcript", 0},
	{"crypto", 1},
	{"bft", 2}, {"transport", 2},
	{"gamestate", 3}, // a replay verifier reads bft's decided values (their ordered evidence)
	{"roster", 4}, {"netp2p", 4}, {"internal/lockstep", 4}, {"internal/spectator", 4},
	{"driver", 5}, {"internal/hooks", 5},
	{"internal/metrics", 6},
	{".", 7}, // the embedding API
	{"internal/adversary", 8},
	{"internal/match", 9}, {"internal/nodecmd", 9}, {"demo", 9},
	{"internal/bench", 10}, {"examples", 10},
	{"detcheck", 10}, // the determinism analyzer: a developer tool that no library package may import
	{"cmd", 11}, {"tests", 11},
}

// layerOf returns dir's group and rank (ok=false: not ranked).
func layerOf(dir string) (group string, rank int, ok bool) {
	for _, l := range layers {
		if (dir == l.dir || l.dir != "." && strings.HasPrefix(dir, l.dir+"/")) && len(l.dir) > len(group) {
			group, rank, ok = l.dir, l.rank, true
		}
	}
	return group, rank, ok
}

// TestPackageGraph enforces the directions of issue 13's architecture on
// the source (non-test files): no package imports one above it, so no two
// packages can ever import each other through a chain; the runtime and the
// lockstep core never touch libp2p; only the match runner, the demo and
// tests reach the adversary; and only crypto/ touches keys and signatures
// (netp2p converts the key into libp2p's identity, nothing more).
func TestPackageGraph(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		dir := filepath.ToSlash(filepath.Dir(rel))
		group, rank, ok := layerOf(dir)
		if !ok {
			t.Errorf("%s: package %s has no layer in tests/layering_graph_test.go: add it", rel, dir)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "crypto/ed25519" || strings.HasPrefix(p, "golang.org/x/crypto") || p == "filippo.io/edwards25519" {
				if dir != "crypto" && !(dir == "netp2p" && p == "crypto/ed25519") {
					t.Errorf("%s imports %q: only crypto/ touches keys and signatures", rel, p)
				}
			}
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			to := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
			if to == "" {
				to = "."
			}
			tg, tr, ok := layerOf(to)
			switch {
			case !ok:
				t.Errorf("%s imports %s, which has no layer", rel, to)
			case tg != group && tr >= rank:
				t.Errorf("%s (%s, layer %d) imports %s (layer %d): a package imports only layers below it", rel, group, rank, to, tr)
			}
			if to == "netp2p" && (group == "driver" || group == "internal/lockstep" || group == "internal/hooks") {
				t.Errorf("%s imports netp2p: the runtime and the core reach the network only through transport", rel)
			}
			if to == "internal/adversary" && group != "internal/match" && group != "demo" {
				t.Errorf("%s imports the adversary: only the match runner, the demo and tests may", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d source files found under %s", checked, root)
	}
}

// TestLockstepCoreIsPure: internal/lockstep is a state machine like bft —
// time comes in as a value, so it reads no clock, starts no goroutine and
// takes no lock (the runtime owns it on one goroutine).
func TestLockstepCoreIsPure(t *testing.T) {
	dir := filepath.Join("..", "internal", "lockstep")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	clockCalls := map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
		"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true}
	files := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			switch p {
			case "sync", "sync/atomic", "net", "os", "os/exec", "math/rand", "math/rand/v2", "crypto/rand":
				t.Errorf("internal/lockstep/%s imports %q: the core is a pure state machine", name, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a goroutine in the lockstep core", fset.Position(x.Pos()))
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == "time" && clockCalls[x.Sel.Name] {
					t.Errorf("%s: time.%s in the lockstep core (time comes in as a value)", fset.Position(x.Pos()), x.Sel.Name)
				}
			}
			return true
		})
	}
	if files < 5 {
		t.Fatalf("only %d files in internal/lockstep", files)
	}
}
