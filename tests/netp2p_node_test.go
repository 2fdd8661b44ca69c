package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/nodecmd"
	"github.com/paxsync/paxsync/netp2p"
)

// nodeEnv marks a re-executed test binary that must run `paxsync node`
// with its arguments after "--" instead of the tests. init (not TestMain)
// so that other tests in this package stay free to define TestMain.
const nodeEnv = "PAXSYNC_TEST_RUN_NODE"

func init() {
	if os.Getenv(nodeEnv) != "1" {
		return
	}
	args := os.Args[1:]
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := nodecmd.Run(ctx, args, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paxsync node:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

var (
	binMu  sync.Mutex
	binFor = map[*testing.T]string{}
)

// paxsyncBinary builds cmd/paxsync into the test's temporary directory
// (once per test; the go build cache makes repeats cheap), or returns ""
// when cmd/paxsync has no main yet.
func paxsyncBinary(t *testing.T) string {
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binFor[t]; ok {
		return p
	}
	p := ""
	if _, err := os.Stat("../cmd/paxsync/main.go"); err == nil {
		p = filepath.Join(t.TempDir(), "paxsync")
		out, err := exec.Command("go", "build", "-o", p, "../cmd/paxsync").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		t.Logf("running nodes with the paxsync binary built at %s", p)
	} else {
		t.Logf("cmd/paxsync has no main.go: running nodes as re-executed test binaries")
	}
	binFor[t] = p
	t.Cleanup(func() { binMu.Lock(); delete(binFor, t); binMu.Unlock() })
	return p
}

// nodeCmd returns a command running `paxsync node args...` as its own OS
// process: the paxsync binary built with `go build` when cmd/paxsync has a
// main, otherwise this test binary re-executed. prefix (e.g. ip netns exec
// NS) is put in front.
func nodeCmd(t *testing.T, prefix []string, args ...string) *exec.Cmd {
	binPath := paxsyncBinary(t)
	var cmd *exec.Cmd
	if binPath != "" {
		cmd = exec.Command(binPath, append([]string{"node"}, args...)...)
	} else {
		cmd = exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), nodeEnv+"=1")
	}
	if len(prefix) > 0 {
		full := append(append([]string(nil), prefix...), cmd.Path)
		cmd.Args = append(full, cmd.Args[1:]...)
		cmd.Path = prefix[0]
		if lp, err := exec.LookPath(prefix[0]); err == nil {
			cmd.Path = lp
		}
	}
	return cmd
}

// player is one seat's files and address.
type player struct {
	key     *crypto.PrivateKey
	keyFile string
	walDir  string
	outFile string
	logFile string
	port    int
	peerID  string
}

type match struct {
	dir     string
	players []*player
	roster  string
	// For the namespace test: a command prefix (ip netns exec NS) and a
	// listen address per player, and no static peers.
	prefix  map[*player][]string
	listen  map[*player]string
	noPeers bool
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeRoster(t *testing.T, path, name string, keys []crypto.PublicKey) {
	r := nodecmd.Roster{Match: name}
	for _, k := range keys {
		r.Players = append(r.Players, k.Hex())
	}
	data, _ := json.Marshal(r)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newPlayer(t *testing.T, dir string, i int) *player {
	k, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &player{
		key: k, keyFile: filepath.Join(dir, fmt.Sprintf("p%d.key", i)), walDir: filepath.Join(dir, fmt.Sprintf("wal%d", i)),
		outFile: filepath.Join(dir, fmt.Sprintf("out%d.txt", i)), logFile: filepath.Join(dir, fmt.Sprintf("log%d.txt", i)),
		port: freePort(t),
	}
	if err := crypto.WriteKeyFile(p.keyFile, k, false); err != nil {
		t.Fatal(err)
	}
	if p.peerID, err = netp2p.PeerIDOf(k.Public()); err != nil {
		t.Fatal(err)
	}
	return p
}

func newMatch(t *testing.T, n int) *match {
	m := &match{dir: t.TempDir()}
	var keys []crypto.PublicKey
	for i := 0; i < n; i++ {
		p := newPlayer(t, m.dir, i)
		m.players = append(m.players, p)
		keys = append(keys, p.key.Public())
	}
	m.roster = filepath.Join(m.dir, "match.json")
	writeRoster(t, m.roster, "netp2p-test", keys)
	return m
}

func (p *player) addr() string {
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p.port, p.peerID)
}

// start runs p as a node process; its stderr is appended to p.logFile.
func (m *match) start(t *testing.T, p *player, roster string, extra ...string) *exec.Cmd {
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.port)
	if l, ok := m.listen[p]; ok {
		listen = l
	}
	args := []string{"--key", p.keyFile, "--roster", roster, "--wal", p.walDir, "--out", p.outFile,
		"--listen", listen, "--timeout", "90s"}
	for _, q := range m.players {
		if q != p && !m.noPeers {
			args = append(args, "--peer", q.addr())
		}
	}
	cmd := nodeCmd(t, m.prefix[p], append(args, extra...)...)
	lf, err := os.OpenFile(p.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr, cmd.Stdout = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lingerUntilStopped is the --linger of nodes run by stopWhenAllDecided:
// they keep serving their peers until the test stops them, not for a fixed
// time that a slow peer's catch-up could outlast.
const lingerUntilStopped = "10m"

// stopWhenAllDecided waits until every node has written its --out file
// (it reached --slots and lingers, serving the others), then interrupts
// them all and waits for them; it fails with their logs if any node exits
// on its own before that or with an error, or if they have not all
// decided within the given bound.
func stopWhenAllDecided(t *testing.T, cmds []*exec.Cmd, ps []*player, within time.Duration) {
	t.Helper()
	type exit struct {
		i   int
		err error
	}
	exited := make(chan exit, len(cmds))
	for i, c := range cmds {
		go func() { exited <- exit{i, c.Wait()} }()
	}
	running := len(cmds)
	fail := func(format string, args ...any) {
		t.Helper()
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
		for ; running > 0; running-- {
			<-exited
		}
		for i, p := range ps {
			b, _ := os.ReadFile(p.logFile)
			t.Logf("node %d log:\n%s", i, tail(string(b), 3000))
		}
		t.Fatalf(format, args...)
	}
	decided := func() bool {
		for _, p := range ps {
			if _, err := os.Stat(p.outFile); err != nil {
				return false
			}
		}
		return true
	}
	deadline := time.After(within)
	for !decided() {
		select {
		case e := <-exited:
			running--
			fail("node %d exited before every node had decided: %v", e.i, e.err)
		case <-deadline:
			fail("not every node decided its slots within %v", within)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, c := range cmds {
		_ = c.Process.Signal(os.Interrupt)
	}
	for ; running > 0; running-- {
		if e := <-exited; e.err != nil {
			t.Errorf("node %d: %v\n%s", e.i, e.err, tail(readFile(t, ps[e.i].logFile), 3000))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// sameOutputs checks that every player wrote the same decided log of at
// least want lines.
func sameOutputs(t *testing.T, ps []*player, want int) {
	t.Helper()
	first := readFile(t, ps[0].outFile)
	lines := strings.Split(strings.TrimSpace(first), "\n")
	if len(lines) < want {
		t.Fatalf("node 0 decided %d lines, want %d", len(lines), want)
	}
	for k, l := range lines {
		if !strings.HasPrefix(l, strconv.Itoa(k+1)+" ") || len(l) < 64 {
			t.Fatalf("line %d is %q", k, l)
		}
	}
	for i, p := range ps[1:] {
		got := strings.Split(strings.TrimSpace(readFile(t, p.outFile)), "\n")
		n := min(len(got), len(lines))
		if n < want || strings.Join(got[:n], "\n") != strings.Join(lines[:n], "\n") {
			t.Fatalf("node %d's log differs from node 0's (%d vs %d lines)", i+1, len(got), len(lines))
		}
	}
}

// TestNodesAgreeOverLibp2p: four `paxsync node` processes on 127.0.0.1 with
// static peers decide the same log; a fifth with a key outside the roster
// is refused by every member and reported.
func TestNodesAgreeOverLibp2p(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	m := newMatch(t, 4)
	intruder := newPlayer(t, m.dir, 9)
	// The intruder's own match file puts it in seat 3.
	var forged []crypto.PublicKey
	for _, p := range m.players[:3] {
		forged = append(forged, p.key.Public())
	}
	forgedRoster := filepath.Join(m.dir, "forged.json")
	writeRoster(t, forgedRoster, "netp2p-test", append(forged, intruder.key.Public()))

	const slots = 40
	var cmds []*exec.Cmd
	for _, p := range m.players {
		cmds = append(cmds, m.start(t, p, m.roster, "--propose", strconv.Itoa(slots), "--slots", strconv.Itoa(slots), "--linger", lingerUntilStopped))
	}
	// The intruder keeps dialing for as long as the members run (not for a
	// fixed time, which a slow start could use up), then is interrupted.
	icmd := m.start(t, intruder, forgedRoster)
	// The members run until each of the three the intruder dials has
	// refused and reported it: on a fast machine they decide all slots
	// before the intruder has dialed them all (CI once stopped them 3 s in).
	re := regexp.MustCompile(`kind=non-member .*peer=` + intruder.peerID)
	for deadline := time.Now().Add(80 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		all := true
		for _, p := range m.players[:3] {
			all = all && re.MatchString(readFile(t, p.logFile))
		}
		if all {
			break
		}
	}
	stopWhenAllDecided(t, cmds, m.players, 80*time.Second)
	_ = icmd.Process.Signal(os.Interrupt)
	_ = icmd.Wait() // it decides nothing; its exit status is not the point
	sameOutputs(t, m.players, slots)

	// The intruder dials the members it believes are its peers (seats 0-2 of
	// its forged roster); each of them refuses and reports it.
	for i, p := range m.players[:3] {
		if !re.MatchString(readFile(t, p.logFile)) {
			t.Errorf("node %d did not report the intruder %s", i, intruder.peerID)
		}
	}
	// Its Noise handshake completes on its side before the member's gater
	// closes the connection, so it may log brief connections, but nothing
	// it sent or received ever reached consensus.
	ilog := readFile(t, intruder.logFile)
	if !strings.Contains(ilog, "decided=0 ") || !strings.Contains(ilog, "stepped=0 ") {
		t.Errorf("the intruder took part:\n%s", tail(ilog, 2000))
	}
	for i, p := range m.players {
		if strings.Contains(readFile(t, p.logFile), "kind=invalid") {
			t.Errorf("node %d received invalid messages", i)
		}
	}
}

var decidedRe = regexp.MustCompile(`msg=decided slot=(\d+)`)

func maxDecided(s string) int {
	best := 0
	for _, m := range decidedRe.FindAllStringSubmatch(s, -1) {
		if n, _ := strconv.Atoi(m[1]); n > best {
			best = n
		}
	}
	return best
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNodeKilledAndRestarted: SIGKILL one of four nodes mid-run; the other
// three keep deciding; restarted with its key and WAL, it catches up over
// the direct sync stream and ends with the same log.
func TestNodeKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	m := newMatch(t, 4)
	const slots = 150
	args := []string{"--propose", strconv.Itoa(slots), "--propose-every", "25ms", "--slots", strconv.Itoa(slots), "--linger", lingerUntilStopped}
	var cmds []*exec.Cmd
	for _, p := range m.players {
		cmds = append(cmds, m.start(t, p, m.roster, args...))
	}
	victim := m.players[3]
	waitUntil(t, 30*time.Second, "victim decides slot 10", func() bool {
		b, _ := os.ReadFile(victim.logFile)
		return maxDecided(string(b)) >= 10
	})
	if err := cmds[3].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmds[3].Wait()
	atKill := maxDecided(readFile(t, m.players[0].logFile))
	waitUntil(t, 20*time.Second, "the other three go on", func() bool {
		return maxDecided(readFile(t, m.players[0].logFile)) >= atKill+20
	})
	if maxDecided(readFile(t, m.players[0].logFile)) >= slots {
		t.Fatal("the run ended before the restart; slow the proposals down")
	}
	cmds[3] = m.start(t, victim, m.roster, args...)
	// The others serve the restarted node until it has caught up too.
	stopWhenAllDecided(t, cmds, m.players, 80*time.Second)
	sameOutputs(t, m.players, slots)

	log := readFile(t, victim.logFile)
	starts := strings.Split(log, "msg=\"node started\"")
	if len(starts) != 3 {
		t.Fatalf("victim started %d times", len(starts)-1)
	}
	second := starts[2]
	if regexp.MustCompile(`restored_records=0\b`).MatchString(second) {
		t.Fatal("the restarted node found an empty WAL")
	}
	sm := regexp.MustCompile(`syncs_applied=(\d+)`).FindStringSubmatch(second)
	if sm == nil || sm[1] == "0" {
		t.Fatalf("the restarted node did not catch up through sync:\n%s", tail(second, 2000))
	}
	if !bytes.Contains([]byte(second), []byte("kind=connected")) {
		t.Fatal("the restarted node never reconnected")
	}
	for _, l := range strings.Split(second, "\n") {
		if strings.Contains(l, "node started") || strings.Contains(l, "node stopped") || strings.Contains(l, "reached slots") {
			t.Logf("restarted: %s", l)
		}
	}
	t.Logf("killed at slot %d (node 0's view)", atKill)
}
