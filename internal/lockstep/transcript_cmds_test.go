package lockstep

// The transcript command language (see internal/transcript for the file
// format). Seats are numbers; lists are comma-separated (node=1,2).
//
//	cluster n=4 [leader=0] [delay=1] [grace=2] [interval=50ms] [hash=30] [sealed] [stats] [epoch]
//	    n cores with Ed25519 keys from fixed seeds over a tiny test game;
//	    delay and grace are Config.InputDelay and GraceTicks, hash the
//	    checkpoint interval; stats shows the once-a-second StatsEvents;
//	    epoch gives them a shared tick grid starting now (Config.Epoch)
//	submit tick=T[..U] data=a,b,-,c | submit seat=l tick=T[..U] data=x
//	    the players' submitted inputs (one value per seat, or one for the
//	    listed seats; "-": nothing, so the core signs NoInput)
//	beat [count=K] [node=l] [deliver]
//	    K clock beats: the virtual clock moves one interval and each listed
//	    core Steps (advance); with deliver, each beat is followed by one
//	    round delivering every queued message (as "deliver quiet")
//	step [node=l]                Step without a beat (advance false)
//	sleep d=DUR                  the virtual clock moves, nobody steps
//	deliver [from=l] [to=l] [type=l] [tick=l] [drop] [quiet]
//	    one round: the matching queued game messages are delivered (Receive)
//	    or, with drop, thrown away; the others stay queued, in order; quiet
//	    prints their number instead of one line per message
//	stabilize [...]              deliver rounds until no queued message matches
//	cut node=l | heal [node=l]
//	    a cut core runs, but game messages to and from it are lost and it
//	    applies no decided slot; heal reconnects it and it applies the
//	    slots it missed, in order (what bft catch-up would hand it)
//	decide [count=K] [drop]
//	    the test is the consensus: the first K (default all) proposals it
//	    took are judged by every other connected core (Judge, bft's
//	    ValidateValue) and, if a quorum (the proposer and those that do not
//	    refuse) votes for them, decided as the next slots (bft.Entry) and
//	    every connected core Applies them, in slot order; a refused one is
//	    lost; with drop they are lost without a vote
//	censor node=S target=T [off]  the Batch hook: S, leading, orders "no
//	                             input" for seat T in every batch
//	view view=V leader=S [change]  the consensus status every core gets on
//	                             its next Step (change: InViewChange)
//	silent node=l [off]          the Silent hook: the core proposes nothing
//	leave node=S                 S calls Leave, its departure is queued to
//	                             everyone, and S stops (no Step, no delivery)
//	inject from=S [seat=X] tick=T data=x [to=l]
//	    an Input for seat X (default S) signed with S's key, built by the
//	    test (a second input, a forgery), queued from S to l
//	queue | status               the queued messages; each core's position
//
// After every command each core hands over its Ready, in seat order, until
// none has anything: a Wake is followed by a Step without a beat, a
// Proposal is taken by the test's consensus (Proposed) and waits for
// "decide", and Broadcast and Direct messages are queued to every other
// seat, delivered only by "deliver". transcript_print_test.go has the
// output format; transcript_net_test.go the network, the consensus, the
// input box and the game.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/transcript"
	"github.com/paxsync/paxsync/wire"
)

// lnet is the transcript harness: n cores, the consensus played by hand,
// a FIFO network queue and a virtual clock.
type lnet struct {
	n        int
	cores    []*Core
	signers  []*crypto.Signer // the test's own signer per seat (inject)
	verifier *crypto.Verifier
	inputs   []*tinputs
	state    []string // "", "cut" or "left"
	silent   []bool
	censor   []int // the seat each core censors while leading (-1: none)
	// slow[i] > 0: core i, leading, proposes one tick every slow[i]
	// beats (fair_sim_test.go); beats counts the harness's beats.
	slow, lastSlow []int
	beats          int
	suspects       map[int]bool // cores that voted Suspect since the view began
	queue          []lmsg
	pending        []lprop     // proposals the consensus took, not yet decided
	log            []bft.Entry // decided slots; slot i+1 is log[i]
	applied        []int       // slots applied per core
	view           uint64
	leader         int
	inVC           bool
	start          time.Time
	now            time.Time
	interval       time.Duration
	stats          bool
	out            []string
}

type lmsg struct {
	from, to int
	env      crypto.Envelope
	direct   bool
}

type lprop struct {
	seat    int
	view    uint64
	payload []byte
}

func (h *lnet) printf(format string, a ...any) { h.out = append(h.out, fmt.Sprintf(format, a...)) }

// Run executes one transcript command, lets the cores settle and returns
// what it printed (transcript.Runner).
func (h *lnet) Run(a *transcript.Cmd) ([]string, error) {
	if a.Name != "cluster" && h.cores == nil {
		return nil, errors.New("no cluster yet")
	}
	h.out = nil
	if err := h.exec(a.Name, a); err != nil {
		return nil, err
	}
	h.settle()
	return h.out, nil
}

func (h *lnet) exec(cmd string, a *transcript.Cmd) error {
	all := make([]int, h.n)
	for i := range all {
		all[i] = i
	}
	seats := func(k string) ([]int, error) { return a.Seats(k, h.n, all) }
	switch cmd {
	case "cluster":
		return h.cluster(a)
	case "submit":
		return h.submit(a)
	case "beat":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		k, err := a.Int("count", 1)
		if err != nil {
			return err
		}
		net := a.Has("deliver")
		for b := 1; b <= k; b++ {
			mark := len(h.out)
			h.now = h.now.Add(h.interval)
			h.beats++
			for _, i := range ns {
				if h.state[i] != "left" {
					h.cores[i].Step(h.now, h.status(i), true)
				}
			}
			h.settle()
			if net {
				quiet, err := transcript.ParseCmd("deliver quiet")
				if err != nil {
					return err
				}
				if err := h.deliver(quiet, 1); err != nil {
					return err
				}
			}
			if k > 1 && len(h.out) > mark {
				h.out = append(h.out[:mark], append([]string{fmt.Sprintf("beat %d at %s:", b, h.elapsed())}, h.out[mark:]...)...)
			}
		}
	case "step":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		for _, i := range ns {
			if h.state[i] != "left" {
				h.cores[i].Step(h.now, h.status(i), false)
			}
		}
	case "sleep":
		d, err := time.ParseDuration(a.Str("d", ""))
		if err != nil || d < 0 {
			return fmt.Errorf("sleep d=%q: %v", a.Str("d", ""), err)
		}
		h.now = h.now.Add(d)
		h.printf("time %s", h.elapsed())
	case "deliver", "stabilize":
		rounds := 1
		if cmd == "stabilize" {
			rounds = 50
		}
		return h.deliver(a, rounds)
	case "cut", "heal":
		def := []int(nil)
		if cmd == "heal" {
			def = all
		}
		ns, err := a.Seats("node", h.n, def)
		if err != nil || len(ns) == 0 {
			return fmt.Errorf("%s: which node? %v", cmd, err)
		}
		for _, i := range ns {
			if h.state[i] == "left" {
				continue
			}
			if cmd == "cut" {
				h.state[i] = "cut"
				continue
			}
			h.state[i] = ""
			if from := h.applied[i]; from < len(h.log) {
				h.printf("%d: catches up slots %d..%d", i, from+1, len(h.log))
				for h.applied[i] < len(h.log) {
					h.cores[i].Apply(h.log[h.applied[i]], h.now)
					h.applied[i]++
				}
			}
		}
	case "decide":
		return h.decide(a)
	case "view":
		v, err := a.Int("view", -1)
		if err != nil || v < 0 {
			return fmt.Errorf("view: view=V required")
		}
		l, err := a.Seats("leader", h.n, nil)
		if err != nil || len(l) != 1 {
			return fmt.Errorf("view: leader=S required")
		}
		h.view, h.leader, h.inVC = uint64(v), l[0], a.Has("change")
		if h.inVC {
			h.printf("view change to view %d (leader %d)", v, l[0])
		} else {
			h.printf("view %d, leader %d", v, l[0])
		}
	case "censor":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		tg, err := a.Int("target", -1)
		if err != nil || tg >= h.n {
			return fmt.Errorf("censor: target=%d: %v", tg, err)
		}
		for _, i := range ns {
			h.censor[i] = tg
			if a.Has("off") {
				h.censor[i] = -1
			}
		}
	case "silent":
		ns, err := a.Seats("node", h.n, nil)
		if err != nil || len(ns) == 0 {
			return fmt.Errorf("silent: which node? %v", err)
		}
		for _, i := range ns {
			h.silent[i] = !a.Has("off")
		}
	case "leave":
		ns, err := a.Seats("node", h.n, nil)
		if err != nil || len(ns) != 1 {
			return fmt.Errorf("leave: node=S required")
		}
		s := ns[0]
		env := h.cores[s].Leave()
		h.printf("%d: sends %s", s, h.envString(env))
		h.enqueue(s, env, false)
		h.state[s] = "left"
	case "inject":
		return h.inject(a)
	case "queue":
		for _, g := range groupMsgs(h.queue) {
			h.printf("%s", h.msgString(g))
		}
	case "status":
		for i, c := range h.cores {
			role := "follower"
			if h.status(i).IsLeader {
				role = "leader"
			}
			st := ""
			if h.state[i] != "" {
				st = " (" + h.state[i] + ")"
			}
			h.printf("%d: %s view %d%s: clock %d, next tick %d, input tick %d, slots applied %d, verdicts %d, observations %d",
				i, role, h.view, st, c.Clock(), c.Next(), c.InputTick(), h.applied[i], len(c.Verdicts()), len(c.Observations()))
		}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

func (h *lnet) cluster(a *transcript.Cmd) error {
	if h.cores != nil {
		return errors.New("cluster twice")
	}
	n, err1 := a.Int("n", 4)
	delay, err2 := a.Int("delay", 1)
	grace, err3 := a.Int("grace", 2)
	hash, err4 := a.Int("hash", 30)
	leader, err5 := a.Int("leader", 0)
	iv, err6 := time.ParseDuration(a.Str("interval", "50ms"))
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	if n < 1 || leader >= n || hash < 1 || iv <= 0 {
		return fmt.Errorf("cluster: n=%d leader=%d hash=%d interval=%s", n, leader, hash, iv)
	}
	sealed := a.Has("sealed")
	window, err := a.Int("window", 0)
	if err != nil {
		return err
	}
	h.stats = a.Has("stats")
	h.n, h.leader, h.interval = n, leader, iv
	h.start = time.Unix(1_700_000_000, 0)
	h.now = h.start
	var keys []*crypto.PrivateKey
	var roster []crypto.PublicKey
	for i := 0; i < n; i++ {
		seed := sha256.Sum256(fmt.Appendf(nil, "lockstep transcript seat %d", i))
		k, err := crypto.KeyFromSeed(seed[:])
		if err != nil {
			return err
		}
		keys, roster = append(keys, k), append(roster, k.Public())
	}
	match := crypto.NewMatchID("lockstep transcript", roster)
	h.verifier = crypto.NewVerifier(match, roster)
	h.state, h.silent, h.applied = make([]string, n), make([]bool, n), make([]int, n)
	h.censor, h.slow, h.lastSlow, h.suspects = make([]int, n), make([]int, n), make([]int, n), map[int]bool{}
	for i := range h.censor {
		h.censor[i] = -1
	}
	var epoch time.Time
	if a.Has("epoch") {
		epoch = h.start
	}
	for i := 0; i < n; i++ {
		eng, err := gamestate.NewEngine(&tgame{n: n}, gamestate.Config{Verifier: h.verifier, InputDelay: delay,
			HashInterval: uint64(hash), Sealed: sealed})
		if err != nil {
			return err
		}
		box := &tinputs{m: map[uint64][]byte{}}
		h.inputs = append(h.inputs, box)
		h.signers = append(h.signers, crypto.NewSigner(keys[i], match, uint16(i)))
		seat := i
		var pred Prediction
		if a.Has("predict") {
			pred = Prediction{Game: &tgame{n: n}, Window: window}
		}
		c := New(Config{Prediction: pred, Seat: i, N: n, Match: match, Verifier: h.verifier,
			Signer: crypto.NewSigner(keys[i], match, uint16(i)), Engine: eng, Mode: Ordered,
			Interval: iv, InputDelay: delay, GraceTicks: uint64(grace), Sealed: sealed,
			HashInterval: uint64(hash), Inputs: box, Epoch: epoch,
			Hooks: &Hooks{Silent: func(uint64) bool { return h.silent[seat] },
				// Sealed, a censor also pretends it never got the
				// victim's commitments (none is ever in its batches).
				Ignore: func(_ *Tools, env crypto.Envelope) bool {
					tg := h.censor[seat]
					return tg >= 0 && sealed && env.Type == wire.TypeSealedInput && int(env.Sender) == tg
				},
				Batch: func(_ *Tools, _ time.Time, b *gamestate.Batch) bool {
					if tg := h.censor[seat]; tg >= 0 {
						for i := range b.Ticks {
							b.Ticks[i].Seats[tg] = nil
						}
					}
					if k := h.slow[seat]; k > 0 && len(b.Ticks) > 0 {
						if h.beats-h.lastSlow[seat] < k {
							return false
						}
						h.lastSlow[seat], b.Ticks = h.beats, b.Ticks[:1]
					}
					return true
				}}})
		c.Start(h.now)
		h.cores = append(h.cores, c)
	}
	mode := "plain inputs"
	if sealed {
		mode = "sealed inputs (commit-reveal)"
	}
	stall := max(500*time.Millisecond, 10*iv)
	h.printf("%d seats, %s, leader %d in view 0, input delay %d, grace %d ticks, beat every %s, checkpoint every %d ticks",
		n, mode, leader, delay, grace, iv, hash)
	h.printf("stall bound %s: unresponsive after %s, suspicion after %s", stall, 2*stall, suspectStalls*stall)
	return nil
}

func (h *lnet) submit(a *transcript.Cmd) error {
	lo, hi, err := ticks(a, "tick")
	if err != nil {
		return err
	}
	explicit := a.Has("seat")
	ns, err := a.Seats("seat", h.n, nil)
	if err != nil {
		return err
	}
	vals := strings.Split(a.Str("data", ""), ",")
	if !explicit {
		if len(vals) != h.n {
			return fmt.Errorf("submit: data needs one value per seat (%d), or seat=", h.n)
		}
		for i := 0; i < h.n; i++ {
			ns = append(ns, i)
		}
	} else if len(vals) == 1 {
		for len(vals) < len(ns) {
			vals = append(vals, vals[0])
		}
	}
	if len(vals) != len(ns) {
		return fmt.Errorf("submit: %d values for %d seats", len(vals), len(ns))
	}
	for t := lo; t <= hi; t++ {
		for j, s := range ns {
			if vals[j] == "-" {
				continue
			}
			if box := h.inputs[s]; t < box.open {
				h.printf("%d: tick %d refused: too late (open from %d)", s, t, box.open)
			} else {
				box.m[t] = []byte(vals[j])
			}
		}
	}
	return nil
}
