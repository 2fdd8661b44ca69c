package lockstep

// Transcript tests: each testdata/*.txt file is a scenario for a cluster of
// cores, written as a sequence of commands, each followed by "----" and
// the output the command must print (in the spirit of etcd-io/raft's
// interaction tests and of bft's transcripts). The command language is in
// transcript_cmds_test.go, the output format in transcript_print_test.go;
// this file parses the files, runs them, compares and (with -rewrite)
// regenerates the expected outputs:
//
//	go test ./internal/lockstep -run TestTranscript -rewrite
//
// File format: blank lines and lines starting with '#' between commands
// are comments. A command is one line "name key=value flag ...", the next
// line is "----", and the expected output runs up to the next blank line
// (or the end of the file). Output never contains a blank line.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var flagRewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of internal/lockstep/testdata/*.txt transcripts")

// tcmd is one command of a transcript and where its expected output is.
type tcmd struct {
	line     int // 1-based line of the command
	text     string
	from, to int // 0-based line range [from, to) of the expected output
	want     []string
}

func TestTranscript(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runTranscript(t, f) })
	}
}

func runTranscript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	cmds, err := parseTranscript(path, lines)
	if err != nil {
		t.Fatal(err)
	}
	h := &lnet{}
	got := make([][]string, len(cmds))
	for i, c := range cmds {
		out, err := h.run(c.text)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, c.line, c.text, err)
		}
		got[i] = out
		if !*flagRewrite && !slices.Equal(c.want, out) {
			t.Errorf("%s:%d: %s: output differs (-expected +actual):\n%s", path, c.line, c.text, diffLines(c.want, out))
		}
	}
	if !*flagRewrite {
		return
	}
	var b strings.Builder
	next := 0
	for i, c := range cmds {
		for _, l := range lines[next:c.from] {
			b.WriteString(l + "\n")
		}
		for _, l := range got[i] {
			b.WriteString(l + "\n")
		}
		next = c.to
	}
	for _, l := range lines[next:] {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parseTranscript(path string, lines []string) ([]tcmd, error) {
	var cmds []tcmd
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if l == "----" {
			return nil, fmt.Errorf("%s:%d: ---- without a command", path, i+1)
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "----" {
			return nil, fmt.Errorf("%s:%d: command %q is not followed by ----", path, i+1, l)
		}
		c := tcmd{line: i + 1, text: l, from: i + 2}
		j := i + 2
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" {
			c.want = append(c.want, lines[j])
			j++
		}
		c.to = j
		cmds = append(cmds, c)
		i = j
	}
	return cmds, nil
}

// diffLines is a small longest-common-subsequence diff: kept lines start
// with two spaces, expected-only lines with "- ", actual-only with "+ ".
func diffLines(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			b.WriteString("  " + want[i] + "\n")
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			b.WriteString("- " + want[i] + "\n")
			i++
		default:
			b.WriteString("+ " + got[j] + "\n")
			j++
		}
	}
	return b.String()
}

// targs are one command's arguments: key=value pairs and bare flags.
// Every argument must be read, so a typo in a transcript is an error
// rather than a silently ignored option.
type targs struct {
	kv   map[string]string
	used map[string]bool
	keys []string
}

func parseArgs(fields []string) (*targs, error) {
	a := &targs{kv: map[string]string{}, used: map[string]bool{}}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		if _, dup := a.kv[k]; dup || k == "" {
			return nil, fmt.Errorf("bad or repeated argument %q", f)
		}
		a.kv[k] = v
		a.keys = append(a.keys, k)
	}
	return a, nil
}

func (a *targs) has(k string) bool { a.used[k] = true; _, ok := a.kv[k]; return ok }

func (a *targs) str(k, def string) string {
	a.used[k] = true
	if v, ok := a.kv[k]; ok {
		return v
	}
	return def
}

func (a *targs) int(k string, def int) (int, error) {
	v := a.str(k, "")
	if v == "" {
		return def, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return 0, fmt.Errorf("%s=%s: not a count", k, v)
	}
	return i, nil
}

// seats parses a comma-separated seat list (def when k is absent).
func (a *targs) seats(k string, n int, def []int) ([]int, error) {
	v := a.str(k, "")
	if v == "" {
		return def, nil
	}
	var out []int
	for _, s := range strings.Split(v, ",") {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= n {
			return nil, fmt.Errorf("%s=%s: not a seat of %d", k, v, n)
		}
		out = append(out, i)
	}
	return out, nil
}

// ticks parses "T" or the inclusive range "T..U".
func (a *targs) ticks(k string) (lo, hi uint64, err error) {
	v := a.str(k, "")
	l, u, isRange := strings.Cut(v, "..")
	if !isRange {
		u = l
	}
	lo, err1 := strconv.ParseUint(l, 10, 64)
	hi, err2 := strconv.ParseUint(u, 10, 64)
	if v == "" || err1 != nil || err2 != nil || hi < lo {
		return 0, 0, fmt.Errorf("%s=%q: want a tick or a range T..U", k, v)
	}
	return lo, hi, nil
}

func (a *targs) unused() error {
	for _, k := range a.keys {
		if !a.used[k] {
			return fmt.Errorf("unknown argument %q", k)
		}
	}
	return nil
}
