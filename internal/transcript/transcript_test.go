package transcript

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	got := Diff([]string{"a", "b", "c"}, []string{"a", "x", "c", "d"})
	want := "  a\n- b\n+ x\n  c\n+ d\n"
	if got != want {
		t.Fatalf("Diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestCmdArgs(t *testing.T) {
	if _, err := ParseCmd("tick n=1 n=2"); err == nil {
		t.Fatal("repeated argument accepted")
	}
	c, err := ParseCmd("tick node=0,2 count=3 drop typo=1")
	if err != nil {
		t.Fatal(err)
	}
	ns, err1 := c.Seats("node", 3, nil)
	k, err2 := c.Int("count", 1)
	if c.Name != "tick" || err1 != nil || err2 != nil || len(ns) != 2 || ns[1] != 2 || k != 3 || !c.Has("drop") || c.Has("other") {
		t.Fatalf("%+v: seats %v %v, count %d %v", c, ns, err1, k, err2)
	}
	if err := c.unused(); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Fatalf("unused: %v", err)
	}
	if _, err := c.Seats("typo", 1, nil); err == nil {
		t.Fatal("seat 1 of 1 accepted")
	}
	if _, err := (&Cmd{kv: map[string]string{"n": "-1"}, used: map[string]bool{}}).Int("n", 0); err == nil {
		t.Fatal("negative count accepted")
	}
}

func TestParse(t *testing.T) {
	lines := strings.Split("# comment\n\ncmd a=1\n----\nout 1\nout 2\n\nnext\n----\nok", "\n")
	steps, err := parse("f.txt", lines)
	if err != nil || len(steps) != 2 || steps[0].line != 3 || len(steps[0].want) != 2 || steps[1].from != 9 || steps[1].to != 10 {
		t.Fatalf("%+v %v", steps, err)
	}
	if _, err := parse("f.txt", []string{"cmd", "out"}); err == nil || !strings.HasPrefix(err.Error(), "f.txt:1:") {
		t.Fatalf("missing ----: %v", err)
	}
}
