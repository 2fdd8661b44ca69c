package adversary

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/wire"
)

// attackPlayer is a player shell for the attack generators: seat 3 of
// 4 at 60 Hz, its consensus at view 5 with slot 100 committed.
func attackPlayer(t *testing.T, kind Kind) (*Player, *crypto.Verifier) {
	t.Helper()
	p, vrf, _ := attackPlayerKeys(t, kind)
	return p, vrf
}

func attackPlayerKeys(t *testing.T, kind Kind) (*Player, *crypto.Verifier, []*crypto.PrivateKey) {
	t.Helper()
	keys, roster := testRoster(t, 4)
	match := crypto.NewMatchID("m", roster)
	p := &Player{seat: 3, n: 4, cfg: paxsync.Config{TickRate: 60},
		signer: crypto.NewSigner(keys[3], match, 3), syncSigner: crypto.NewSigner(keys[3], match, 3)}
	p.status.View, p.status.Committed = 5, 100
	if kind != "" {
		if err := p.SetCheat(&Cheat{Kind: kind}); err != nil {
			t.Fatal(err)
		}
	}
	return p, crypto.NewVerifier(match, roster), keys
}

// votePairs decodes a Verify/Confirm body far enough to check its shape.
func votePairs(t *testing.T, body []byte) (view uint64, slots []uint64) {
	t.Helper()
	r := wire.NewReader(body)
	view = r.Uvarint("view")
	n := r.Uvarint("count")
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		slots = append(slots, r.Uvarint("slot"))
		r.Bytes32("digest")
	}
	if err := r.Done(); err != nil {
		t.Fatalf("vote body: %v", err)
	}
	return view, slots
}

// TestAttackPacing: the attacks send at their rate, never bursting past
// attackMaxBurst of it, and the count does not depend on how often the
// hook runs.
func TestAttackPacing(t *testing.T) {
	var g attackGen
	t0 := time.Unix(100, 0)
	if n := g.due(t0, 600); n != 0 {
		t.Fatalf("first call: %d due", n)
	}
	total := 0
	for i := 1; i <= 100; i++ { // one second in 10 ms steps
		total += g.due(t0.Add(time.Duration(i)*10*time.Millisecond), 600)
	}
	if total < 599 || total > 600 {
		t.Fatalf("%d messages in a second at 600/s", total)
	}
	if n := g.due(t0.Add(time.Hour), 600); n != 60 {
		t.Fatalf("after an hour idle: %d due, want the 100 ms burst (60)", n)
	}
	s, _ := attackPlayer(t, "")
	if r := attackRate(s.cfg); r != 600 {
		t.Fatalf("attack rate at 60 Hz: %v, want the 960/s budget less 360", r)
	}
}

// TestVoteFloodMessages: only a vote-flood cheater adds messages; they are
// fat votes of its own seat in bft's encoding, Confirms and Verifies, in
// views ahead of the current one, covering the honest window's edge.
func TestVoteFloodMessages(t *testing.T) {
	honest, _ := attackPlayer(t, "")
	t0 := time.Unix(100, 0)
	if out := honest.attackMessages(t0); out != nil {
		t.Fatalf("honest session: %d attack messages", len(out))
	}
	s, _ := attackPlayer(t, VoteFlood)
	s.attackMessages(t0)
	out := s.attackMessages(t0.Add(50 * time.Millisecond))
	if len(out) != 30 {
		t.Fatalf("%d messages in 50 ms, want 30 (600/s)", len(out))
	}
	types := map[wire.Type]int{}
	for _, m := range out {
		if m.To != bft.Broadcast || m.Env.Sender != 3 {
			t.Fatalf("sent to %d by %d", m.To, m.Env.Sender)
		}
		if _, ok := conflicting(m.Env, s.signer); !ok {
			t.Fatal("bft does not take the vote as one of this seat's")
		}
		types[m.Env.Type]++
		view, slots := votePairs(t, m.Env.Body)
		if view < 5+attackViewFirst || view >= 5+attackViewFirst+attackViews {
			t.Fatalf("view %d", view)
		}
		if len(slots) != attackPairs || slots[0] > 100+attackAhead || slots[len(slots)-1] != slots[0]+attackPairs-1 {
			t.Fatalf("%d slots from %d", len(slots), slots[0])
		}
	}
	if types[wire.TypeConfirm] != 15 || types[wire.TypeVerify] != 15 {
		t.Fatalf("types %v", types)
	}
	if err := s.SetCheat(&Cheat{Kind: VoteFlood, FromTick: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	if out := s.attackMessages(t0.Add(time.Second)); out != nil {
		t.Fatalf("before FromTick: %d messages", len(out))
	}
}

// TestEvidenceBaitProves: every one-pair Verify of a round conflicts with
// the round's fat Verify, as evidence that checks (vote-equivocation: the
// view is not one the cheater leads), and the next round is in a new view.
func TestEvidenceBaitProves(t *testing.T) {
	s, vrf := attackPlayer(t, EvidenceBait)
	const round = 1 + attackAhead + attackBelow
	var fat crypto.Envelope
	views := map[uint64]bool{}
	for i := 0; i < 2*round; i++ {
		env := s.evidenceBait(s.status.View, s.status.Committed)
		s.atk.seq++
		view, slots := votePairs(t, env.Body)
		if i%round == 0 {
			if len(slots) != baitPairs || slots[0] != 100+1-attackBelow || view%4 == 3 || views[view] {
				t.Fatalf("fat Verify: view %d, %d slots from %d", view, len(slots), slots[0])
			}
			views[view], fat = true, env
			continue
		}
		if len(slots) != 1 {
			t.Fatalf("message %d names %d slots", i, len(slots))
		}
		ev := bft.Evidence{Kind: bft.VoteEquivocation, Offender: 3, A: fat, B: env}
		if err := ev.Check(vrf); err != nil {
			t.Fatalf("message %d (slot %d): %v", i, slots[0], err)
		}
	}
}

// TestBadSyncAnswer: a bad-sync cheater answers with a SyncState that
// decodes, starts at the requested slot, is as large as the requester
// accepts, and is refused by bft's check; an honest session leaves the
// request to the driver.
func TestBadSyncAnswer(t *testing.T) {
	honest, _ := attackPlayer(t, "")
	if _, ok := honest.badSync(binary.AppendUvarint(nil, 41)); ok {
		t.Fatal("honest session forged a sync answer")
	}
	s, vrf, keys := attackPlayerKeys(t, BadSync)
	if _, ok := s.badSync(nil); ok {
		t.Fatal("answered a malformed request")
	}
	resp, ok := s.badSync(binary.AppendUvarint(nil, 41))
	if !ok || len(resp) > syncResponseLimit || len(resp) < syncResponseLimit/2 {
		t.Fatalf("answer: %v, %d bytes (limit %d)", ok, len(resp), syncResponseLimit)
	}
	st, err := bft.DecodeSyncState(resp)
	if err != nil || len(st.Entries) == 0 || st.Entries[0].Slot != 42 {
		t.Fatalf("decoded: %v, %+v", err, st)
	}
	nd, err := bft.NewNode(bft.Config{Seat: 0, N: 4, F: 1, Signer: crypto.NewSigner(keys[0], vrf.Match(), 0), Verifier: vrf}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = s.badSync(binary.AppendUvarint(nil, 0)) // from the node's next slot: the certificate is checked
	if st, err = bft.DecodeSyncState(resp); err != nil {
		t.Fatal(err)
	}
	if err := nd.ApplySync(st); !errors.Is(err, bft.ErrBadSync) {
		t.Fatalf("ApplySync: %v, want ErrBadSync", err)
	}
	if c := nd.Status().Committed; c != 0 {
		t.Fatalf("forged state applied: committed %d", c)
	}
}

// noInputs is a lockstep.Inputs with nothing submitted.
type noInputs struct{}

func (noInputs) Take(uint64) ([]byte, bool) { return nil, false }
func (noInputs) Open(uint64)                {}

// lureCore is a lockstep core of p's seat whose Beat hook is p's
// badSyncLure alone; lure steps it once at now, its consensus at view 5
// with slot 100 committed, and returns what the lure sent.
func lureCore(t *testing.T, p *Player, keys []*crypto.PrivateKey, vrf *crypto.Verifier) (lure func(now time.Time) []lockstep.Out) {
	t.Helper()
	game, err := arena.New(p.n, 1)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := gamestate.NewEngine(game, gamestate.Config{Verifier: vrf, TickRate: p.cfg.TickRate})
	if err != nil {
		t.Fatal(err)
	}
	var out []lockstep.Out
	c := lockstep.New(lockstep.Config{
		Seat: p.seat, N: p.n, Match: vrf.Match(), Verifier: vrf, Signer: crypto.NewSigner(keys[p.seat], vrf.Match(), uint16(p.seat)),
		Engine: engine, Mode: lockstep.Ordered, Interval: time.Second / time.Duration(p.cfg.TickRate), HashInterval: 30,
		Inputs: noInputs{},
		Hooks: &lockstep.Hooks{Beat: func(tl *lockstep.Tools, now time.Time) []lockstep.Out {
			out = p.badSyncLure(tl, now)
			return out
		}},
	})
	return func(now time.Time) []lockstep.Out {
		out = nil
		c.Step(now, bft.Status{View: 5, Committed: 100}, false)
		c.Ready()
		return out
	}
}

// TestBadSyncLure: a bad-sync cheater claims, at most every
// badSyncLureEvery, a Confirm of its own past the honest window. The lure
// runs in a real lockstep core's Beat hook (it needs its Tools).
func TestBadSyncLure(t *testing.T) {
	honest, vrf, keys := attackPlayerKeys(t, "")
	now := time.Unix(100, 0)
	if out := lureCore(t, honest, keys, vrf)(now); out != nil {
		t.Fatal("honest session lured")
	}
	s, vrf, keys := attackPlayerKeys(t, BadSync)
	lure := lureCore(t, s, keys, vrf)
	out := lure(now)
	if len(out) != 1 || out[0].Env.Type != wire.TypeConfirm || out[0].Env.Sender != 3 || out[0].Direct {
		t.Fatalf("lure %+v", out)
	}
	if err := vrf.Verify(&out[0].Env); err != nil {
		t.Fatalf("lure not signed by seat 3: %v", err)
	}
	if view, slots := votePairs(t, out[0].Env.Body); view != 5 || len(slots) != 1 || slots[0] != 100+badSyncLureAhead {
		t.Fatalf("lure names view %d slots %v", view, slots)
	}
	if out := lure(now.Add(badSyncLureEvery / 2)); out != nil {
		t.Fatal("lured again too soon")
	}
	if out := lure(now.Add(badSyncLureEvery)); len(out) != 1 {
		t.Fatal("no lure after the interval")
	}
}
