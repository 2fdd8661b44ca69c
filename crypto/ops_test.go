package crypto

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/paxsync/paxsync/wire"
)

func TestOpsCountsSignsAndVerifies(t *testing.T) {
	k0, k1 := testKey(t, 1), testKey(t, 2)
	roster := []PublicKey{k0.Public(), k1.Public()}
	match := NewMatchID("ops", roster)
	s := NewSigner(k0, match, 0)
	v := NewVerifier(match, roster)

	before := Ops()
	var envs []Envelope
	for i := range 5 {
		envs = append(envs, s.Sign(wire.TypeVerify, []byte{byte(i)}))
	}
	for i := range envs {
		if err := v.Verify(&envs[i]); err != nil {
			t.Fatal(err)
		}
	}
	bad := envs[0]
	bad.Body = []byte{0xff}
	if err := v.Verify(&bad); err == nil {
		t.Fatal("altered body verified")
	}
	// Refused before any curve work: not a verification.
	unknown := envs[0]
	unknown.Sender = 9
	if err := v.Verify(&unknown); err == nil {
		t.Fatal("unknown sender verified")
	}
	if got, want := Ops().Sub(before), (OpCounts{Signs: 5, Verifies: 6}); got != want {
		t.Fatalf("Ops moved by %+v, want %+v", got, want)
	}
}

func TestMeasureCostIsNotCounted(t *testing.T) {
	before := Ops()
	sign, verify := MeasureCost(20 * time.Millisecond)
	if d := Ops().Sub(before); d != (OpCounts{}) {
		t.Errorf("MeasureCost counted %+v in Ops", d)
	}
	// Ed25519 costs tens of µs on any machine this runs on; zero or a
	// second would mean the loop measured nothing or everything.
	for name, c := range map[string]time.Duration{"sign": sign, "verify": verify} {
		if c <= 0 || c > 10*time.Millisecond {
			t.Errorf("%s cost %v is not plausible", name, c)
		}
	}
	if s, v := MeasureCost(0); s <= 0 || v <= 0 {
		t.Errorf("MeasureCost(0) = %v, %v; want at least one timed op each", s, v)
	}
}

// TestVerifierRemembersOnlySuccesses: the second check of an accepted
// envelope is answered from the verified set (a hit, no Ed25519 work); a
// forged envelope is never remembered, however often it is presented, and
// an envelope differing from an accepted one in any signed byte or in the
// signature is checked for real and fails.
func TestVerifierRemembersOnlySuccesses(t *testing.T) {
	key, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatchID("vset", []PublicKey{key.Public()})
	v := NewVerifier(m, []PublicKey{key.Public()})
	env := NewSigner(key, m, 0).Sign(wire.TypeInput, []byte("tick 7: thrust"))
	o0 := Ops()
	for i := 0; i < 3; i++ {
		if err := v.Verify(&env); err != nil {
			t.Fatal(err)
		}
	}
	if d := Ops().Sub(o0); d.Verifies != 1 || d.VerifyHits != 2 {
		t.Fatalf("three checks of one envelope: %+v, want 1 verify and 2 hits", d)
	}
	bad := env
	bad.Body = []byte("tick 7: thrusT")
	sigBad := env
	sigBad.Sig[5] ^= 1
	typeBad := env
	typeBad.Type = wire.TypeStateHash
	for _, e := range []Envelope{bad, sigBad, typeBad} {
		for i := 0; i < 2; i++ {
			o := Ops()
			if err := v.Verify(&e); err == nil {
				t.Fatalf("altered envelope %+v accepted", e)
			}
			if d := Ops().Sub(o); d.Verifies != 1 || d.VerifyHits != 0 {
				t.Fatalf("altered envelope: %+v, want a real (failing) check", d)
			}
		}
	}
	// Another match's verifier does not share the set.
	other := NewVerifier(NewMatchID("other", []PublicKey{key.Public()}), []PublicKey{key.Public()})
	if err := other.Verify(&env); err == nil {
		t.Fatal("envelope of one match accepted by another match's verifier")
	}
}

// TestVerifiedSetEvictsOldest: the set stays bounded and forgets the
// oldest entries first.
func TestVerifiedSetEvictsOldest(t *testing.T) {
	s := newVerifiedSet(4)
	keys := make([]Digest, 6)
	for i := range keys {
		keys[i] = Sum([]byte{byte(i)})
		s.add(keys[i])
	}
	if len(s.set) != 4 {
		t.Fatalf("set holds %d, want 4", len(s.set))
	}
	for i, k := range keys {
		if want := i >= 2; s.has(k) != want {
			t.Errorf("key %d: has=%v, want %v", i, !want, want)
		}
	}
}
