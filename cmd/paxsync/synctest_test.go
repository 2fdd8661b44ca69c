package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
)

// TestSynctestArena: the arena passes, with the one-line summary on
// stdout and exit 0; the run is the same for the same seed.
func TestSynctestArena(t *testing.T) {
	code, stdout, stderr := cmdline("synctest", "--ticks", "300", "--rollback", "3")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	re := regexp.MustCompile(`^synctest ok: 300 ticks, 298 rollbacks of 3 \(894 ticks re-simulated\), \d+ hashes checked, \d+ inputs dropped; final hash [0-9a-f]{64}\n$`)
	if !re.MatchString(stdout) {
		t.Fatalf("stdout %q", stdout)
	}
	if _, again, _ := cmdline("synctest", "--ticks", "300", "--rollback", "3"); again != stdout {
		t.Errorf("second run %q differs from %q", again, stdout)
	}
	if _, other, _ := cmdline("synctest", "--ticks", "300", "--rollback", "3", "--seed", "2"); other[len(other)-65:] == stdout[len(stdout)-65:] {
		t.Errorf("--seed 2 gives the same final hash as seed 1")
	}
}

// TestSynctestBadFlags: bad flags exit 2 naming the problem.
func TestSynctestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rollback", "0"}, "--rollback 0: must be 1..1024"},
		{[]string{"--rollback", "5000"}, "--rollback 5000: must be"},
		{[]string{"--ticks", "0"}, "--ticks must be at least 1"},
		{[]string{"--ticks", "x"}, `invalid value "x" for flag -ticks`},
		{[]string{"--seats", "9"}, "--seats 9: must be 2..8"},
		{[]string{"--nope"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, _, stderr := cmdline(append([]string{"synctest"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, "paxsync synctest: ") || !strings.Contains(stderr, c.want) {
			t.Errorf("synctest %s: exit %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
	if code, _, stderr := cmdline("synctest", "-h"); code != 0 || !strings.Contains(stderr, "usage: paxsync synctest") {
		t.Errorf("-h: exit %d, %q", code, stderr)
	}
}

// lazyRestore is an arena whose Restore does nothing on its third call:
// a planted bug for the command to find.
type lazyRestore struct {
	*arena.Arena
	calls int
}

func (l *lazyRestore) Restore(b []byte) error {
	if l.calls++; l.calls == 3 {
		return nil
	}
	return l.Arena.Restore(b)
}

// TestSynctestDesyncExitsOne: a desync is printed (tick, hashes, the
// sections that differ) and exits 1.
func TestSynctestDesyncExitsOne(t *testing.T) {
	defer func(w func(*arena.Arena) gamestate.Game) { synctestWrap = w }(synctestWrap)
	synctestWrap = func(a *arena.Arena) gamestate.Game { return &lazyRestore{Arena: a} }
	code, stdout, stderr := cmdline("synctest", "--ticks", "100")
	if code != 1 || !strings.Contains(stderr, "paxsync synctest: the arena is not deterministic") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"desync: restored state differs at tick 1 (rollback after tick 3)",
		"\n  want ", "\n  got  ", "\n  section tick differs at byte 9: want 02 got 04",
		"so far: 4 ticks simulated, 3 rollbacks, 11 hashes agreed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	t.Logf("\n%s", stdout)
}
