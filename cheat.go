package paxsync

import (
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// cheatState is what a cheating peer keeps to misbehave. Honest sessions
// carry it too (empty): the cheats run on the honest code path, so tests
// exercise real detection rather than simulated verdicts.
type cheatState struct {
	history []crypto.Envelope // recent inputs seen, for replay-input
	flood   *crypto.Envelope
	// lookahead holds, by tick, the wrong key the lookahead cheat reveals
	// once it has seen the other seats' reveals (sealed.go).
	lookahead map[uint64]crypto.SealKey
	// The resource attacks (cheat_attack.go): stream-flood's goroutine
	// has started; bad-sync's junk value (and its digest) and when it
	// last claimed to be ahead.
	streamFlood   bool
	syncPad       []byte
	syncPadDigest crypto.Digest
	lureAt        time.Time
}

// SetCheat replaces the cheat this peer plays (Config.Cheat), for demos
// and tests: nil turns cheating off. It takes effect from the next sampled
// tick (inputs already signed and sent stay as they were); FromTick keeps
// its meaning, so a cheat with FromTick 0 starts at once. c is copied and
// validated like Config.Cheat (forge-input's Target defaults to the next
// seat); an invalid cheat (unknown Kind, invalid-move without Mutate) is
// refused with an error wrapping ErrBadConfig and the old cheat stays.
func (s *Session) SetCheat(c *Cheat) error {
	ch, err := checkCheat(c, s.seat, s.n, s.cfg.Sealed)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cheatCfg = ch
	s.consCheat.Store(isConsensusCheat(ch))
	return nil
}

// cheating reports whether this peer plays kind at tick. Called with mu
// held, like every reader of cheatCfg.
func (s *Session) cheating(kind CheatKind, tick uint64) bool {
	c := s.cheatCfg
	return c != nil && c.Kind == kind && tick >= c.FromTick
}

// remember keeps recent inputs of anyone (in sealed mode: sealed inputs
// and reveals), for the replay-input cheat.
func (c *cheatState) remember(env crypto.Envelope) {
	if !isInputType(env.Type) {
		return
	}
	if len(c.history) >= 128 {
		c.history = append(c.history[:0], c.history[64:]...)
	}
	c.history = append(c.history, env)
}

// replays re-sends a few old signed inputs (its own and others').
func (c *cheatState) replays() []outMsg {
	var out []outMsg
	if len(c.history) > 32 {
		for _, e := range c.history[:4] {
			out = append(out, outMsg{env: e})
		}
		c.history = c.history[4:]
	}
	return out
}

// cheatInputs are the extra messages of the input cheats for tick, made
// from this player's honest input data and its signed envelope. In sealed
// mode the forged and the second input are sealed inputs (commitments),
// which prove the same cheats.
func (s *Session) cheatInputs(tick uint64, data []byte, honest crypto.Envelope) []outMsg {
	var out []outMsg
	if s.cheating(CheatForgeInput, tick) {
		// Signed by this seat for the victim's seat: proof of forgery.
		if !s.cfg.Sealed {
			out = append(out, outMsg{env: s.signInput(s.cheatCfg.Target, tick, data)})
		} else if env, _, err := s.sealInput(s.cheatCfg.Target, tick, data); err == nil {
			out = append(out, outMsg{env: env})
		}
	}
	if s.cheating(CheatEquivocateInput, tick) {
		// A second, different input for the same tick, sent directly to
		// every other peer (the first went by broadcast).
		alt := append(append([]byte(nil), data...), 0xEE)
		if !s.cfg.Sealed {
			out = append(out, outMsg{env: s.signInput(s.seat, tick, alt), direct: true})
		} else if env, key, err := s.sealInput(s.seat, tick, alt); err == nil {
			// Whichever of the two the log orders is the one revealed.
			s.pool.keepOwn(tick, ownSeal{body: env.Body, key: key})
			out = append(out, outMsg{env: env, direct: true})
		}
	}
	s.cheat.remember(honest)
	return out
}

// isConsensusCheat reports whether c is played by outbound (on bft's own
// messages) rather than on inputs.
func isConsensusCheat(c *Cheat) bool {
	return c != nil && (c.Kind == CheatEquivocateProposal || c.Kind == CheatDoubleVote ||
		c.Kind == CheatVoteFlood || c.Kind == CheatEvidenceBait)
}

// outbound is the driver's Outbound hook: every consensus message this
// node sends passes through it, after the WAL write and before sending.
// Honest (no consensus cheat set) it returns m unchanged. It runs on the
// driver goroutine, which is the only user of nodeSigner.
//
// equivocate-proposal: a proposal (own Verify naming slots, in a view this
// seat leads) goes out as usual, and a conflicting version for the same
// view and slots goes directly to every other seat, so every honest peer
// holds both (honest acceptors also relay each proposal once).
// double-vote: every own Verify or Confirm that is not a proposal is
// followed by a conflicting version sent the same way.
// vote-flood and evidence-bait: every message is followed by the attack
// messages due by then (attackMessages), paced to the rate budget.
func (s *Session) outbound(m bft.Message) []bft.Message {
	out := []bft.Message{m}
	if !s.consCheat.Load() {
		return out
	}
	out = append(out, s.attackMessages(time.Now())...)
	if m.Env.Type != wire.TypeVerify && m.Env.Type != wire.TypeConfirm {
		return out
	}
	s.mu.Lock()
	prop := s.cheating(CheatEquivocateProposal, s.clock)
	vote := s.cheating(CheatDoubleVote, s.clock)
	s.mu.Unlock()
	isProp := bft.IsProposal(m.Env, s.n)
	if !(prop && isProp) && !(vote && !isProp) {
		return out
	}
	alt, ok := bft.Conflicting(m.Env, s.nodeSigner)
	if !ok {
		return out
	}
	if m.To != bft.Broadcast || !isProp {
		return append(out, bft.Message{To: m.To, Env: alt})
	}
	for seat := 0; seat < s.n; seat++ {
		if seat != s.seat {
			out = append(out, bft.Message{To: seat, Env: alt})
		}
	}
	return out
}

// tampered is the tamper-relay cheat (mu held): another player's input
// (sealed input or reveal in sealed mode), re-published with the last byte
// of its body flipped, so its signature no longer holds. ok=false when this
// peer does not play it or env is not someone else's input.
func (s *Session) tampered(env crypto.Envelope) (crypto.Envelope, bool) {
	if !isInputType(env.Type) || int(env.Sender) == s.seat || len(env.Body) == 0 || !s.cheating(CheatTamperRelay, s.clock) {
		return env, false
	}
	body := append([]byte(nil), env.Body...)
	body[len(body)-1] ^= 0x01
	env.Body = body
	return env, true
}

// isInputType reports whether t is one of the messages by which a player
// speaks for its seat at a tick: an input, or a sealed input or reveal.
func isInputType(t wire.Type) bool {
	return t == wire.TypeInput || t == wire.TypeSealedInput || t == wire.TypeReveal
}
