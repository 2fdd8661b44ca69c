package bft

import (
	"math/rand"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// Byzantine strategies. A Byzantine seat runs the honest state machine (so
// it stays in step with the protocol) and this code rewrites what it sends
// or adds messages it was never meant to send, signed with its own key.

func (s *sim) byzSend(sn *simNode, m Message) {
	env := m.Env
	switch s.byz {
	case "silent":
		return
	case "equiv-leader":
		if alt, ok := s.altProposal(sn, env); ok {
			s.split(sn, m.To, env, alt)
			return
		}
	case "equiv-acceptor":
		if env.Type == wire.TypeVerify || env.Type == wire.TypeConfirm {
			if vb, err := decodeVote(env.Body); err == nil && len(vb.Pairs) > 0 {
				for i := range vb.Pairs {
					vb.Pairs[i].Digest = crypto.Sum(vb.Pairs[i].Digest[:], []byte("lie"))
				}
				alt := sn.signer.Sign(env.Type, vb.encode())
				s.route(sn.seat, m.To, env)
				// the lie goes to a random non-empty subset of the others
				for i := 0; i < s.p.n; i++ {
					if uint16(i) != sn.seat && s.rng.Intn(2) == 0 {
						s.deliver(sn.seat, uint16(i), alt)
					}
				}
				return
			}
		}
	case "partial-leader":
		if isProposal(sn, env) {
			skip := 1 + s.rng.Intn(s.p.n-2)
			for i := 0; i < s.p.n; i++ {
				if uint16(i) == sn.seat {
					continue
				}
				if skip > 0 && s.rng.Intn(2) == 0 {
					skip--
					continue
				}
				s.deliver(sn.seat, uint16(i), env)
			}
			return
		}
	case "byz-confirm":
		s.byzConfirmSend(sn, m)
		return
	case "forger":
		s.route(sn.seat, m.To, env)
		to := uint16(s.rng.Intn(s.p.n))
		bad := env
		bad.Body = append([]byte(nil), env.Body...)
		if len(bad.Body) > 0 {
			bad.Body[s.rng.Intn(len(bad.Body))] ^= 0x20 // corrupted in flight, signature kept
		}
		s.deliver(sn.seat, to, bad)
		imp := env
		imp.Sender = uint16(s.rng.Intn(s.p.n)) // impersonation with a made-up signature
		s.rng.Read(imp.Sig[:])
		s.deliver(sn.seat, to, imp)
		return
	}
	s.route(sn.seat, m.To, env)
}

func isProposal(sn *simNode, env crypto.Envelope) bool {
	switch env.Type {
	case wire.TypeAccept:
		return true
	case wire.TypeVerify:
		vb, err := decodeVote(env.Body)
		return err == nil && sn.node.leaderOf(vb.View) == sn.seat && len(vb.Pairs) > 0
	}
	return false
}

// altProposal makes a conflicting twin of the leader's own Accept or
// proposal Verify: same slots, different (valid) batches.
func (s *sim) altProposal(sn *simNode, env crypto.Envelope) (crypto.Envelope, bool) {
	if !isProposal(sn, env) {
		return env, false
	}
	alter := func(slot uint64, v []byte) []byte {
		val, err := decodeValue(v, sn.cfg.MaxValueSize)
		if err != nil {
			return v
		}
		val.Payload = append([]byte(nil), val.Payload...)
		if len(val.Payload) == 0 {
			val.Payload = makeBatch(s.rngFor(slot), s.p.n, 1, uint32(slot))
		} else {
			val.Payload = makeBatch(s.rngFor(slot), s.p.n, len(val.Payload)/inputSize, uint32(slot)|1<<31)
		}
		return val.encode()
	}
	if env.Type == wire.TypeAccept {
		ab, err := decodeAccept(env.Body, sn.cfg.maxValueBytes())
		if err != nil {
			return env, false
		}
		for i := range ab.Values {
			ab.Values[i] = alter(ab.Slots[i], ab.Values[i])
		}
		return sn.signer.Sign(env.Type, ab.encode()), true
	}
	vb, _ := decodeVote(env.Body)
	for i, p := range vb.Pairs {
		ss := sn.node.slots[p.Slot]
		if ss == nil {
			continue
		}
		if v, ok := ss.values[p.Digest]; ok {
			vb.Pairs[i].Digest = crypto.Sum(alter(p.Slot, v))
		}
	}
	return sn.signer.Sign(env.Type, vb.encode()), true
}

// rngFor gives the same alternative batch for a slot every time, so the
// alternative Accept and Verify match each other.
func (s *sim) rngFor(slot uint64) *rand.Rand {
	return rand.New(rand.NewSource(s.p.seed*1_000_003 + int64(slot)))
}

// split sends a to one half of the others and b to the other half.
func (s *sim) split(sn *simNode, to int, a, b crypto.Envelope) {
	for i := 0; i < s.p.n; i++ {
		if uint16(i) == sn.seat || (to != Broadcast && to != i) {
			continue
		}
		if i%2 == 0 {
			s.deliver(sn.seat, uint16(i), a)
		} else {
			s.deliver(sn.seat, uint16(i), b)
		}
	}
}

// byzInject adds unsolicited messages for the strategies that send junk.
func (s *sim) byzInject(sn *simNode) {
	if sn.byz && s.byz == "byz-confirm" {
		s.byzConfirmInject(sn)
		return
	}
	if !sn.byz || s.rng.Intn(3) != 0 {
		return
	}
	to := uint16(s.rng.Intn(s.p.n))
	v := sn.node.view
	switch s.byz {
	case "stale-future":
		rs := func() []pair {
			return []pair{{Slot: uint64(s.rng.Intn(1 << 20)), Digest: crypto.Sum([]byte{byte(s.rng.Intn(256))})}}
		}
		views := []uint64{v - min(v, 1), v + 3, v + 5000}
		vw := views[s.rng.Intn(len(views))]
		msgs := []crypto.Envelope{
			sn.signer.Sign(wire.TypeVerify, (&voteBody{View: vw, Pairs: rs()}).encode()),
			sn.signer.Sign(wire.TypeConfirm, (&voteBody{View: vw, Pairs: rs()}).encode()),
			sn.signer.Sign(wire.TypeViewChange, viewBody(vw)),
			sn.signer.Sign(wire.TypePrepare, viewBody(vw)),
			sn.signer.Sign(wire.TypePromise, (&promiseBody{View: vw}).encode()),
			sn.signer.Sign(wire.TypeNewView, (&newViewBody{View: vw}).encode()),
			sn.signer.Sign(wire.TypeCheckpoint, (&checkpointBody{Slot: uint64(s.rng.Intn(1<<30)) * 8}).encode()),
			sn.signer.Sign(wire.TypeAccept, (&acceptBody{View: vw, Slots: []uint64{1 << 40}, Values: [][]byte{{1}}}).encode()),
		}
		s.deliver(sn.seat, to, msgs[s.rng.Intn(len(msgs))])
	case "garbage":
		body := make([]byte, s.rng.Intn(200))
		s.rng.Read(body)
		t := wire.Type(s.rng.Intn(12))
		env := sn.signer.Sign(t, body)
		if s.rng.Intn(2) == 0 {
			s.rng.Read(env.Sig[:])
		}
		s.deliver(sn.seat, to, env)
	}
}
