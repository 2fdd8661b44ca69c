package crypto

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/paxsync/paxsync/wire"
)

func testKey(t testing.TB, b byte) *PrivateKey {
	t.Helper()
	k, err := KeyFromSeed(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// slotBody encodes (view, slot, digest) as a consensus message body would.
func slotBody(view, slot uint64, d Digest) []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(view)
	w.Uvarint(slot)
	w.Bytes32(d)
	return w.Bytes()
}

func TestSignatureBindsMatchTypeSenderAndFields(t *testing.T) {
	k0, k1 := testKey(t, 1), testKey(t, 2)
	roster := []PublicKey{k0.Public(), k1.Public()}
	match := NewMatchID("m", roster)
	other := NewMatchID("other", roster)
	d := Sum([]byte("value"))
	env := NewSigner(k0, match, 0).Sign(wire.TypeVerify, slotBody(1, 5, d))

	v := NewVerifier(match, roster)
	if err := v.Verify(&env); err != nil {
		t.Fatalf("genuine envelope rejected: %v", err)
	}
	cases := map[string]func(e *Envelope) *Verifier{
		"other match": func(e *Envelope) *Verifier { return NewVerifier(other, roster) },
		"other type":  func(e *Envelope) *Verifier { e.Type = wire.TypeConfirm; return v },
		"other slot":  func(e *Envelope) *Verifier { e.Body = slotBody(1, 6, d); return v },
		"other view":  func(e *Envelope) *Verifier { e.Body = slotBody(2, 5, d); return v },
		"other value": func(e *Envelope) *Verifier { e.Body = slotBody(1, 5, Sum([]byte("x"))); return v },
		"other sender": func(e *Envelope) *Verifier {
			e.Sender = 1
			return v
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			e := env
			e.Body = append([]byte(nil), env.Body...)
			ver := mutate(&e)
			if err := ver.Verify(&e); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("want ErrBadSignature, got %v", err)
			}
		})
	}
	t.Run("roster of another match", func(t *testing.T) {
		r2 := []PublicKey{k1.Public(), k0.Public()}
		if NewMatchID("m", r2) == match {
			t.Fatal("match ID ignores roster order")
		}
	})
	t.Run("unknown sender", func(t *testing.T) {
		e := env
		e.Sender = 7
		if err := v.Verify(&e); !errors.Is(err, ErrUnknownSender) {
			t.Fatalf("want ErrUnknownSender, got %v", err)
		}
	})
}

func TestEveryTamperedByteFailsVerification(t *testing.T) {
	k := testKey(t, 3)
	roster := []PublicKey{k.Public()}
	match := NewMatchID("tamper", roster)
	v := NewVerifier(match, roster)
	env := NewSigner(k, match, 0).Sign(wire.TypeAccept, slotBody(3, 9, Sum([]byte("batch"))))
	enc := env.Encode(nil)
	for i := range enc {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := append([]byte(nil), enc...)
			b[i] ^= flip
			e, err := DecodeEnvelope(b)
			if err != nil {
				continue // rejected at decode: fine
			}
			if err := v.Verify(&e); err == nil {
				t.Fatalf("byte %d ^ %#x: tampered envelope verified", i, flip)
			}
		}
	}
}

func TestEnvelopeRoundTripAndDecodeErrors(t *testing.T) {
	k := testKey(t, 4)
	env := NewSigner(k, MatchID{}, 0).Sign(wire.TypeInput, []byte("hello"))
	enc := env.Encode(nil)
	got, err := DecodeEnvelope(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != env.Type || got.Sender != env.Sender || !bytes.Equal(got.Body, env.Body) || got.Sig != env.Sig {
		t.Fatalf("round trip changed the envelope: %+v vs %+v", got, env)
	}
	for n := 0; n < len(enc); n++ {
		if _, err := DecodeEnvelope(enc[:n]); !errors.Is(err, wire.ErrTruncated) && !errors.Is(err, wire.ErrVersion) {
			t.Fatalf("truncated at %d: want ErrTruncated, got %v", n, err)
		}
	}
	if _, err := DecodeEnvelope(append(enc, 0)); !errors.Is(err, wire.ErrTrailing) {
		t.Fatalf("trailing byte: got %v", err)
	}
	bad := append([]byte(nil), enc...)
	bad[0] = 9
	if _, err := DecodeEnvelope(bad); !errors.Is(err, wire.ErrVersion) {
		t.Fatalf("version 9: got %v", err)
	}
	bad = append([]byte(nil), enc...)
	bad[1] = 250
	if _, err := DecodeEnvelope(bad); !errors.Is(err, wire.ErrUnknownType) {
		t.Fatalf("type 250: got %v", err)
	}
	if _, err := DecodeEnvelope(make([]byte, wire.MaxMessageSize+1)); !errors.Is(err, wire.ErrOversize) {
		t.Fatalf("oversize: got %v", err)
	}
	// A body length claiming more than the limit is oversize, not an allocation.
	w := wire.NewWriter(nil)
	w.U8(wire.Version)
	w.U8(uint8(wire.TypeInput))
	w.U16(0)
	w.Uvarint(MaxBodySize + 1)
	if _, err := DecodeEnvelope(w.Bytes()); !errors.Is(err, wire.ErrOversize) {
		t.Fatalf("huge body length: got %v", err)
	}
}

func TestEnvelopeIDDependsOnSignature(t *testing.T) {
	k := testKey(t, 5)
	s := NewSigner(k, MatchID{}, 0)
	a := s.Sign(wire.TypeInput, []byte("a"))
	b := s.Sign(wire.TypeInput, []byte("b"))
	if a.ID() == b.ID() {
		t.Fatal("different envelopes share an ID")
	}
	a2 := s.Sign(wire.TypeInput, []byte("a"))
	if a.ID() != a2.ID() {
		t.Fatal("Ed25519 is deterministic: same message must give the same ID")
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	k, _ := KeyFromSeed(make([]byte, 32))
	env := NewSigner(k, MatchID{}, 0).Sign(wire.TypeVerify, []byte{1, 2, 3})
	f.Add(env.Encode(nil))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		// Whatever decodes must re-encode to the same bytes: one encoding per message.
		if !bytes.Equal(e.Encode(nil), b) {
			t.Fatalf("decode/encode not canonical for %x", b)
		}
	})
}

// TestMatchInstanceIDSeparatesReruns: the same match name and roster
// started at another moment is another instance, and a message signed in
// one does not verify in the other (a kept message replayed into a rerun
// could otherwise convict its honest signer of equivocation). No start
// time is the plain match ID.
func TestMatchInstanceIDSeparatesReruns(t *testing.T) {
	k0 := testKey(t, 1)
	roster := []PublicKey{k0.Public(), testKey(t, 2).Public()}
	friday := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	last, next := NewMatchInstanceID("friday", roster, friday), NewMatchInstanceID("friday", roster, friday.Add(7*24*time.Hour))
	if last == next || last == NewMatchID("friday", roster) {
		t.Fatal("instances of one match share an ID")
	}
	if NewMatchInstanceID("friday", roster, friday.In(time.FixedZone("CET", 3600))) != last {
		t.Fatal("the same moment in another zone is another instance")
	}
	if NewMatchInstanceID("friday", roster, time.Time{}) != NewMatchID("friday", roster) {
		t.Fatal("no start time should give the match ID")
	}
	old := NewSigner(k0, last, 0).Sign(wire.TypeInput, []byte("tick 5: left"))
	if err := NewVerifier(next, roster).Verify(&old); err == nil {
		t.Fatal("last week's signed input verifies in this week's match")
	}
	if err := NewVerifier(last, roster).Verify(&old); err != nil {
		t.Fatalf("in its own instance: %v", err)
	}
}
