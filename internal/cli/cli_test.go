package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestDurationFlag(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want string // error substring; "" = ok
		val  time.Duration
	}{
		{"10s", "", 10 * time.Second},
		{"1m30s", "", 90 * time.Second},
		{"10", "missing unit: use a unit, e.g. 10s", 0},
		{"2.5", "e.g. 2.5s", 0},
		{"ten", "not a duration", 0},
		{"", "not a duration", 0},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := Duration(fs, "duration", time.Second, "")
		err := fs.Parse([]string{"--duration", c.arg})
		switch {
		case c.want == "" && (err != nil || *d != c.val):
			t.Errorf("%q: %v, %v", c.arg, *d, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-duration")):
			t.Errorf("%q: error %v, want one naming -duration and %q", c.arg, err, c.want)
		}
	}
}

func TestUsageError(t *testing.T) {
	cause := errors.New("cause")
	err := Usagef("--x: %w", cause)
	if err.Error() != "--x: cause" || !IsUsage(err) || !errors.Is(err, cause) {
		t.Fatalf("%v", err)
	}
	if IsUsage(errors.New("disk full")) {
		t.Fatal("a plain error is not a usage error")
	}
}
