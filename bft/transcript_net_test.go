package bft

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

func senders(envs []crypto.Envelope) string {
	var s []string
	for _, e := range envs {
		s = append(s, strconv.Itoa(int(e.Sender)))
	}
	return strings.Join(s, ",")
}

// round delivers (or with drop, discards) every queued message sel picks,
// one line per envelope and sender, then lets every node handle its Ready.
func (h *tnet) round(sel func(tmsg) bool, drop bool) {
	var take, keep []tmsg
	for _, m := range h.queue {
		if sel(m) {
			take = append(take, m)
		} else {
			keep = append(keep, m)
		}
	}
	h.queue = keep
	h.eachGroup(take, func(g []tmsg) {
		var order []string
		who := map[string][]string{}
		for _, m := range g {
			res := ""
			switch {
			case drop:
				res = "dropped"
			case h.down[m.to] != "" || h.down[m.from] == "isolated":
				res = "lost"
			default:
				res = stepResult(h.nodes[m.to].Step(m.env))
			}
			if res != "" {
				if who[res] == nil {
					order = append(order, res)
				}
				who[res] = append(who[res], strconv.Itoa(m.to))
			}
		}
		l := h.groupLine(g)
		for _, r := range order {
			l += " | " + strings.Join(who[r], ",") + ": " + r
		}
		h.printf("%s", l)
	})
	h.settle()
}

// eachGroup calls f for each run of queued messages that is one envelope
// from one sender (a broadcast is queued as one run).
func (h *tnet) eachGroup(ms []tmsg, f func([]tmsg)) {
	for i := 0; i < len(ms); {
		j := i + 1
		for j < len(ms) && ms[j].from == ms[i].from && ms[j].id == ms[i].id {
			j++
		}
		f(ms[i:j])
		i = j
	}
}

func (h *tnet) groupLine(g []tmsg) string {
	var to []string
	for _, m := range g {
		to = append(to, strconv.Itoa(m.to))
	}
	s := fmt.Sprintf("%d->%s %s", g[0].from, strings.Join(to, ","), h.summary(g[0].env))
	if int(g[0].env.Sender) != g[0].from {
		s += fmt.Sprintf(" (signed by %d)", g[0].env.Sender)
	}
	return s
}

func stepResult(err error) string {
	if err == nil {
		return ""
	}
	for r, e := range dropErrs {
		if errors.Is(err, e) {
			return DropReason(r).String()
		}
	}
	return err.Error()
}

func (h *tnet) state(i int) tstate {
	nd := h.nodes[i]
	return tstate{view: nd.view, vcTarget: nd.vcTarget, stable: nd.stable.Slot, active: nd.active}
}

// settle lets every running node hand over its Ready until it has none,
// printing what each one did.
func (h *tnet) settle() {
	for i, nd := range h.nodes {
		if h.down[i] == "crashed" {
			continue
		}
		h.diffState(i)
		for nd.HasReady() {
			h.handle(i, nd.Ready())
			nd.Advance()
			h.diffState(i)
		}
	}
}

func (h *tnet) diffState(i int) {
	p, c := h.prev[i], h.state(i)
	h.prev[i] = c
	if c.vcTarget != 0 && c.vcTarget != p.vcTarget {
		h.printf("%d: votes to change to view %d", i, c.vcTarget)
	}
	if c.view != p.view {
		s := fmt.Sprintf("%d: enters view %d (leader %d)", i, c.view, h.nodes[i].leaderOf(c.view))
		if !c.active {
			s += ", waiting for its NewView"
		}
		h.printf("%s", s)
	} else if c.active && !p.active {
		h.printf("%d: view %d starts (NewView)", i, c.view)
	}
	if c.stable != p.stable {
		h.printf("%d: stable checkpoint at slot %d", i, c.stable)
	}
}

func (h *tnet) handle(i int, rd Ready) {
	nd := h.nodes[i]
	for _, m := range rd.Messages {
		if m.Env.Type == wire.TypeAccept {
			h.learnValues(m.Env)
		}
		id := envID(&m.Env)
		for j := 0; j < h.n; j++ {
			if j == i || (m.To != Broadcast && m.To != j) {
				continue
			}
			// Identical copies already in flight are coalesced: re-sends
			// of an undelivered message add nothing.
			if !slices.ContainsFunc(h.queue, func(q tmsg) bool { return q.from == i && q.to == j && q.id == id }) {
				h.queue = append(h.queue, tmsg{from: i, to: j, env: m.Env, id: id})
			}
		}
	}
	if s := rd.InstallSnapshot; s != nil {
		h.apps[i] = decodeSnap(s.Data)
		h.printf("%d: installs snapshot at slot %d (%d entries)", i, s.Slot, len(h.apps[i]))
	}
	var items []string
	var view uint64
	flush := func() {
		if items != nil {
			h.printf("%d: commits in view %d: %s", i, view, slotList(items))
		}
		items = nil
	}
	for _, e := range rd.Committed {
		lbl := h.entryLabel(e)
		h.apps[i] = append(h.apps[i], fmt.Sprintf("%d:%s", e.Slot, lbl))
		if e.View != view {
			flush()
			view = e.View
		}
		items = append(items, fmt.Sprintf("%d:%s", e.Slot, lbl))
	}
	flush()
	for _, ev := range rd.Evidence {
		v, s, _ := conflict(ev.A.Type, ev.A.Body, ev.B.Body)
		h.printf("%d: found evidence: %s by %d (%s view %d slot %d)", i, ev.Kind, ev.Offender, typeName(ev.A.Type), v, s)
	}
	for _, s := range rd.CheckpointDue {
		if h.manual {
			h.due[i] = append(h.due[i], s)
			h.printf("%d: checkpoint due at slot %d", i, s)
		} else {
			h.takeCheckpoint(i, s)
		}
	}
	if rd.NeedSync != nil {
		h.need[i] = rd.NeedSync
		var ps []string
		for _, p := range rd.NeedSync.Peers {
			ps = append(ps, strconv.Itoa(int(p)))
		}
		h.printf("%d: needs sync from slot %d (peers %s), committed %d", i, rd.NeedSync.From, strings.Join(ps, ","), nd.committed)
	}
}

// takeCheckpoint answers CheckpointDue: the app's state after slot s is
// its log up to s.
func (h *tnet) takeCheckpoint(i int, s uint64) {
	var upTo []string
	for _, e := range h.apps[i] {
		if n, _, _ := strings.Cut(e, ":"); mustAtoi(n) <= s {
			upTo = append(upTo, e)
		}
	}
	snap := []byte(strings.Join(upTo, "\n"))
	h.nodes[i].Checkpoint(s, snap)
	h.printf("%d: checkpoint at slot %d, app state %s", i, s, short(crypto.Sum(snap)))
}

func decodeSnap(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\n")
}

func mustAtoi(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func short(d crypto.Digest) string { return fmt.Sprintf("%x", d[:4]) }

// learnValues remembers the label of every proposed value by digest, so
// votes (which carry digests only) print as the value they name.
func (h *tnet) learnValues(env crypto.Envelope) {
	b, err := decodeAccept(env.Body, 1<<20)
	if err != nil {
		return
	}
	for _, v := range b.Values {
		h.labels[crypto.Sum(v)] = h.valueLabel(v)
	}
}

func (h *tnet) valueLabel(enc []byte) string {
	v, err := decodeValue(enc, 1<<20)
	if err != nil {
		return "undecodable"
	}
	e := Entry{Payload: v.Payload, Evidence: v.Evidence}
	return h.entryLabel(e)
}

func (h *tnet) entryLabel(e Entry) string {
	s := strconv.Quote(string(e.Payload))
	if len(e.Payload) == 0 {
		s = "noop"
	}
	for _, ev := range e.Evidence {
		s += fmt.Sprintf("+evidence(%s by %d)", ev.Kind, ev.Offender)
	}
	return s
}

func (h *tnet) digestLabel(d crypto.Digest) string {
	if l, ok := h.labels[d]; ok {
		return l
	}
	return "?" + short(d)
}

var tTypeNames = map[wire.Type]string{wire.TypeAccept: "Accept", wire.TypeVerify: "Verify", wire.TypeConfirm: "Confirm",
	wire.TypePrepare: "Prepare", wire.TypePromise: "Promise", wire.TypeViewChange: "ViewChange",
	wire.TypeCheckpoint: "Checkpoint", wire.TypeNewView: "NewView", wire.TypeEvidence: "Evidence"}

func typeName(t wire.Type) string { return tTypeNames[t] }

// summary is a one-line, signature-free description of an envelope.
func (h *tnet) summary(env crypto.Envelope) string {
	s := typeName(env.Type)
	switch env.Type {
	case wire.TypeAccept:
		b, _ := decodeAccept(env.Body, 1<<20)
		var items []string
		for k, sl := range b.Slots {
			items = append(items, fmt.Sprintf("%d:%s", sl, h.valueLabel(b.Values[k])))
		}
		s += fmt.Sprintf(" v%d %s", b.View, slotList(items))
	case wire.TypeVerify, wire.TypeConfirm:
		b, _ := decodeVote(env.Body)
		var items []string
		for _, p := range b.Pairs {
			items = append(items, fmt.Sprintf("%d:%s", p.Slot, h.digestLabel(p.Digest)))
		}
		if len(b.Pairs) == 0 {
			items = []string{fmt.Sprintf("heartbeat #%d", b.Seq)}
		}
		s += fmt.Sprintf(" v%d %s", b.View, slotList(items))
	case wire.TypeViewChange, wire.TypePrepare:
		v, _ := decodeViewBody(env.Body)
		s += fmt.Sprintf(" v%d", v)
	case wire.TypePromise:
		b, _ := decodePromise(env.Body)
		s += fmt.Sprintf(" v%d checkpoint=%d prepared=", b.View, b.CP.Slot)
		if len(b.Prepared) == 0 {
			s += "none"
		}
		for k, p := range b.Prepared {
			if k > 0 {
				s += ","
			}
			s += fmt.Sprintf("%d:%s@v%d", p.Slot, h.digestLabel(p.Digest), p.View)
		}
	case wire.TypeNewView:
		b, _ := decodeNewView(env.Body)
		s += fmt.Sprintf(" v%d promises from %s", b.View, senders(b.Promises))
	case wire.TypeCheckpoint:
		b, _ := decodeCheckpoint(env.Body)
		s += fmt.Sprintf(" slot %d app state %s", b.Slot, short(b.App))
	case wire.TypeEvidence:
		ev, _ := DecodeEvidence(env.Body)
		s += fmt.Sprintf(" %s by %d", ev.Kind, ev.Offender)
	}
	return s
}

// slotList joins "slot:value" items, eliding the middle of long lists.
func slotList(items []string) string {
	if len(items) > 4 {
		return fmt.Sprintf("%s %s .. %s (%d slots)", items[0], items[1], items[len(items)-1], len(items))
	}
	return strings.Join(items, " ")
}
