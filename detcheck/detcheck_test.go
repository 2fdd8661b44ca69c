package detcheck_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/detcheck"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/analysistest"
	"golang.org/x/tools/go/analysis/checker"
	"golang.org/x/tools/go/packages"
)

// TestAnalyzer runs the testdata packages in one load (loading is most of
// the time): every hazard kind is reported where its // want comment says,
// with a message that names it, and nowhere else.
//
//   - hazards: one instance of each hazard kind.
//   - clean: integer math, slices, map lookups, sorted map keys and untyped
//     float constants, none of which may be reported.
//   - durations: importing time is reported (the gamestate rule), but the
//     durations themselves are integers and are not reported again.
//   - suppress: the directive suppresses on its line, on the line below
//     when it stands alone, and in the doc comment of a function or
//     declaration; without a reason, or with nothing to suppress, it is
//     reported itself.
func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), detcheck.Analyzer, "hazards", "clean", "durations", "suppress")
}

// TestTestFiles: _test.go files are skipped by default and analyzed with
// -testfiles. (It loads with export data, not analysistest's all-source
// load, to stay fast.)
func TestTestFiles(t *testing.T) {
	cfg := &packages.Config{Mode: packages.LoadSyntax, Tests: true, Dir: analysistest.TestData(),
		Env: append(os.Environ(), "GOPATH="+analysistest.TestData(), "GO111MODULE=off", "GOWORK=off")}
	pkgs, err := packages.Load(cfg, "withtests")
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("withtests does not load")
	}
	messages := func() []string {
		g, err := checker.Analyze([]*analysis.Analyzer{detcheck.Analyzer}, pkgs, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ms []string
		for _, act := range g.Roots {
			for _, d := range act.Diagnostics {
				ms = append(ms, fmt.Sprintf("%s: %s", filepath.Base(act.Package.Fset.Position(d.Pos).Filename), d.Message))
			}
		}
		return ms
	}
	if ms := messages(); len(ms) != 0 {
		t.Errorf("without -testfiles: %q, want none", ms)
	}
	setFlag(t, "testfiles", "true")
	ms := messages()
	// The test variant holds withtests_test.go; the plain package does not.
	if len(ms) != 2 || !strings.Contains(ms[0], `withtests_test.go: import "time" is forbidden`) ||
		!strings.Contains(ms[1], "withtests_test.go: time.Now reads the wall clock") {
		t.Errorf("with -testfiles: %q, want the time import and time.Now in withtests_test.go", ms)
	}
}

func setFlag(t *testing.T, name, value string) {
	t.Helper()
	old := detcheck.Analyzer.Flags.Lookup(name).Value.String()
	if err := detcheck.Analyzer.Flags.Set(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detcheck.Analyzer.Flags.Set(name, old) })
}
