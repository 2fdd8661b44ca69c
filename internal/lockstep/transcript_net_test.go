package lockstep

// The transcript harness's network, consensus and players: message
// delivery, deciding slots, test-built messages, the input box and the
// tiny game (see transcript_cmds_test.go for the command language).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/transcript"
	"github.com/paxsync/paxsync/wire"
)

func (h *lnet) deliver(a *transcript.Cmd, rounds int) error {
	from, err1 := a.Seats("from", h.n, nil)
	to, err2 := a.Seats("to", h.n, nil)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	types := a.Str("type", "")
	ticks := a.Str("tick", "")
	drop, quiet := a.Has("drop"), a.Has("quiet")
	in := func(l []int, x int) bool {
		if l == nil {
			return true
		}
		for _, y := range l {
			if y == x {
				return true
			}
		}
		return false
	}
	inStr := func(list, x string) bool { return list == "" || strings.Contains(","+list+",", ","+x+",") }
	match := func(m lmsg) bool {
		_, tick, ok := msgSeatTick(&m.env)
		return in(from, m.from) && in(to, m.to) && inStr(types, m.env.Type.String()) &&
			(ticks == "" || ok && inStr(ticks, fmt.Sprint(tick)))
	}
	for r := 0; r < rounds; r++ {
		var take, keep []lmsg
		for _, m := range h.queue {
			if match(m) {
				take = append(take, m)
			} else {
				keep = append(keep, m)
			}
		}
		if len(take) == 0 {
			if r == 0 && !quiet {
				h.printf("nothing to deliver")
			}
			return nil
		}
		h.queue = keep
		groups, lostN := groupMsgs(take), 0
		for _, g := range groups {
			if drop {
				if !quiet {
					h.printf("%s | dropped", h.msgString(g))
				}
				continue
			}
			var lost, left []int
			for _, m := range g {
				switch {
				case h.state[m.to] == "left":
					left = append(left, m.to)
				case h.state[m.to] == "cut" || h.state[m.from] == "cut":
					lost = append(lost, m.to)
				default:
					h.cores[m.to].Receive(h.now, m.from, m.env)
				}
			}
			lostN += len(lost) + len(left)
			s := h.msgString(g)
			if len(lost) > 0 {
				s += " | " + seatList(lost) + ": lost"
			}
			if len(left) > 0 {
				s += " | " + seatList(left) + ": left"
			}
			if !quiet {
				h.printf("%s", s)
			}
		}
		if quiet {
			verb := "delivered"
			if drop {
				verb = "dropped"
			}
			s := fmt.Sprintf("%s %d messages", verb, len(groups))
			if lostN > 0 {
				s += fmt.Sprintf(" (%d copies lost)", lostN)
			}
			h.printf("%s", s)
		}
		h.settle()
	}
	return nil
}

func (h *lnet) decide(a *transcript.Cmd) error {
	k, err := a.Int("count", len(h.pending))
	if err != nil {
		return err
	}
	if k > len(h.pending) {
		return fmt.Errorf("decide count=%d: only %d proposals taken", k, len(h.pending))
	}
	if k == 0 {
		h.printf("no proposal to decide")
	}
	props := h.pending[:k]
	h.pending = append([]lprop(nil), h.pending[k:]...)
	for _, p := range props {
		if a.Has("drop") {
			h.printf("lost: %d's proposal (view %d) %s", p.seat, p.view, h.batchString(p.payload))
			continue
		}
		var refused []string
		votes := 1 // the proposer's
		for i, c := range h.cores {
			if i == p.seat || h.state[i] != "" {
				continue
			}
			if err := c.Judge(uint64(len(h.log)+1), p.payload, h.now); err != nil {
				refused = append(refused, fmt.Sprintf("%d (%v)", i, err))
			} else {
				votes++
			}
		}
		for _, r := range refused {
			h.printf("refused by %s", r)
		}
		if f := (h.n - 1) / 3; votes < (h.n+f+2)/2 {
			h.printf("not decided: %d's proposal (view %d) %s has %d votes", p.seat, p.view, h.batchString(p.payload), votes)
			h.settle()
			continue
		}
		e := bft.Entry{Slot: uint64(len(h.log) + 1), View: p.view, Payload: p.payload}
		h.log = append(h.log, e)
		h.printf("slot %d (view %d, from %d): %s", e.Slot, e.View, p.seat, h.batchString(e.Payload))
		for i, c := range h.cores {
			if h.state[i] == "" && h.applied[i] == len(h.log)-1 {
				c.Apply(e, h.now)
				h.applied[i]++
			}
		}
		h.settle()
	}
	return nil
}

func (h *lnet) inject(a *transcript.Cmd) error {
	fs, err := a.Seats("from", h.n, nil)
	if err != nil || len(fs) != 1 {
		return fmt.Errorf("inject: from=S required")
	}
	from := fs[0]
	seat, err := a.Int("seat", from)
	if err != nil || seat >= h.n {
		return fmt.Errorf("inject: seat: %v", err)
	}
	lo, hi, err := ticks(a, "tick")
	if err != nil || lo != hi {
		return fmt.Errorf("inject: one tick=T: %v", err)
	}
	var others []int
	for i := 0; i < h.n; i++ {
		if i != from {
			others = append(others, i)
		}
	}
	to, err := a.Seats("to", h.n, others)
	if err != nil {
		return err
	}
	m := gamestate.Input{Seat: uint16(seat), Tick: lo, Data: []byte(a.Str("data", ""))}
	env := h.signers[from].Sign(wire.TypeInput, m.Encode())
	for _, t := range to {
		h.queue = append(h.queue, lmsg{from: from, to: t, env: env})
	}
	h.printf("%d: queued by the test to %s: %s", from, seatList(to), h.envString(env))
	return nil
}

// enqueue queues env from seat to every other seat.
func (h *lnet) enqueue(from int, env crypto.Envelope, direct bool) {
	for i := 0; i < h.n; i++ {
		if i != from {
			h.queue = append(h.queue, lmsg{from: from, to: i, env: env, direct: direct})
		}
	}
}

// status is the consensus status core i gets: the test's view and leader.
func (h *lnet) status(i int) bft.Status {
	return bft.Status{Seat: uint16(i), View: h.view, Leader: uint16(h.leader),
		IsLeader: i == h.leader && !h.inVC, InViewChange: h.inVC, Committed: uint64(h.applied[i])}
}

func (h *lnet) elapsed() string { return h.now.Sub(h.start).String() }

// tinputs is the local player's input box (Inputs): a map by tick, closed
// below open.
type tinputs struct {
	m    map[uint64][]byte
	open uint64
}

func (b *tinputs) Take(tick uint64) ([]byte, bool) {
	d, ok := b.m[tick]
	delete(b.m, tick)
	return d, ok
}

func (b *tinputs) Open(next uint64) {
	if next <= b.open {
		return
	}
	b.open = next
	for t := range b.m {
		if t < next {
			delete(b.m, t)
		}
	}
}

// tgame is a tiny deterministic game: its state is a hash chain over
// every applied tick's inputs; the input "bad" breaks its rules.
type tgame struct {
	n    int
	h    crypto.Digest
	next uint64
}

func (g *tgame) NumSeats() int { return g.n }

func (g *tgame) Validate(_ int, in []byte) *gamestate.Violation {
	if string(in) == "bad" {
		return &gamestate.Violation{Code: gamestate.ViolationRule, Detail: "bad input"}
	}
	return nil
}

func (g *tgame) Advance(tick uint64, in []gamestate.SeatInput) {
	b := binary.BigEndian.AppendUint64(append([]byte(nil), g.h[:]...), tick)
	for _, s := range in {
		if s.Present {
			b = binary.BigEndian.AppendUint32(append(b, 1), uint32(len(s.Data)))
			b = append(b, s.Data...)
		} else {
			b = append(b, 0)
		}
	}
	g.h, g.next = crypto.Sum(b), tick+1
}

func (g *tgame) Hash() crypto.Digest { return g.h }

func (g *tgame) Snapshot() []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), g.h[:]...), g.next)
}

func (g *tgame) Restore(s []byte) error {
	if len(s) != len(g.h)+8 {
		return errors.New("tgame: bad snapshot")
	}
	copy(g.h[:], s)
	g.next = binary.BigEndian.Uint64(s[len(g.h):])
	return nil
}
