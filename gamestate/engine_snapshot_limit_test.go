package gamestate_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// blobGame is a legal Game whose whole state is an opaque blob of a
// chosen size: the snapshot the engine must carry in a checkpoint.
type blobGame struct{ st []byte }

func (g *blobGame) NumSeats() int                             { return 4 }
func (g *blobGame) Validate(int, []byte) *gamestate.Violation { return nil }
func (g *blobGame) Advance(uint64, []gamestate.SeatInput)     {}
func (g *blobGame) Hash() crypto.Digest                       { return crypto.Sum(g.st) }
func (g *blobGame) Snapshot() []byte                          { return bytes.Clone(g.st) }
func (g *blobGame) Restore(b []byte) error                    { g.st = bytes.Clone(b); return nil }

// blobEngine is a 4-seat engine over a blobGame of size bytes, with the
// seats' signers.
func blobEngine(t *testing.T, size int) (*gamestate.Engine, *gamestate.Header, []*crypto.Signer) {
	t.Helper()
	var keys []*crypto.PrivateKey
	var pubs []crypto.PublicKey
	for i := 0; i < 4; i++ {
		k, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		keys, pubs = append(keys, k), append(pubs, k.Public())
	}
	h := &gamestate.Header{Name: "blob", Roster: pubs, TickRate: 60, InputDelay: 2, HashInterval: 30}
	eng, err := gamestate.NewEngine(&blobGame{st: make([]byte, size)}, h.Config())
	if err != nil {
		t.Fatal(err)
	}
	var signers []*crypto.Signer
	for i, k := range keys {
		signers = append(signers, crypto.NewSigner(k, h.MatchID(), uint16(i)))
	}
	return eng, h, signers
}

// TestEngineSnapshotAtGameLimitIsVerifiable: a game snapshot of exactly
// MaxGameSnapshot bytes gives an engine snapshot whose checkpoint, as bft
// signs it, makes a result certificate that verifies (within
// MaxResultCertificateSize): the limit Engine.Snapshot enforces is the one
// the readers accept.
func TestEngineSnapshotAtGameLimitIsVerifiable(t *testing.T) {
	eng, h, signers := blobEngine(t, gamestate.MaxGameSnapshot)
	snap := eng.Snapshot()
	body := checkpointBody(64, snap)
	c := &gamestate.ResultCertificate{Name: h.Name, Roster: h.Roster, Checkpoint: body, Snapshot: snap}
	for s := 0; s < 3; s++ {
		c.Cert = append(c.Cert, signers[s].Sign(wire.TypeCheckpoint, body))
	}
	file := c.Encode()
	if len(file) > gamestate.MaxResultCertificateSize {
		t.Fatalf("certificate of %d bytes, more than MaxResultCertificateSize %d", len(file), gamestate.MaxResultCertificateSize)
	}
	d, err := gamestate.DecodeResultCertificate(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Verify(h.Name, h.Roster); err != nil {
		t.Fatalf("game snapshot of MaxGameSnapshot bytes: %v", err)
	}
}

// TestEngineSnapshotPanicsOverGameLimit: a game whose snapshot is larger
// than MaxGameSnapshot breaks Game's contract; Engine.Snapshot, which a
// peer signs at every checkpoint, panics with a message naming the limit
// instead of returning a snapshot that every reader refuses (the review
// found a 1,000,000-byte game's honest certificate unverifiable).
func TestEngineSnapshotPanicsOverGameLimit(t *testing.T) {
	for _, size := range []int{gamestate.MaxGameSnapshot + 1, 1_000_000} {
		eng, _, _ := blobEngine(t, size)
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			eng.Snapshot()
			return "no panic"
		}()
		want := fmt.Sprintf("%d bytes, more than gamestate.MaxGameSnapshot (%d bytes)", size, gamestate.MaxGameSnapshot)
		if !strings.Contains(msg, want) {
			t.Errorf("game snapshot of %d bytes: %q, want a panic saying %q", size, msg, want)
		}
	}
}
