package bft

// The transcript command language (see internal/transcript for the file
// format). Seats are numbers; lists are comma-separated (node=1,2).
//
//	cluster n=4 [f=1] [window=8] [checkpoint=4] [timeout=10] [resend=R] [checkpoints=manual]
//	    make n seats with Ed25519 keys from a fixed seed; with
//	    checkpoints=manual the app takes checkpoints only on "checkpoint"
//	propose node=N value=a[,b..] [count=K]   Propose at N (count: K values named value-<slot>)
//	tick [node=list] [count=K]               K rounds of Tick on each listed running seat
//	deliver [from=l] [to=l] [type=l] [drop]  one round: deliver (or drop) the matching queued messages
//	stabilize [from=l] [to=l] [type=l]       deliver rounds until no matching message is queued
//	crash node=l | isolate node=l | heal [node=l]
//	    crash: the seat stops (no Tick, Step or Ready) and messages to it are
//	    lost; isolate: it runs, but messages to and from it are lost; heal
//	    ends both (a crashed seat resumes with its memory intact)
//	suspect node=l                           Suspect at each listed seat
//	checkpoint [node=l]                      the app answers pending CheckpointDue (checkpoints=manual)
//	sync node=N [peer=M]                     N fetches SyncResponse from M (default: its NeedSync's first peer) and ApplySync's it
//	equivocate node=N to=l                   N's queued proposals to l are replaced by conflicting ones (bft.Conflicting)
//	status | log [node=l] | pending          seat positions, decided logs, queued messages
//
// After every command each running seat hands over its Ready; the output
// shows what it did: view changes, commits, evidence, checkpoints,
// NeedSync, snapshots. Messages are printed when delivered, one line per
// envelope and sender: "from->recipients summary", then "| seats: reason"
// for recipients whose Step refused it (bft's drop reasons) or that it
// could not reach (lost). The queue is FIFO; a re-send of a message that
// is still queued (same sender, recipient and envelope) is coalesced.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/transcript"
)

// tnet is the transcript harness: n nodes with Ed25519 keys from a fixed
// seed, a FIFO network queue the transcript delivers by hand, and per seat
// a toy application whose state is its decided log (a snapshot is that log
// as text, so a seat restored from a snapshot shows the same log).
type tnet struct {
	n       int
	nodes   []*Node
	signers []Signer
	apps    [][]string  // decided log per seat: "slot:label"
	down    []string    // "", "isolated" or "crashed"
	need    []*SyncNeed // last Ready.NeedSync per seat
	due     [][]uint64  // checkpoints due and not yet taken (checkpoints=manual)
	prev    []tstate    // last printed node state
	queue   []tmsg      // sent, not yet delivered
	labels  map[crypto.Digest]string
	manual  bool
	out     []string
}

type tmsg struct {
	from, to int
	env      crypto.Envelope
	id       [32]byte
}

type tstate struct {
	view, vcTarget, stable uint64
	active                 bool
}

func (h *tnet) printf(format string, a ...any) { h.out = append(h.out, fmt.Sprintf(format, a...)) }

// Run executes one transcript command and returns what it printed
// (transcript.Runner).
func (h *tnet) Run(a *transcript.Cmd) ([]string, error) {
	if a.Name != "cluster" && h.nodes == nil {
		return nil, errors.New("no cluster yet")
	}
	h.out = nil
	if err := h.exec(a.Name, a); err != nil {
		return nil, err
	}
	return h.out, nil
}

func (h *tnet) exec(cmd string, a *transcript.Cmd) error {
	all := make([]int, h.n)
	for i := range all {
		all[i] = i
	}
	seats := func(k string) ([]int, error) { return a.Seats(k, h.n, all) }
	switch cmd {
	case "cluster":
		return h.cluster(a)
	case "propose":
		return h.propose(a)
	case "tick":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		k, err := a.Int("count", 1)
		if err != nil {
			return err
		}
		for t := 1; t <= k; t++ {
			mark := len(h.out)
			for _, i := range ns {
				if h.down[i] != "crashed" {
					h.nodes[i].Tick()
				}
			}
			h.settle()
			if len(h.out) > mark {
				h.out = slices.Insert(h.out, mark, fmt.Sprintf("after tick %d:", t))
			}
		}
	case "deliver", "stabilize":
		from, err := seats("from")
		if err != nil {
			return err
		}
		to, err := seats("to")
		if err != nil {
			return err
		}
		types := strings.Split(a.Str("type", ""), ",")
		sel := func(m tmsg) bool {
			return slices.Contains(from, m.from) && slices.Contains(to, m.to) && (types[0] == "" || slices.Contains(types, typeName(m.env.Type)))
		}
		if cmd == "deliver" {
			h.round(sel, a.Has("drop"))
			break
		}
		for r := 0; slices.ContainsFunc(h.queue, sel); r++ {
			if r == 200 {
				return errors.New("stabilize: still busy after 200 rounds")
			}
			h.round(sel, false)
		}
	case "crash", "isolate", "heal":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		for _, i := range ns {
			if cmd == "heal" {
				h.down[i] = ""
			} else {
				h.down[i] = map[string]string{"crash": "crashed", "isolate": "isolated"}[cmd]
			}
		}
		h.settle()
	case "suspect":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		for _, i := range ns {
			h.nodes[i].Suspect()
		}
		h.settle()
	case "checkpoint":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		for _, i := range ns {
			for _, s := range h.due[i] {
				h.takeCheckpoint(i, s)
			}
			h.due[i] = nil
		}
		h.settle()
	case "equivocate":
		return h.equivocate(a)
	case "sync":
		return h.sync(a)
	case "status":
		for i, nd := range h.nodes {
			s := fmt.Sprintf("%d: view=%d leader=%d committed=%d stable=%d", i, nd.view, nd.leaderOf(nd.view), nd.committed, nd.stable.Slot)
			if !nd.active {
				s += " (waiting for NewView)"
			}
			if nd.vcTarget != 0 {
				s += fmt.Sprintf(" (voted for view %d)", nd.vcTarget)
			}
			if h.down[i] != "" {
				s += " [" + h.down[i] + "]"
			}
			h.printf("%s", s)
		}
		h.printf("pending messages: %d", len(h.queue))
	case "log":
		ns, err := seats("node")
		if err != nil {
			return err
		}
		for _, i := range ns {
			l := strings.Join(h.apps[i], " ")
			if l == "" {
				l = "(empty)"
			}
			h.printf("%d: %s", i, l)
		}
	case "pending":
		h.eachGroup(h.queue, func(g []tmsg) { h.printf("%s", h.groupLine(g)) })
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

// cluster n=N [f=F] [window=W] [checkpoint=K] [timeout=T] [resend=R] [checkpoints=manual]
func (h *tnet) cluster(a *transcript.Cmd) error {
	n, err := a.Int("n", 4)
	if err != nil {
		return err
	}
	f, err := a.Int("f", (n-1)/3)
	if err != nil {
		return err
	}
	cfg := Config{N: n, F: f}
	for _, p := range []struct {
		k   string
		def int
		dst *int
	}{{"window", 8, &cfg.Window}, {"timeout", 10, &cfg.ViewTimeoutTicks}, {"resend", 0, &cfg.ResendTicks}} {
		if *p.dst, err = a.Int(p.k, p.def); err != nil {
			return err
		}
	}
	k, err := a.Int("checkpoint", 4)
	if err != nil {
		return err
	}
	cfg.CheckpointInterval = uint64(k)
	*h = tnet{n: n, labels: map[crypto.Digest]string{noopDigest: "noop"}, manual: a.Str("checkpoints", "auto") == "manual",
		apps: make([][]string, n), down: make([]string, n), need: make([]*SyncNeed, n), due: make([][]uint64, n), prev: make([]tstate, n)}
	keys := make([]*crypto.PrivateKey, n)
	roster := make([]crypto.PublicKey, n)
	for i := range keys {
		seed := sha256.Sum256([]byte(fmt.Sprintf("paxsync transcript seat %d", i)))
		if keys[i], err = crypto.KeyFromSeed(seed[:]); err != nil {
			return err
		}
		roster[i] = keys[i].Public()
	}
	vrf := crypto.NewVerifier(crypto.NewMatchID("transcript", roster), roster)
	for i := range keys {
		c := cfg
		c.Seat, c.Signer, c.Verifier = uint16(i), crypto.NewSigner(keys[i], vrf.Match(), uint16(i)), vrf
		nd, err := NewNode(c, nil)
		if err != nil {
			return err
		}
		h.nodes, h.signers = append(h.nodes, nd), append(h.signers, c.Signer)
		h.prev[i] = h.state(i)
	}
	c := h.nodes[0].cfg
	h.printf("%d seats, f=%d, quorum %d, window %d, checkpoint every %d slots, view timeout %d ticks, resend every %d ticks",
		n, f, c.Quorum(), c.Window, c.CheckpointInterval, c.ViewTimeoutTicks, c.ResendTicks)
	h.settle()
	return nil
}

// propose node=N value=a[,b...] [count=K]: with count, K values named
// value-<slot> for the slots they should get.
func (h *tnet) propose(a *transcript.Cmd) error {
	i, err := a.Int("node", 0)
	if err != nil {
		return err
	}
	k, err := a.Int("count", 0)
	if err != nil {
		return err
	}
	vals := strings.Split(a.Str("value", "v"), ",")
	nd := h.nodes[i]
	if k > 0 {
		base, next := vals[0], max(nd.nextSlot, nd.committed+1)
		vals = nil
		for j := range uint64(k) {
			vals = append(vals, fmt.Sprintf("%s-%d", base, next+j))
		}
	}
	var done []string
	for _, v := range vals {
		if err := nd.Propose([]byte(v)); err != nil {
			h.printf("%d: propose %q refused: %v", i, v, err)
			continue
		}
		done = append(done, fmt.Sprintf("%d:%q", nd.nextSlot-1, v))
	}
	if done != nil {
		h.printf("%d: proposes in view %d: %s", i, nd.view, slotList(done))
	}
	h.settle()
	return nil
}

// equivocate node=N to=list: the leader N replaces its proposals still in
// flight to the listed seats with conflicting ones (bft.Conflicting).
func (h *tnet) equivocate(a *transcript.Cmd) error {
	i, err := a.Int("node", 0)
	if err != nil {
		return err
	}
	to, err := a.Seats("to", h.n, nil)
	if err != nil || to == nil {
		return fmt.Errorf("equivocate needs to=: %v", err)
	}
	for q := range h.queue {
		m := &h.queue[q]
		if m.from != i || !slices.Contains(to, m.to) || !IsProposal(m.env, h.n) {
			continue
		}
		alt, ok := Conflicting(m.env, h.signers[i])
		if !ok {
			continue
		}
		h.printf("%d->%d %s replaced by %s", m.from, m.to, h.summary(m.env), h.summary(alt))
		m.env, m.id = alt, envID(&alt)
	}
	return nil
}

// sync node=N [peer=M]: N asks M for what follows its log (where its last
// NeedSync said) and applies the answer, as the driver does.
func (h *tnet) sync(a *transcript.Cmd) error {
	i, err := a.Int("node", 0)
	if err != nil {
		return err
	}
	nd := h.nodes[i]
	after := nd.committed
	if need := h.need[i]; need != nil && need.From > 0 {
		after = need.From - 1
	}
	peer := -1
	if h.need[i] != nil && len(h.need[i].Peers) > 0 {
		peer = int(h.need[i].Peers[0])
	}
	if peer, err = a.Int("peer", peer); err != nil || peer < 0 || peer >= h.n {
		return fmt.Errorf("sync: no peer to ask (peer=%d, %v)", peer, err)
	}
	if h.down[i] != "" || h.down[peer] != "" {
		h.printf("%d cannot reach %d", i, peer)
		return nil
	}
	st, ok := h.nodes[peer].SyncResponse(after)
	if !ok {
		h.printf("%d asks %d for the log after slot %d: nothing to send", i, peer, after)
		return nil
	}
	cp, _ := decodeCheckpoint(st.Checkpoint)
	s := fmt.Sprintf("%d asks %d for the log after slot %d: no checkpoint", i, peer, after)
	if cp.Slot > 0 {
		s = fmt.Sprintf("%d asks %d for the log after slot %d: checkpoint %d signed by %s", i, peer, after, cp.Slot, senders(st.CheckpointCert))
	}
	if st.Snapshot != nil {
		s += fmt.Sprintf(", snapshot (%d entries)", len(decodeSnap(st.Snapshot)))
	}
	if len(st.Entries) > 0 {
		s += fmt.Sprintf(", entries %d-%d with %d confirms", st.Entries[0].Slot, st.Entries[len(st.Entries)-1].Slot, len(st.Confirms))
	}
	h.printf("%s", s)
	wireSt, err := DecodeSyncState(EncodeSyncState(st))
	if err != nil {
		return err
	}
	if err := nd.ApplySync(wireSt); err != nil {
		h.printf("%d: ApplySync: %v", i, err)
	} else {
		h.need[i] = nil
		h.printf("%d: ApplySync: ok", i)
	}
	h.settle()
	return nil
}
