package detcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"testing"
)

// TestForbiddenImportsMatchLayeringRule: the imports detcheck forbids in a
// game are exactly those tests/layering_test.go forbids in gamestate/ (its
// "deterministic" rule), so a game is held to the rule the code that
// replays it obeys. It reads the rule from that test's source; when the
// rule changes, this fails until gamestateForbidden follows.
func TestForbiddenImportsMatchLayeringRule(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../tests/layering_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rule []string
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
			return true
		}
		if id, ok := as.Lhs[0].(*ast.Ident); !ok || id.Name != "deterministic" {
			return true
		}
		found = true
		ast.Inspect(as.Rhs[0], func(n ast.Node) bool {
			if b, ok := n.(*ast.BinaryExpr); ok && b.Op == token.EQL {
				if lit, ok := b.Y.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					rule = append(rule, s)
				}
			}
			return true
		})
		return false
	})
	if !found || len(rule) == 0 {
		t.Fatal(`no "deterministic" rule with p == "..." comparisons in tests/layering_test.go`)
	}
	slices.Sort(rule)
	if got := slices.Sorted(maps.Keys(gamestateForbidden)); !slices.Equal(got, rule) {
		t.Errorf("detcheck forbids %q, the gamestate layering rule forbids %q", got, rule)
	}
	for p := range extraForbidden {
		if gamestateForbidden[p] != "" {
			t.Errorf("%s is in both lists", p)
		}
	}
}
