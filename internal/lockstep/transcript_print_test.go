package lockstep

// The transcript output format. Every line a core's Ready causes starts
// with its seat, in seat order, and within one Ready in this order:
//
//	2: event tick 3 inputs [a b - c] commit 100ms   TickEvent: one data per seat, "-" no input,
//	                                                 "" an empty one; checkpoint <hash> at checkpoints;
//	                                                 commit: this seat's input-to-apply latency
//	1: event verdict input-equivocation seat 3 tick 2   VerdictEvent
//	1: event observation unresponsive about 0: ...      ObservationEvent with its detail
//	1: event peer-left seat 2 | event caught-up seat 1 | event desync ...
//	0: broadcast input s0 t3 a        Ready.Broadcast (queued to every other seat; "direct": Ready.Direct)
//	0: propose ticks [3,5) hashes t0:0,1 evidence input-equivocation s3 t2
//	                                  Ready.Propose, taken by the test's consensus
//	3: suspect                        Ready.Suspect
//	0: wake                           Ready.Wake (the harness Steps it again at once)
//
// Game messages: "input s<seat> t<tick> <data>", "no-input s t", "leave s
// from t", "state-hash s t <hash>", "sealed-input s t" and "reveal s t" (a
// message signed by another seat than the one it speaks for adds "signed
// by N"). A delivery round prints one line per message and sender, with the
// recipients: "3->0,1,2 input s3 t2 x" ("=>" for the direct path), then
// "| 2: lost" for recipients it could not reach ("left": they stopped). A
// batch: ticks [first,end), then what else it orders: hashes and commits
// as tick:seats, evidence as kind, offender, tick.
// Signatures, keys, sealed bodies and wall-clock times are never printed.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// settle hands over every core's Ready, in seat order, until none has
// anything left: a Wake steps the core again at once, without a beat.
func (h *lnet) settle() {
	for round := 0; ; round++ {
		if round > 1000 {
			panic("transcript: the cores keep waking each other")
		}
		busy := false
		for i, c := range h.cores {
			if h.state[i] == "left" || !c.HasReady() {
				continue
			}
			busy = true
			if h.collect(i) {
				c.Step(h.now, h.status(i), false)
			}
		}
		if !busy {
			return
		}
	}
}

// collect prints and carries out core i's Ready; it reports Wake.
func (h *lnet) collect(i int) bool {
	c := h.cores[i]
	rd := c.Ready()
	for _, ev := range rd.Events {
		if s := h.eventString(ev); s != "" {
			h.printf("%d: event %s", i, s)
		}
	}
	for _, env := range rd.Broadcast {
		h.printf("%d: broadcast %s", i, h.envString(env))
		h.enqueue(i, env, false)
	}
	for _, env := range rd.Direct {
		h.printf("%d: direct %s", i, h.envString(env))
		h.enqueue(i, env, true)
	}
	if p := rd.Propose; p != nil {
		h.printf("%d: propose %s", i, h.batchString(p.Payload))
		c.Proposed(p)
		h.pending = append(h.pending, lprop{seat: i, view: h.view, payload: p.Payload})
	}
	if rd.Suspect {
		h.suspects[i] = true
		h.printf("%d: suspect", i)
	}
	if rd.Wake {
		h.printf("%d: wake", i)
	}
	return rd.Wake
}

func (h *lnet) eventString(ev Event) string {
	switch e := ev.(type) {
	case TickEvent:
		in := make([]string, len(e.Inputs))
		for s, si := range e.Inputs {
			in[s] = "-"
			if si.Present {
				in[s] = dataString(si.Data)
			}
		}
		s := fmt.Sprintf("tick %d inputs [%s]", e.Tick, strings.Join(in, " "))
		if e.Checkpoint {
			s += " checkpoint " + shortHash(e.Hash)
		}
		if e.Commit > 0 {
			s += " commit " + e.Commit.String()
		}
		return s
	case VerdictEvent:
		v := e.Verdict
		s := fmt.Sprintf("verdict %s seat %d tick %d", v.Kind, v.Offender, v.Tick)
		if v.Kind == gamestate.InvalidMove {
			s += " (" + v.Violation.String() + ")"
		}
		return s
	case ObservationEvent:
		o := e.Observation
		return fmt.Sprintf("observation %s about %d: %s", o.Kind, o.About, o.Detail)
	case DesyncEvent:
		return fmt.Sprintf("desync tick %d seat %d local %v", e.Tick, e.Seat, e.Local)
	case PeerEvent:
		switch e.Kind {
		case PeerLeft:
			return fmt.Sprintf("peer-left seat %d", e.Seat)
		case PeerCaughtUp:
			return fmt.Sprintf("caught-up seat %d", e.Seat)
		}
		return fmt.Sprintf("peer-%d seat %d", e.Kind, e.Seat)
	case StatsEvent:
		if !h.stats {
			return ""
		}
		f := e.Figures
		return fmt.Sprintf("stats clock %d decided %d proposed %d verdicts %d observations %d commit p50 %s p99 %s msgs/s %.1f",
			f.Clock, f.Decided, f.Proposed, f.Verdicts, f.Observations, f.CommitP50, f.CommitP99, f.MsgsPerSec)
	}
	return fmt.Sprintf("%T", ev)
}

// envString summarises one game message (never its signature or keys).
func (h *lnet) envString(env crypto.Envelope) string {
	var s string
	seat := int(env.Sender)
	switch env.Type {
	case wire.TypeInput:
		m, err := gamestate.DecodeInput(env.Body)
		if err != nil {
			return "input (undecodable)"
		}
		seat, s = int(m.Seat), fmt.Sprintf("input s%d t%d %s", m.Seat, m.Tick, dataString(m.Data))
	case wire.TypeNoInput:
		m, err := gamestate.DecodeNoInput(env.Body)
		if err != nil {
			return "no-input (undecodable)"
		}
		seat, s = int(m.Seat), fmt.Sprintf("no-input s%d t%d", m.Seat, m.Tick)
	case wire.TypeLeave:
		m, err := gamestate.DecodeLeave(env.Body)
		if err != nil {
			return "leave (undecodable)"
		}
		seat, s = int(m.Seat), fmt.Sprintf("leave s%d from t%d", m.Seat, m.Tick)
	case wire.TypeStateHash:
		m, err := gamestate.DecodeStateHash(env.Body)
		if err != nil {
			return "state-hash (undecodable)"
		}
		seat, s = int(m.Seat), fmt.Sprintf("state-hash s%d t%d %s", m.Seat, m.Tick, shortHash(m.Hash))
	case wire.TypeSealedInput, wire.TypeReveal:
		st, tick, ok := gameSeatTick(&env)
		if !ok {
			return env.Type.String() + " (undecodable)"
		}
		seat, s = int(st), fmt.Sprintf("%s s%d t%d", env.Type, st, tick)
	default:
		s = env.Type.String()
	}
	if seat != int(env.Sender) {
		s += fmt.Sprintf(" signed by %d", env.Sender)
	}
	return s
}

// msgSeatTick is the (seat, tick) a game message speaks for.
func msgSeatTick(env *crypto.Envelope) (uint16, uint64, bool) {
	switch env.Type {
	case wire.TypeNoInput:
		m, err := gamestate.DecodeNoInput(env.Body)
		return m.Seat, m.Tick, err == nil
	case wire.TypeLeave:
		m, err := gamestate.DecodeLeave(env.Body)
		return m.Seat, m.Tick, err == nil
	case wire.TypeStateHash:
		m, err := gamestate.DecodeStateHash(env.Body)
		return m.Seat, m.Tick, err == nil
	}
	return gameSeatTick(env)
}

// batchString summarises a proposed or decided batch.
func (h *lnet) batchString(payload []byte) string {
	b, err := gamestate.DecodeBatch(payload)
	if err != nil {
		return "undecodable batch: " + err.Error()
	}
	s := fmt.Sprintf("ticks [%d,%d)", b.First, b.First+uint64(len(b.Ticks)))
	// Seat entries other than inputs: the leader's "no input" (none) and
	// the seat's own signed NoInput or Leave (signed-none).
	var none, signed []string
	for i, t := range b.Ticks {
		for seat, e := range t.Seats {
			switch {
			case e == nil:
				none = append(none, fmt.Sprintf("t%d:%d", b.First+uint64(i), seat))
			case e.Type == wire.TypeNoInput || e.Type == wire.TypeLeave:
				signed = append(signed, fmt.Sprintf("t%d:%d", b.First+uint64(i), seat))
			}
		}
	}
	if len(none) > 0 {
		s += " none " + strings.Join(none, ",")
	}
	if len(signed) > 0 {
		s += " signed-none " + strings.Join(signed, ",")
	}
	if len(b.Hashes) > 0 {
		s += " hashes " + groupTicks(b.Hashes)
	}
	if len(b.Commits) > 0 {
		s += " commits " + groupTicks(b.Commits)
	}
	for _, ev := range b.Evidence {
		off, tick, err := gamestate.CheckEvidence(h.verifier, ev.Kind, ev.Envelopes)
		if err != nil {
			s += fmt.Sprintf(" evidence %s (invalid: %v)", ev.Kind, err)
			continue
		}
		s += fmt.Sprintf(" evidence %s s%d t%d", ev.Kind, off, tick)
	}
	return s
}

// groupTicks lists the (seat, tick) of messages as "t0:0,1 t3:2", in the
// order given.
func groupTicks(envs []crypto.Envelope) string {
	var parts []string
	last := ""
	for i := range envs {
		seat, tick, ok := msgSeatTick(&envs[i])
		if !ok {
			parts = append(parts, "?")
			continue
		}
		if p := fmt.Sprintf("t%d:", tick); p == last {
			parts[len(parts)-1] += fmt.Sprintf(",%d", seat)
		} else {
			last = p
			parts = append(parts, fmt.Sprintf("%s%d", p, seat))
		}
	}
	return strings.Join(parts, " ")
}

// groupMsgs groups queued messages by sender, envelope and path, in order
// of first appearance.
func groupMsgs(ms []lmsg) [][]lmsg {
	type key struct {
		from   int
		id     crypto.Digest
		direct bool
	}
	var order []key
	groups := map[key][]lmsg{}
	for _, m := range ms {
		k := key{m.from, m.env.ID(), m.direct}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	out := make([][]lmsg, len(order))
	for i, k := range order {
		out[i] = groups[k]
	}
	return out
}

func (h *lnet) msgString(g []lmsg) string {
	to := make([]int, len(g))
	for i, m := range g {
		to[i] = m.to
	}
	arrow := "->"
	if g[0].direct {
		arrow = "=>"
	}
	return fmt.Sprintf("%d%s%s %s", g[0].from, arrow, seatList(to), h.envString(g[0].env))
}

func seatList(s []int) string {
	p := make([]string, len(s))
	for i, x := range s {
		p[i] = strconv.Itoa(x)
	}
	return strings.Join(p, ",")
}

func dataString(d []byte) string {
	if len(d) == 0 {
		return `""`
	}
	for _, c := range d {
		if c <= ' ' || c > '~' {
			return fmt.Sprintf("%x", d)
		}
	}
	return string(d)
}

func shortHash(d crypto.Digest) string { return d.String()[:8] }
