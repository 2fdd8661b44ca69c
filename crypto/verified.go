package crypto

import (
	"crypto/sha256"
	"sync"
)

// verifiedSetSize is how many recently verified envelopes a Verifier
// remembers: several seconds of a 16-player match at 60 ticks/s (inputs,
// votes, state hashes), about 600 KiB.
const verifiedSetSize = 8192

// verifiedKey identifies one verified envelope: SHA-256 over exactly what
// the signature covers (domain tag, match, type, sender, body) and the
// signature itself. Two envelopes with the same key are the same signed
// statement, so a key in the set means "this signature checked out".
func verifiedKey(signed []byte, sig *Signature) Digest {
	h := sha256.New()
	h.Write(signed)
	h.Write(sig[:])
	var d Digest
	h.Sum(d[:0])
	return d
}

// verifiedSet is a bounded set of verifiedKeys, oldest evicted first. It
// only ever holds envelopes whose signature verified, so a forged envelope
// can never be answered from it; an attacker can at most evict entries,
// which costs honest peers a re-verification, never a wrong answer.
type verifiedSet struct {
	mu   sync.Mutex
	set  map[Digest]struct{}
	ring []Digest
	pos  int
}

func newVerifiedSet(size int) *verifiedSet {
	return &verifiedSet{set: make(map[Digest]struct{}, size), ring: make([]Digest, 0, size)}
}

func (s *verifiedSet) has(k Digest) bool {
	s.mu.Lock()
	_, ok := s.set[k]
	s.mu.Unlock()
	return ok
}

func (s *verifiedSet) add(k Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[k]; ok {
		return
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, k)
	} else {
		delete(s.set, s.ring[s.pos])
		s.ring[s.pos] = k
		s.pos = (s.pos + 1) % len(s.ring)
	}
	s.set[k] = struct{}{}
}
