// Package detcheck is a go vet-style analyzer for lockstep game code. In
// paxsync every peer applies the same decided inputs to its own copy of the
// game and the peers compare state hashes, so one peer whose Step computes a
// different state from the same inputs is indistinguishable from a cheater.
// detcheck reports the Go constructs that make Step depend on something other
// than its inputs: floating point, map iteration order, the wall clock, global
// or OS randomness, goroutines and channels, and the imports the gamestate
// layering rule forbids. docs/DETERMINISM.md explains each hazard and how to
// run the analyzer and suppress a finding.
//
// The package is a developer tool, not simulation code, so it lives outside
// gamestate/ (whose layering rule forbids os and time, which the analysis
// framework needs) and only cmd/ and tests/ import it.
package detcheck

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports nondeterminism hazards in a game's simulation package. It
// is exported so that cmd/paxsync-detcheck can run it on its own (go run or
// go vet -vettool) and so that a game's own test or multichecker can include
// it next to other analyzers.
var Analyzer = &analysis.Analyzer{
	Name: "detcheck",
	Doc: `report nondeterminism hazards in lockstep simulation code

detcheck reports floating point, range over maps (and maps.Keys/Values/All),
wall-clock reads and timers, global and OS randomness, goroutines, channels,
select and sync, reflect map iteration, and the imports paxsync's gamestate
rule forbids (time, os, net, math/rand, math/rand/v2, crypto/rand).

A comment "//paxsync:nondeterministic-ok <reason>" on the line of a finding,
on the line above it, or in the doc comment of the enclosing function or
declaration suppresses it. The reason is required. A directive that
suppresses nothing is reported. Generated files are skipped, and so are
files ending in _test.go unless -testfiles is set.`,
	URL: "https://github.com/paxsync/paxsync/blob/main/docs/DETERMINISM.md",
	Run: run,
}

// testFiles is the -testfiles flag: analyze _test.go files too.
var testFiles bool

func init() {
	Analyzer.Flags.BoolVar(&testFiles, "testfiles", false, "also analyze _test.go files")
}

// Directive is the comment prefix that suppresses a finding. It is exported
// so that tools and tests that generate game code spell it the same way.
const Directive = "//paxsync:nondeterministic-ok"

// finding is one diagnostic before suppression is applied.
type finding struct {
	pos      token.Pos
	category string
	msg      string
}

func run(pass *analysis.Pass) (any, error) {
	for _, f := range pass.Files {
		name := pass.Fset.File(f.Pos()).Name()
		if !testFiles && strings.HasSuffix(name, "_test.go") || ast.IsGenerated(f) {
			continue // generated code (such as go test's main) is not the game's
		}
		c := &fileChecker{pass: pass}
		c.check(f)
		report(pass, f, c.found)
	}
	return nil, nil
}

// fileChecker walks one file and collects findings.
type fileChecker struct {
	pass  *analysis.Pass
	found []finding
	stack []ast.Node
	// floatRoots are the statements and declarations already reported
	// for floating point: one finding per statement or declaration.
	floatRoots map[ast.Node]bool
}

func (c *fileChecker) add(pos token.Pos, category, format string, args ...any) {
	c.found = append(c.found, finding{pos, category, fmt.Sprintf(format, args...)})
}

func (c *fileChecker) check(f *ast.File) {
	c.floatRoots = make(map[ast.Node]bool)
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		if why := forbiddenImport(path); why != "" {
			c.add(imp.Pos(), "import", "import %q is forbidden in simulation code: %s; keep this code out of the simulation package", path, why)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			c.stack = c.stack[:len(c.stack)-1]
			return true
		}
		c.visit(n)
		c.stack = append(c.stack, n)
		return true
	})
}

// parent returns the node enclosing the one being visited.
func (c *fileChecker) parent() ast.Node {
	if len(c.stack) == 0 {
		return nil
	}
	return c.stack[len(c.stack)-1]
}

func (c *fileChecker) visit(n ast.Node) {
	info := c.pass.TypesInfo
	switch x := n.(type) {
	case *ast.ImportSpec:
		return // reported above; the import's name is no use of the package
	case *ast.RangeStmt:
		c.checkRange(x)
	case *ast.GoStmt:
		c.add(x.Pos(), "concurrency", "go statement: goroutines are scheduled in a different order on every peer, so whatever they change in the state changes in a different order; run the simulation on the caller's goroutine")
	case *ast.SelectStmt:
		c.add(x.Pos(), "concurrency", "select: when several cases are ready Go picks one at random, and readiness depends on scheduling, so peers take different branches; take inputs as arguments instead of from channels")
	case *ast.SendStmt:
		c.add(x.Pos(), "concurrency", "channel send: which goroutine receives it, and when, depends on scheduling, which differs between peers; simulation code takes its inputs as arguments")
	case *ast.UnaryExpr:
		if x.Op == token.ARROW {
			c.add(x.Pos(), "concurrency", "channel receive: what arrives, and when, depends on scheduling, which differs between peers; simulation code takes its inputs as arguments")
		}
	case *ast.CallExpr:
		c.checkMapIterator(x)
	case *ast.SelectorExpr:
		c.checkSelector(x)
	}
	if e, ok := n.(ast.Expr); ok {
		if tv, ok := info.Types[e]; ok {
			c.checkFloat(e, tv)
		}
	}
}

// checkRange reports range over a map.
func (c *fileChecker) checkRange(r *ast.RangeStmt) {
	t := c.pass.TypesInfo.TypeOf(r.X)
	if t == nil {
		return
	}
	switch t.Underlying().(type) {
	case *types.Map:
		c.add(r.Pos(), "maprange", "range over map: Go randomizes map iteration order on every run, so peers visit the entries in different orders and their states diverge; sort the keys first (for _, k := range slices.Sorted(maps.Keys(m)))")
	case *types.Chan:
		c.add(r.Pos(), "concurrency", "range over channel: what arrives, and when, depends on scheduling, which differs between peers; simulation code takes its inputs as arguments")
	}
}

// checkMapIterator reports maps.Keys, maps.Values and maps.All unless their
// iterator goes straight into a function that sorts it or builds a map.
func (c *fileChecker) checkMapIterator(call *ast.CallExpr) {
	fn := calledFunc(c.pass.TypesInfo, call)
	if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != "maps" || !mapIterators[fn.Name()] {
		return
	}
	if outer, ok := c.parent().(*ast.CallExpr); ok {
		if of := calledFunc(c.pass.TypesInfo, outer); of != nil && of.Pkg() != nil && orderFree[of.Pkg().Path()+"."+of.Name()] {
			return
		}
	}
	c.add(call.Pos(), "maprange", "maps.%s yields in map iteration order, which Go randomizes on every run, so peers see the elements in different orders; use slices.Sorted(maps.%[1]s(m))", fn.Name())
}

// calledFunc returns the function or method a call invokes, if static.
func calledFunc(info *types.Info, call *ast.CallExpr) *types.Func {
	var id *ast.Ident
	switch fun := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		id = fun
	case *ast.SelectorExpr:
		id = fun.Sel
	case *ast.IndexExpr: // an explicit instantiation: maps.Keys[M]
		if sel, ok := fun.X.(*ast.SelectorExpr); ok {
			id = sel.Sel
		}
	default:
		return nil
	}
	fn, _ := info.Uses[id].(*types.Func)
	return fn
}

// checkSelector reports uses of the clock, randomness, sync and reflect's
// map iteration. Only qualified uses (time.Now) are checked: a dot import
// of these packages is already reported as a forbidden import, except for
// sync and reflect.
func (c *fileChecker) checkSelector(sel *ast.SelectorExpr) {
	obj := c.pass.TypesInfo.Uses[sel.Sel]
	if obj == nil || obj.Pkg() == nil {
		return
	}
	path, name := obj.Pkg().Path(), obj.Name()
	fn, isFunc := obj.(*types.Func)
	method := isFunc && fn.Signature().Recv() != nil
	if method {
		if path == "reflect" && reflectMapIteration[name] {
			c.add(sel.Sel.Pos(), "maprange", "reflect.Value.%s walks the map in Go's randomized iteration order, so peers see the entries in different orders; sort the keys", name)
		}
		return
	}
	// A package-level object, used qualified (time.Now).
	switch {
	case path == "time" && isFunc && clockReads[name]:
		c.add(sel.Pos(), "clock", "time.%s reads the wall clock: every peer reads a different time, so states computed from it diverge; derive time from the tick number (tick × tick length)", name)
	case path == "time" && isFunc && timers[name]:
		c.add(sel.Pos(), "clock", "time.%s waits on the wall clock and the scheduler, which differ on every peer; the simulation advances by ticks, not timers", name)
	case path == "crypto/rand":
		c.add(sel.Pos(), "random", "crypto/rand.%s returns fresh OS randomness, different on every peer by design; draw from a generator seeded with a value all peers agree on (e.g. the match id)", name)
	case (path == "math/rand" || path == "math/rand/v2") && isFunc && !seededConstructors[name]:
		c.add(sel.Pos(), "random", "%s.%s uses the package's global source, which Go seeds randomly at start-up, so every peer draws different numbers; use rand.New with a source seeded by a value all peers agree on (e.g. the match id)", path, name)
	case isSyncPkg(path):
		c.add(sel.Pos(), "concurrency", "%s.%s: synchronization means the state is shared between goroutines, whose scheduling differs between peers; keep the simulation on one goroutine", path, name)
	}
}

// isFloat reports whether t is a typed floating-point or complex type
// (float32, float64, complex64, complex128 or a type defined on them).
func isFloat(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&(types.IsFloat|types.IsComplex) != 0 && b.Info()&types.IsUntyped == 0
}

// checkFloat reports the first float-typed expression of each statement or
// declaration. Untyped constants (1.5, 1e9 in const N = 1e9) are evaluated
// exactly by the compiler and are not reported.
func (c *fileChecker) checkFloat(e ast.Expr, tv types.TypeAndValue) {
	if tv.Type == nil || !isFloat(tv.Type) {
		return
	}
	root := c.floatRoot()
	if root != nil {
		if c.floatRoots[root] {
			return
		}
		c.floatRoots[root] = true
	}
	t := types.TypeString(tv.Type, types.RelativeTo(c.pass.Pkg))
	if u := tv.Type.Underlying().String(); u != t {
		t += " (" + u + ")"
	}
	var what string
	switch x := ast.Unparen(e).(type) {
	case *ast.BasicLit:
		what = "a " + t + " literal"
	case *ast.BinaryExpr:
		what = t + " arithmetic"
	case *ast.CallExpr:
		if ftv, ok := c.pass.TypesInfo.Types[x.Fun]; ok && ftv.IsType() {
			what = "a conversion to " + t
		}
	}
	switch {
	case tv.IsType():
		what = "the type " + t
	case what != "":
	case tv.Value != nil:
		what = "a " + t + " constant"
	default:
		what = "a " + t + " value"
	}
	c.add(e.Pos(), "float", "floating point (%s): float results can differ between peers' machines (FMA fusion on arm64, assembly math routines, out-of-range float-to-int conversions), so states diverge; use integer or fixed-point arithmetic", what)
}

// floatRoot returns the innermost statement or declaration enclosing the
// node being visited: each gets at most one floating-point finding.
func (c *fileChecker) floatRoot() ast.Node {
	for i := len(c.stack) - 1; i >= 0; i-- {
		switch n := c.stack[i].(type) {
		case *ast.BlockStmt:
		case ast.Stmt, ast.Spec, *ast.FuncType, *ast.FuncDecl:
			return n
		case *ast.Field:
			if i > 1 {
				if _, ok := c.stack[i-2].(*ast.StructType); ok {
					return n // each struct field is its own declaration
				}
			}
		}
	}
	return nil
}

// directive is one //paxsync:nondeterministic-ok comment. It covers its
// own line and, if it stands alone on its line, the next one; in the doc
// comment of a function or a declaration it also covers all of that
// function or declaration.
type directive struct {
	pos      token.Pos
	line     int
	alone    bool      // nothing but space before it on its line
	from, to token.Pos // the function or declaration it documents, if any
	reason   string
	used     bool
}

// directives collects the file's suppression comments.
func directives(pass *analysis.Pass, f *ast.File) []*directive {
	var ds []*directive
	tf := pass.Fset.File(f.Pos())
	src, _ := pass.ReadFile(tf.Name())
	// alone reports whether only space precedes pos on its line (true if
	// the source cannot be read: the line above is covered then too).
	alone := func(pos token.Pos) bool {
		off := tf.Offset(pos)
		if src == nil || off > len(src) {
			return true
		}
		start := tf.Offset(tf.LineStart(tf.Line(pos)))
		return strings.TrimSpace(string(src[start:off])) == ""
	}
	docs := make(map[*ast.CommentGroup]ast.Node)
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Doc != nil {
				docs[d.Doc] = d
			}
		case *ast.GenDecl:
			if d.Doc != nil {
				docs[d.Doc] = d
			}
		}
	}
	for _, g := range f.Comments {
		for _, cm := range g.List {
			rest, ok := strings.CutPrefix(cm.Text, Directive)
			if !ok || rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				continue
			}
			// The reason ends at a further comment marker, if any.
			reason, _, _ := strings.Cut(rest, "//")
			d := &directive{pos: cm.Pos(), line: tf.Line(cm.Pos()), alone: alone(cm.Pos()), reason: strings.TrimSpace(reason)}
			if decl, ok := docs[g]; ok {
				d.from, d.to = decl.Pos(), decl.End()
			}
			ds = append(ds, d)
		}
	}
	return ds
}

// report applies the file's directives to its findings and reports what is
// left, plus directives that lack a reason or suppress nothing.
func report(pass *analysis.Pass, f *ast.File, found []finding) {
	ds := directives(pass, f)
	sort.SliceStable(found, func(i, j int) bool { return found[i].pos < found[j].pos })
	for _, fd := range found {
		line := pass.Fset.Position(fd.pos).Line
		suppressed := false
		for _, d := range ds {
			if d.reason == "" {
				continue
			}
			if d.line == line || d.alone && d.line == line-1 || d.from <= fd.pos && fd.pos < d.to {
				d.used, suppressed = true, true
			}
		}
		if !suppressed {
			pass.Report(analysis.Diagnostic{Pos: fd.pos, Category: fd.category, Message: fd.msg})
		}
	}
	for _, d := range ds {
		switch {
		case d.reason == "":
			pass.Report(analysis.Diagnostic{Pos: d.pos, Category: "directive",
				Message: Directive[2:] + " needs a reason: say why this code is off the simulation path"})
		case !d.used:
			pass.Report(analysis.Diagnostic{Pos: d.pos, Category: "directive",
				Message: Directive[2:] + " suppresses nothing here: remove it, so it cannot hide a hazard added later"})
		}
	}
}
