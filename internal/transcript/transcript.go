// Package transcript runs data-driven "transcript" tests, in the spirit of
// etcd-io/raft's interaction tests: each testdata file is a scenario
// written as a sequence of commands, each followed by "----" and the
// output the command must print. bft and internal/lockstep both test this
// way; the file format, the comparison, the diff, the -rewrite flag and
// the argument parsing live here so the two cannot drift apart, and each
// package keeps only its own command language (a Runner).
//
// File format: blank lines and lines starting with '#' between commands
// are comments. A command is one line "name key=value flag ...", the next
// line is "----", and the expected output runs up to the next blank line
// (or the end of the file). Output therefore never contains a blank line.
//
// To regenerate the expected outputs from what the commands now print:
//
//	go test ./bft -run TestTranscript -rewrite
//
// This package imports only the standard library, so any package's tests
// can use it without an import cycle.
package transcript

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rewrite is the one -rewrite flag of every test binary that uses this
// package: defining it here (rather than once per package) keeps a single
// spelling and meaning, and two definitions in one binary would panic.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of the testdata transcripts from what the commands print")

// Runner is a package's command language: the harness of one transcript
// file, fed its commands in order. Run executes one command and returns
// the lines it printed (none stands for "ok"); an error ends the file's
// test, since the scenario cannot go on meaningfully.
type Runner interface {
	Run(c *Cmd) ([]string, error)
}

// Run runs every transcript file matching glob (e.g. "testdata/*.txt") as
// a subtest named after the file, each with a fresh Runner from
// newRunner, and reports every command whose output differs from the
// expected one with the file, the line and a Diff. With -rewrite it
// instead replaces the expected outputs by the actual ones, leaving
// commands and comments as they are.
func Run(t *testing.T, glob string, newRunner func(t *testing.T) Runner) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts match %s: %v", glob, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		t.Run(name, func(t *testing.T) { runFile(t, f, newRunner(t)) })
	}
}

// step is one command of a transcript and where its expected output is,
// so that -rewrite can replace exactly those lines.
type step struct {
	line     int // 1-based line of the command
	text     string
	from, to int // 0-based line range [from, to) of the expected output
	want     []string
}

func runFile(t *testing.T, path string, r Runner) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	steps, err := parse(path, lines)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]string, len(steps))
	for i, s := range steps {
		out, err := runStep(r, s.text)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, s.line, s.text, err)
		}
		got[i] = out
		if !*rewrite && !slices.Equal(s.want, out) {
			t.Errorf("%s:%d: %s: output differs (-expected +actual):\n%s", path, s.line, s.text, Diff(s.want, out))
		}
	}
	if !*rewrite {
		return
	}
	var b strings.Builder
	next := 0
	for i, s := range steps {
		for _, l := range lines[next:s.from] {
			b.WriteString(l + "\n")
		}
		for _, l := range got[i] {
			b.WriteString(l + "\n")
		}
		next = s.to
	}
	for _, l := range lines[next:] {
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runStep parses and runs one command, then insists that it read every
// argument, so a typo in a transcript is an error rather than a silently
// ignored option.
func runStep(r Runner, text string) ([]string, error) {
	c, err := ParseCmd(text)
	if err != nil {
		return nil, err
	}
	out, err := r.Run(c)
	if err != nil {
		return nil, err
	}
	if err := c.unused(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		out = []string{"ok"}
	}
	return out, nil
}

func parse(path string, lines []string) ([]step, error) {
	var steps []step
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
		s := step{line: i + 1, text: l, from: i + 2}
		j := i + 2
		for j < len(lines) && strings.TrimSpace(lines[j]) != "" {
			s.want = append(s.want, lines[j])
			j++
		}
		s.to = j
		steps = append(steps, s)
		i = j
	}
	return steps, nil
}

// Diff is a small longest-common-subsequence line diff, so a failing
// transcript shows which lines changed rather than two walls of text:
// kept lines start with two spaces, expected-only lines with "- ",
// actual-only lines with "+ ".
func Diff(want, got []string) string {
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
