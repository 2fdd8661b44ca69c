package paxsync

import (
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// cheatState is what a cheating peer keeps to misbehave. Honest sessions
// carry it too (empty): the cheats run on the honest code path, so tests
// exercise real detection rather than simulated verdicts.
type cheatState struct {
	history []crypto.Envelope // recent inputs seen, for replay-input
	flood   *crypto.Envelope
}

// SetCheat replaces the cheat this peer plays (Config.Cheat), for demos
// and tests: nil turns cheating off. It takes effect from the next sampled
// tick (inputs already signed and sent stay as they were); FromTick keeps
// its meaning, so a cheat with FromTick 0 starts at once. c is copied and
// validated like Config.Cheat (forge-input's Target defaults to the next
// seat); an invalid cheat (unknown Kind, invalid-move without Mutate) is
// refused with an error wrapping ErrBadConfig and the old cheat stays.
func (s *Session) SetCheat(c *Cheat) error {
	ch, err := checkCheat(c, s.seat, s.n)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cheatCfg = ch
	return nil
}

// cheating reports whether this peer plays kind at tick. Called with mu
// held, like every reader of cheatCfg.
func (s *Session) cheating(kind CheatKind, tick uint64) bool {
	c := s.cheatCfg
	return c != nil && c.Kind == kind && tick >= c.FromTick
}

// remember keeps recent inputs of anyone, for the replay-input cheat.
func (c *cheatState) remember(env crypto.Envelope) {
	if env.Type != wire.TypeInput {
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
// from this player's honest input data and its signed envelope.
func (s *Session) cheatInputs(tick uint64, data []byte, honest crypto.Envelope) []outMsg {
	var out []outMsg
	if s.cheating(CheatForgeInput, tick) {
		// Signed by this seat for the victim's seat: proof of forgery.
		out = append(out, outMsg{env: s.signInput(s.cheatCfg.Target, tick, data)})
	}
	if s.cheating(CheatEquivocateInput, tick) {
		// A second, different input for the same tick, sent directly to
		// every other peer (the first went by broadcast).
		alt := append(append([]byte(nil), data...), 0xEE)
		out = append(out, outMsg{env: s.signInput(s.seat, tick, alt), direct: true})
	}
	s.cheat.remember(honest)
	return out
}
