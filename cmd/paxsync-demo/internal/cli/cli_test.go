package cli

import (
	"errors"
	"flag"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/gamestate"
)

func TestParseDefaults(t *testing.T) {
	o, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Bots != 3 || o.Cheater != -1 || o.Cheat != "invalid-move" || o.TickHz != 30 || o.LAN || o.Verbose {
		t.Errorf("defaults: %+v", o)
	}
	if !o.Prediction || o.InputDelay != DefaultInputDelay {
		t.Errorf("defaults: prediction %v, input delay %d; want prediction on with the default input delay", o.Prediction, o.InputDelay)
	}
}

// TestParsePrediction: --prediction and --input-delay are independent.
func TestParsePrediction(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		prediction bool
		delay      int
	}{
		{nil, true, DefaultInputDelay},
		{[]string{"--prediction"}, true, DefaultInputDelay},
		{[]string{"--prediction=true"}, true, DefaultInputDelay},
		{[]string{"--prediction=false"}, false, DefaultInputDelay},
		{[]string{"--prediction=false", "--input-delay", "5"}, false, 5},
		{[]string{"--input-delay", "3"}, true, 3},
		{[]string{"--input-delay", "1"}, true, 1},
		{[]string{"--key", "k", "--roster", "r", "--prediction=false"}, false, DefaultInputDelay},
	} {
		o, err := Parse(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if o.Prediction != tc.prediction || o.InputDelay != tc.delay {
			t.Errorf("%q: prediction %v, input delay %d; want %v, %d", tc.args, o.Prediction, o.InputDelay, tc.prediction, tc.delay)
		}
	}
}

// TestDefaultInputDelay: the delay without prediction is the session's
// default, which this package keeps a copy of to stay small.
func TestDefaultInputDelay(t *testing.T) {
	if DefaultInputDelay != gamestate.DefaultInputDelay {
		t.Errorf("cli.DefaultInputDelay %d, gamestate.DefaultInputDelay %d", DefaultInputDelay, gamestate.DefaultInputDelay)
	}
}

func TestParseGood(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		check func(*Options) bool
	}{
		{[]string{"--cheater", "2", "--cheat", "forge-input", "--cheat-after", "10s"},
			func(o *Options) bool {
				return o.Cheater == 2 && o.Cheat == "forge-input" && o.CheatAfter == 10*time.Second
			}},
		{[]string{"--cheater", "0", "--cheat-after", "300"},
			func(o *Options) bool { return o.Cheater == 0 && o.CheatAfterTicks == 300 }},
		{[]string{"-v", "--ticks", "9", "--screenshot", "x.png"},
			func(o *Options) bool { return o.Verbose && o.Ticks == 9 && o.Screenshot == "x.png" }},
		{[]string{"--key", "k", "--roster", "r"}, // the first LAN player: no --peer, no --mdns
			func(o *Options) bool { return o.LAN && len(o.Peers) == 0 && !o.MDNS }},
		{[]string{"--key", "k", "--roster", "r", "--peer", "/ip4/1.2.3.4/tcp/1/p2p/X", "--peer", "/ip4/1.2.3.5/tcp/1/p2p/Y",
			"--start-at", "2026-11-23T20:00:00Z"},
			func(o *Options) bool { return o.LAN && len(o.Peers) == 2 && o.StartAt.Year() == 2026 }},
		{[]string{"--replay", "m.replay", "--replay-speed", "2"},
			func(o *Options) bool { return o.Replay == "m.replay" && o.ReplaySpeed == 2 }},
		{[]string{"--spectate", "/ip4/1.2.3.4/tcp/1/p2p/X", "--spectate", "/ip4/1.2.3.5/tcp/1/p2p/Y", "--roster", "r", "--start-at", "2026-11-23T20:00:00Z"},
			func(o *Options) bool {
				return len(o.Spectate) == 2 && o.Roster == "r" && !o.LAN && o.StartAt.Year() == 2026
			}},
		{[]string{"--spectate", "/ip4/1.2.3.4/tcp/1/p2p/X", "--roster", "r", "--spectators", "/ip4/0.0.0.0/tcp/4102"},
			func(o *Options) bool {
				return len(o.Spectate) == 1 && !o.LAN && o.Spectators == "/ip4/0.0.0.0/tcp/4102"
			}},
		{[]string{"--key", "k", "--roster", "r", "--spectators", "/ip4/0.0.0.0/tcp/4101"},
			func(o *Options) bool { return o.LAN && o.Spectators == "/ip4/0.0.0.0/tcp/4101" }},
	} {
		o, err := Parse(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !tc.check(o) {
			t.Errorf("%q: %+v", tc.args, o)
		}
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--no-such-flag"}, "not defined"},
		{[]string{"--bots", "x"}, "invalid value"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--bots", "0"}, "--bots 0"},
		{[]string{"--bots", "8"}, "--bots 8"},
		{[]string{"--cheater", "4"}, "--cheater 4"},
		{[]string{"--cheater", "-2"}, "--cheater -2"},
		{[]string{"--cheat", "teleport"}, "--cheat \"teleport\""},
		{[]string{"--cheat", "lookahead"}, "--cheat \"lookahead\""}, // needs sealed inputs
		{[]string{"--cheat-after", "soon"}, "--cheat-after"},
		{[]string{"--tick-hz", "61"}, "--tick-hz"},
		{[]string{"--input-delay", "-1"}, "--input-delay -1"},
		{[]string{"--input-delay", "31"}, "--input-delay 31"},
		{[]string{"--input-delay", "0"}, "--input-delay 0: want 1..30"},
		{[]string{"--prediction=maybe"}, "invalid boolean value"},
		{[]string{"--screenshot", "x.png"}, "--ticks"},
		{[]string{"--replay-speed", "0", "--replay", "m"}, "--replay-speed"},
		{[]string{"--replay", "m", "--record", "n"}, "--replay cannot"},
		{[]string{"--replay", "m", "--peer", "p"}, "--replay cannot"},
		{[]string{"--peer", "p"}, "--key FILE and --roster FILE"},
		{[]string{"--mdns", "--key", "k"}, "--key FILE and --roster FILE"},
		{[]string{"--key", "k", "--roster", "r", "--bots", "2"}, "--bots is for the one-machine demo"},
		{[]string{"--key", "k", "--roster", "r", "--start-at", "8pm"}, "--start-at"},
		{[]string{"--spectate", "a"}, "--spectate needs the match's --roster"},
		{[]string{"--spectate", "a", "--roster", "r", "--key", "k"}, "--key cannot be combined with --spectate"},
		{[]string{"--spectate", "a", "--roster", "r", "--record", "m"}, "--record cannot be combined with --spectate"},
		{[]string{"--spectate", "a", "--roster", "r", "--start-at", "8pm"}, "--start-at"},
		{[]string{"--spectators", "a"}, "--key FILE and --roster FILE"},
	} {
		_, err := Parse(tc.args)
		if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestParseHelp(t *testing.T) {
	for _, a := range []string{"-h", "--help", "-help"} {
		if _, err := Parse([]string{a}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: %v", a, err)
		}
	}
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPreflightHelp(t *testing.T) {
	var out, errw strings.Builder
	code, exit := Preflight([]string{"--help"}, &out, &errw, env(nil))
	if code != ExitOK || !exit {
		t.Fatalf("--help: code %d exit %v", code, exit)
	}
	if !strings.HasPrefix(out.String(), "usage: paxsync-demo") || !strings.Contains(out.String(), "-cheater") ||
		!strings.Contains(out.String(), "-prediction") || !strings.Contains(out.String(), "P toggles") {
		t.Errorf("usage on stdout:\n%s", out.String())
	}
	if errw.Len() != 0 {
		t.Errorf("stderr: %q", errw.String())
	}
}

func TestPreflightBadFlag(t *testing.T) {
	var out, errw strings.Builder
	code, exit := Preflight([]string{"--bots", "99"}, &out, &errw, env(nil))
	if code != ExitUsage || !exit {
		t.Fatalf("code %d exit %v", code, exit)
	}
	if lines := strings.Split(strings.TrimSpace(errw.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "--bots 99") {
		t.Errorf("want one line about --bots, got %q", errw.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q", out.String())
	}
}

func TestPreflightNoDisplay(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the display check is for X11 systems")
	}
	for _, e := range []map[string]string{
		nil,
		{"WAYLAND_DISPLAY": "wayland-0"},
		{"DISPLAY": ":" + unusedDisplay(t)},
	} {
		var out, errw strings.Builder
		code, exit := Preflight([]string{"--bots", "2"}, &out, &errw, env(e))
		if code != ExitError || !exit {
			t.Errorf("%v: code %d exit %v", e, code, exit)
			continue
		}
		msg := errw.String()
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "xvfb-run -a paxsync-demo --bots 2 --ticks 900 --screenshot out.png") {
			t.Errorf("%v: want one line with the xvfb-run hint, got %q", e, msg)
		}
	}
}

// unusedDisplay is an X display number with no server: no socket file
// and nothing listening on it.
func unusedDisplay(t *testing.T) string {
	for n := 700; n < 800; n++ {
		p := "/tmp/.X11-unix/X" + strconv.Itoa(n)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if c, err := net.Dial("unix", "@"+p); err == nil {
			c.Close()
			continue
		}
		return strconv.Itoa(n)
	}
	t.Skip("no unused X display number")
	return ""
}

func TestPreflightDisplayThere(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the display check is for X11 systems")
	}
	// A listening socket where an X server's would be is "a display".
	n := unusedDisplay(t)
	l, err := net.Listen("unix", "@/tmp/.X11-unix/X"+n)
	if err != nil {
		t.Skipf("abstract unix socket: %v", err)
	}
	defer l.Close()
	var out, errw strings.Builder
	if code, exit := Preflight(nil, &out, &errw, env(map[string]string{"DISPLAY": ":" + n + ".0"})); exit {
		t.Errorf("display :%s is there, but preflight exits %d: %s", n, code, errw.String())
	}
}

func TestDisplayAddr(t *testing.T) {
	for _, tc := range []struct {
		in, network, addr string
		ok                bool
	}{
		{":0", "unix", "/tmp/.X11-unix/X0", true},
		{":12.1", "unix", "/tmp/.X11-unix/X12", true},
		{"unix:3", "unix", "/tmp/.X11-unix/X3", true},
		{"localhost:10.0", "tcp", "localhost:6010", true},
		{"tcp/example.org:1", "tcp", "example.org:6001", true},
		{"[::1]:2", "tcp", "[::1]:6002", true},
		{"/private/tmp/com.apple.launchd.x/org.xquartz:0", "", "", false},
		{"host::0", "", "", false},
		{"nonsense", "", "", false},
		{":x", "", "", false},
	} {
		network, addr, ok := displayAddr(tc.in)
		if network != tc.network || addr != tc.addr || ok != tc.ok {
			t.Errorf("%q: got %q %q %v, want %q %q %v", tc.in, network, addr, ok, tc.network, tc.addr, tc.ok)
		}
	}
}

func TestHeadlessArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--ticks 900 --screenshot out.png"},
		{[]string{"--ticks", "10"}, "--ticks 10"},
		{[]string{"--record", "my match.replay"}, "--record 'my match.replay' --ticks 900 --screenshot out.png"},
		{[]string{"--record", "it's"}, `--record 'it'\''s' --ticks 900 --screenshot out.png`},
	} {
		if got := headlessArgs(tc.args); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
}
