package gamestate_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/roster"
	"github.com/paxsync/paxsync/wire"
)

// forgedWeakKeyResult builds the adversarial review's forgery: a 4-seat
// roster whose seats 0 and 1 are the identity point under two encodings,
// seat 2 an honest player and seat 3 the attacker, and a certificate of a
// fabricated result (honest seat 2 flagged as a cheater at tick 77)
// "signed" by seats 0 and 1 with R = B, S = 1, which Ed25519 accepts for
// the identity on any message, and really signed by the attacker: 3 of 4.
func forgedWeakKeyResult(t *testing.T) (players []string, c *gamestate.ResultCertificate) {
	t.Helper()
	honest, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{1}, 32))
	attacker, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{9}, 32))
	players = []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // the identity
		"0100000000000000000000000000000000000000000000000000000000000080", // the identity, x sign bit set
		honest.Public().Hex(),
		attacker.Public().Hex(),
	}
	keys := make([]crypto.PublicKey, len(players))
	for i, h := range players {
		b, _ := hex.DecodeString(h)
		copy(keys[i][:], b)
	}

	w := wire.NewWriter(nil) // an engine snapshot: tick 5000, seat 2 flagged
	w.U8(2)                  // snapshot version
	w.Uvarint(5000)          // next tick
	w.Uvarint(4)             // seats
	for s := 0; s < 4; s++ {
		w.Bool(s == 2)
		w.U8(uint8(gamestate.InvalidMove))
		if s == 2 {
			w.Uvarint(77)
		} else {
			w.Uvarint(0)
		}
	}
	w.Uvarint(1) // one verdict
	w.U8(uint8(gamestate.InvalidMove))
	w.U16(2)
	w.Uvarint(77)
	w.Uvarint(0) // hashes
	w.Uvarint(0) // commits
	w.Blob([]byte("fake game"))
	snap := w.Bytes()
	body := checkpointBody(4096, snap)

	c = &gamestate.ResultCertificate{Name: "ladder", Roster: keys, Checkpoint: body, Snapshot: snap}
	var forged crypto.Signature
	base, _ := hex.DecodeString("5866666666666666666666666666666666666666666666666666666666666666")
	copy(forged[:], base) // R = B
	forged[32] = 1        // S = 1
	for _, seat := range []uint16{0, 1} {
		c.Cert = append(c.Cert, crypto.Envelope{Type: wire.TypeCheckpoint, Sender: seat, Body: body, Sig: forged})
	}
	c.Cert = append(c.Cert, crypto.NewSigner(attacker, c.MatchID(), 3).Sign(wire.TypeCheckpoint, body))
	return players, c
}

// TestResultCertificateForgedWithSmallOrderKeysRefused: the review's
// forged 3-of-4 certificate is refused at both gates: the roster file
// that names the small-order keys does not parse, and Verify, given those
// keys directly, refuses the roster (crypto.ErrWeakKey) instead of
// proving a result no honest player signed.
func TestResultCertificateForgedWithSmallOrderKeysRefused(t *testing.T) {
	players, c := forgedWeakKeyResult(t)
	file, _ := json.Marshal(roster.File{Match: c.Name, Players: players})
	if r, err := roster.Parse(file); !errors.Is(err, roster.ErrInvalid) || !strings.Contains(err.Error(), "players[0]") {
		t.Errorf("roster.Parse of the forger's roster: %v, %v; want ErrInvalid at players[0]", r, err)
	}
	dec, err := gamestate.DecodeResultCertificate(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res, err := dec.Verify(c.Name, c.Roster)
	if !errors.Is(err, gamestate.ErrResultInvalid) || !errors.Is(err, crypto.ErrWeakKey) {
		t.Fatalf("Verify of the forged certificate: %+v, %v; want ErrResultInvalid and crypto.ErrWeakKey", res, err)
	}
}
