package detcheck_test

import (
	"testing"

	"github.com/paxsync/paxsync/detcheck"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"
)

// TestRealGameIsClean runs the analyzer over the module's own
// deterministic code, gamestate and the demo's game gamestate/arena, the
// way a game developer runs it on theirs: both must have no finding. A
// hazard added to either fails here with the analyzer's message.
func TestRealGameIsClean(t *testing.T) {
	if testing.Short() {
		t.Skip("loads real packages with go list")
	}
	cfg := &packages.Config{Mode: packages.LoadSyntax, Dir: ".."} // deps from export data: fast
	pkgs, err := packages.Load(cfg, "github.com/paxsync/paxsync/gamestate", "github.com/paxsync/paxsync/gamestate/arena")
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("the packages do not load")
	}
	if len(pkgs) != 2 {
		t.Fatalf("loaded %d packages, want 2", len(pkgs))
	}
	g, err := checker.Analyze([]*analysis.Analyzer{detcheck.Analyzer}, pkgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, act := range g.Roots {
		if act.Err != nil {
			t.Errorf("%s: %v", act.Package.PkgPath, act.Err)
		}
		if len(act.Package.Syntax) < 5 {
			t.Errorf("%s: only %d files analyzed", act.Package.PkgPath, len(act.Package.Syntax))
		}
		for _, d := range act.Diagnostics {
			t.Errorf("%s: %s", act.Package.Fset.Position(d.Pos), d.Message)
		}
	}
}
