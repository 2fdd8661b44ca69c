// Package adversary is the cheats paxsync's tests, match runner and demo
// play: each is a real peer running the honest session with one behaviour
// changed through internal/hooks, so what detects it in a test is what
// would detect it in a match. Nothing outside this module can import it,
// and an honest session carries none of it.
package adversary

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/hooks"
	"github.com/paxsync/paxsync/transport"
)

// Kind names a misbehaviour (the match runner's scenario kinds).
type Kind string

// Cheat kinds.
const (
	InvalidMove     Kind = "invalid-move"     // Cheat.Mutate rewrites own inputs (e.g. arena.SpeedHackInput)
	ForgeInput      Kind = "forge-input"      // signs an input for seat Cheat.Target
	EquivocateInput Kind = "equivocate-input" // two different signed inputs for one tick
	StateHashLie    Kind = "state-hash-lie"   // signs a wrong state hash at checkpoints
	ReplayInput     Kind = "replay-input"     // re-broadcasts old signed inputs
	Garbage         Kind = "garbage"          // broadcasts malformed bytes
	Flood           Kind = "flood"            // 100× the normal message rate
	SilentLeader    Kind = "silent-leader"    // stops proposing while leader
	// EquivocateProposal: as leader, every proposal (the leader's own
	// Verify) also goes out in a conflicting, validly signed version sent
	// directly to every other seat.
	EquivocateProposal Kind = "equivocate-proposal"
	// DoubleVote: as acceptor, every own Verify and Confirm also goes out
	// in a conflicting, validly signed version.
	DoubleVote Kind = "double-vote"
	// TamperRelay: every other player's input this peer receives is
	// re-broadcast with one byte of its body altered (a relay that edits
	// what it forwards). Receivers see a bad signature delivered by this
	// peer: a local observation against the relay, never a verdict against
	// the player whose message was altered.
	TamperRelay Kind = "tamper-relay"
	// Lookahead (sealed mode only): each input is also sealed a second time
	// as a different input; once its commitment is ordered, the cheater
	// holds back its reveal until it holds every other seat's reveal for
	// the tick (it has seen their inputs), then reveals the other
	// sealing's key. The key does not open the ordered commitment: every
	// engine reaches reveal-mismatch, and the input is not applied.
	Lookahead Kind = "lookahead"
	// WithholdReveal (sealed mode only): the peer commits honestly, waits
	// for the others' reveals and never reveals its own: the free abort
	// of commit-reveal. The other seats' key shares open its commitment
	// anyway (docs/PROTOCOL.md, "Sealed mode: no free abort"): every engine applies the committed
	// input and records withheld-reveal.
	WithholdReveal Kind = "withhold-reveal"

	// The four kinds below attack the honest peers' memory, bandwidth and
	// catch-up rather than the game (attack.go).

	// VoteFlood: besides its honest votes, the peer signs fat Confirms and
	// Verifies (4096 (slot, digest) pairs each) over a wide range of slots
	// in many views ahead of the current one, as many per second as its
	// rate budget at the other peers leaves room for. No proof, just
	// memory and bandwidth.
	VoteFlood Kind = "vote-flood"
	// EvidenceBait: rounds of one fat Verify and then one-pair Verifies,
	// each naming another of its slots with a different digest, every
	// round in a new view, at vote-flood's rate. Every one-pair Verify
	// proves vote-equivocation.
	EvidenceBait Kind = "evidence-bait"
	// StreamFlood: the peer keeps as many raw streams as it can open to
	// every other peer, on the message and the sync protocol, each
	// announcing a frame of about 1 MB and then sending nothing more.
	StreamFlood Kind = "stream-flood"
	// BadSync: the peer answers every sync request with a forged SyncState
	// as large as the requester accepts, and claims (in a signed Confirm
	// naming a slot far past the others' window) to be ahead, so that the
	// others keep asking it.
	BadSync Kind = "bad-sync"

	// The three kinds below abuse the leader's power over what each batch
	// holds and when (leader.go); they act only while the peer leads.

	// CensorInput: every batch marks seat Target (default: the next seat)
	// "no input", although the leader holds its input. Sealed, it also
	// ignores the victim's commitments, so that none is ever ordered and
	// the victim never has a reveal to be left out.
	CensorInput Kind = "censor-input"
	// SlowLeader: orders one tick at a time, each just before the old
	// stall bound (every 1.5 s), so that no timeout fires.
	SlowLeader Kind = "slow-leader"
	// SuppressEvidence: leaves out of every batch the evidence against
	// itself or seat Target (default: itself only) and their state hashes.
	SuppressEvidence Kind = "suppress-evidence"
	// ForgeLog serves spectators an altered log: the first entry of every
	// answer changed (or the snapshot, when it has no entry), its
	// certificate left as it was. Every spectator it serves must drop it
	// (paxsync.SpectatorStats.Forgeries); the players see nothing.
	ForgeLog Kind = "forge-log"
)

// Kinds lists every kind, in the order above.
func Kinds() []Kind {
	return []Kind{InvalidMove, ForgeInput, EquivocateInput, StateHashLie, ReplayInput, Garbage, Flood, SilentLeader,
		EquivocateProposal, DoubleVote, TamperRelay, Lookahead, VoteFlood, EvidenceBait, StreamFlood, BadSync,
		CensorInput, SlowLeader, SuppressEvidence, WithholdReveal, ForgeLog}
}

// Cheat configures a peer to misbehave from FromTick on.
type Cheat struct {
	Kind     Kind
	FromTick uint64
	// Target is the victim seat of forge-input and censor-input (default:
	// the next seat) and the ally of suppress-evidence (default: none).
	Target int
	// Mutate turns an honest input into the cheating one (invalid-move).
	Mutate func(input []byte) []byte
}

// check validates c for seat of n in a match that is sealed or not, and
// returns a copy with its defaults filled (forge-input's Target); nil
// stays nil. Errors wrap paxsync.ErrBadConfig.
func check(ch *Cheat, seat, n int, sealed bool) (*Cheat, error) {
	if ch == nil {
		return nil, nil
	}
	c := *ch
	switch c.Kind {
	case InvalidMove:
		if c.Mutate == nil {
			return nil, fmt.Errorf("%w: Cheat.Mutate: required for %s", paxsync.ErrBadConfig, c.Kind)
		}
	case ForgeInput, CensorInput:
		if c.Target == seat || c.Target < 0 || c.Target >= n {
			c.Target = (seat + 1) % n
		}
	case SuppressEvidence:
		if c.Target < 0 || c.Target >= n {
			c.Target = seat
		}
	case Lookahead, WithholdReveal:
		if !sealed {
			return nil, fmt.Errorf("%w: Cheat.Kind: %s needs Sealed (there is nothing to look ahead of without commitments)", paxsync.ErrBadConfig, c.Kind)
		}
	default:
		known := false
		for _, k := range Kinds() {
			known = known || k == c.Kind
		}
		if !known {
			return nil, fmt.Errorf("%w: Cheat.Kind: unknown kind %q", paxsync.ErrBadConfig, c.Kind)
		}
	}
	return &c, nil
}

// Player is the adversary of one session: its cheat (which SetCheat may
// change while the match runs) and the state its cheats keep. Its hooks
// run on the session's runtime goroutine, except the sync answers
// (bad-sync), which run on the transport's; mu guards what both share.
type Player struct {
	cfg  paxsync.Config
	seat int
	n    int

	mu        sync.Mutex
	cheats    []*Cheat   // what it plays, at once (several kinds may combine)
	status    bft.Status // the node's last status (beat), for outbound and the sync answers
	clockTick uint64     // the local clock at the last beat
	signer    *crypto.Signer
	// syncSigner signs bad-sync's answers on the transport's goroutine
	// (crypto.Signer is not safe for concurrent use).
	syncSigner *crypto.Signer

	// Runtime-goroutine state.
	history   []crypto.Envelope // recent inputs seen, for replay-input
	flood     *crypto.Envelope
	lookahead map[uint64]crypto.SealKey // held-back wrong reveals by tick
	lureAt    time.Time
	atk       attackGen
	syncPad   []byte
	padDigest crypto.Digest
	slowLast  time.Time // slow-leader's last proposal
}

// Join joins a match like paxsync.Join, with this peer playing c (nil:
// honest until SetCheat). The Player is how a test or the demo changes the
// cheat mid-match.
func Join(ctx context.Context, cfg paxsync.Config, c *Cheat) (*paxsync.Session, *Player, error) {
	var cs []Cheat
	if c != nil {
		cs = []Cheat{*c}
	}
	return JoinAll(ctx, cfg, cs)
}

// JoinAll is Join with several cheats played at once (e.g. invalid-move
// and suppress-evidence): each acts as it would alone.
func JoinAll(ctx context.Context, cfg paxsync.Config, cs []Cheat) (*paxsync.Session, *Player, error) {
	n := len(cfg.Roster)
	seat := -1
	if cfg.Key != nil {
		for i, k := range cfg.Roster {
			if k == cfg.Key.Public() {
				seat = i
			}
		}
	}
	p := &Player{cfg: cfg, n: n, seat: seat}
	for i := range cs {
		ch, err := check(&cs[i], max(seat, 0), max(n, 1), cfg.Sealed)
		if err != nil {
			return nil, nil, err
		}
		p.cheats = append(p.cheats, ch)
	}
	set := &hooks.Set{
		Bind: p.bind, Core: p.coreHooks(), Outbound: p.outbound,
		Transport: func(t transport.Transport) transport.Transport { return syncTransport{t, p} },
		Start:     p.runStreamFlood,
		Spectate:  p.spectate,
	}
	s, err := hooks.JoinWith(ctx, cfg, set)
	if err != nil {
		return nil, nil, err
	}
	return s.(*paxsync.Session), p, nil
}

func (p *Player) bind(b hooks.Binding) {
	p.seat, p.n = b.Seat, b.N
	p.signer = crypto.NewSigner(p.cfg.Key, b.Match, uint16(b.Seat))
	p.syncSigner = crypto.NewSigner(p.cfg.Key, b.Match, uint16(b.Seat))
}

// SetCheat replaces the cheat this peer plays; nil turns cheating off. It
// takes effect from the next sampled tick (inputs already signed and sent
// stay as they were); FromTick keeps its meaning. c is copied and
// validated (forge-input's Target defaults to the next seat); an invalid
// cheat is refused with an error wrapping paxsync.ErrBadConfig and the old
// one stays.
func (p *Player) SetCheat(c *Cheat) error {
	ch, err := check(c, p.seat, p.n, p.cfg.Sealed)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cheats = nil
	if ch != nil {
		p.cheats = []*Cheat{ch}
	}
	p.mu.Unlock()
	return nil
}

// playing returns the cheat if it is kind and active at tick.
func (p *Player) playing(kind Kind, tick uint64) *Cheat {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cheats {
		if c.Kind == kind && tick >= c.FromTick {
			return c
		}
	}
	return nil
}

// plays reports whether any of the current cheats is one of kinds.
func (p *Player) plays(kinds ...Kind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cheats {
		for _, k := range kinds {
			if c.Kind == k {
				return true
			}
		}
	}
	return false
}
