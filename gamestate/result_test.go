package gamestate_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// resultOf plays a 4-seat match with a speed hacker (seat 1) for ticks
// ticks and certifies its engine state as bft would at slot: the body
// slot | Sum(snapshot) | no consensus verdicts, signed by seats.
func resultOf(t testing.TB, ticks int, seats ...int) (*match, *gamestate.ResultCertificate) {
	t.Helper()
	return resultAt(t, 64, ticks, seats...)
}

// resultAt is resultOf with the checkpoint at slot.
func resultAt(t testing.TB, slot uint64, ticks int, seats ...int) (*match, *gamestate.ResultCertificate) {
	t.Helper()
	m := newMatch(t, 4, 30, nil)
	m.speedHacker = 1
	for m.ref.Next() < uint64(ticks) {
		m.step()
	}
	snap := m.ref.Snapshot()
	body := checkpointBody(slot, snap)
	c := &gamestate.ResultCertificate{Name: m.header.Name, Roster: m.header.Roster, Epoch: m.header.Epoch,
		Checkpoint: body, Snapshot: snap}
	for _, s := range seats {
		c.Cert = append(c.Cert, m.signers[s].Sign(wire.TypeCheckpoint, body))
	}
	return m, c
}

// checkpointBody is the checkpoint body bft signs at slot for snap:
// slot | Sum(snapshot) | no consensus verdicts.
func checkpointBody(slot uint64, snap []byte) []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(slot)
	w.Bytes32(crypto.Sum(snap))
	w.Uvarint(0)
	return w.Bytes()
}

// TestResultCertificateVerifies: a quorum's certificate proves the
// engine's tick, the cheater flag and verdict it recorded, and its game
// state, from the file's bytes alone.
func TestResultCertificateVerifies(t *testing.T) {
	m, c := resultOf(t, 90, 0, 2, 3)
	dec, err := gamestate.DecodeResultCertificate(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res, err := dec.Verify(m.header.Name, m.header.Roster)
	if err != nil {
		t.Fatal(err)
	}
	if res.Slot != 64 || res.NextTick != m.ref.Next() || len(res.Signers) != 3 {
		t.Fatalf("result %+v, engine next %d", res, m.ref.Next())
	}
	if !res.Flags[1].Flagged || res.Flags[1].Kind != gamestate.InvalidMove || res.Flags[0].Flagged {
		t.Fatalf("flags %+v: want seat 1 flagged for an invalid move, no other", res.Flags)
	}
	found := false
	for _, v := range res.Verdicts {
		found = found || (v.Offender == 1 && v.Kind == gamestate.InvalidMove)
	}
	if !found {
		t.Fatalf("verdicts %+v lack seat 1's invalid move", res.Verdicts)
	}
	if h, ok := m.ref.CheckpointHash(res.LastHashTick); !ok || h != res.LastHash {
		t.Fatalf("last hash %d %s, engine %s %v", res.LastHashTick, res.LastHash, h, ok)
	}
}

// TestResultCertificateRejectsAnyChange flips every bit of a
// certificate file, one at a time: each copy fails to decode or to verify,
// so no field — match name, roster, epoch, checkpoint body, a signature, a
// signer, the snapshot — can be changed unnoticed.
func TestResultCertificateRejectsAnyChange(t *testing.T) {
	m, c := resultOf(t, 60, 0, 1, 2)
	file := c.Encode()
	for i := range file {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(file)
			bad[i] ^= 1 << bit
			dec, err := gamestate.DecodeResultCertificate(bad)
			if err == nil {
				_, err = dec.Verify(m.header.Name, m.header.Roster)
			}
			if err == nil {
				t.Fatalf("byte %d bit %d flipped: the certificate still verifies", i, bit)
			}
			if !errors.Is(err, gamestate.ErrResultInvalid) {
				t.Fatalf("byte %d: error %v does not wrap ErrResultInvalid", i, err)
			}
		}
	}
	if _, err := gamestate.DecodeResultCertificate(append(bytes.Clone(file), 0)); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

// TestResultCertificateNeedsExactlyAQuorum: fewer than q seats, a seat
// twice, an extra signature, a key outside the match, another roster or
// another match's signatures are all refused.
func TestResultCertificateNeedsExactlyAQuorum(t *testing.T) {
	m, c := resultOf(t, 40, 0, 1, 2)
	roster := m.header.Roster
	try := func(name string, mut func(c *gamestate.ResultCertificate), r []crypto.PublicKey) {
		t.Helper()
		cc := *c
		cc.Cert = append([]crypto.Envelope(nil), c.Cert...)
		cc.Roster = append([]crypto.PublicKey(nil), c.Roster...)
		mut(&cc)
		dec, err := gamestate.DecodeResultCertificate(cc.Encode())
		if err == nil {
			_, err = dec.Verify(m.header.Name, r)
		}
		if !errors.Is(err, gamestate.ErrResultInvalid) {
			t.Errorf("%s: %v, want ErrResultInvalid", name, err)
		}
	}
	try("two signers", func(c *gamestate.ResultCertificate) { c.Cert = c.Cert[:2] }, roster)
	try("a seat twice", func(c *gamestate.ResultCertificate) { c.Cert[2] = c.Cert[0] }, roster)
	try("four signers", func(c *gamestate.ResultCertificate) {
		c.Cert = append(c.Cert, m.signers[3].Sign(wire.TypeCheckpoint, c.Checkpoint))
	}, roster)
	outsider, _ := crypto.KeyFromSeed(bytes.Repeat([]byte{0x99}, 32))
	try("an outsider's signature", func(c *gamestate.ResultCertificate) {
		c.Cert[2] = crypto.NewSigner(outsider, c.MatchID(), 2).Sign(wire.TypeCheckpoint, c.Checkpoint)
	}, roster)
	other := append([]crypto.PublicKey(nil), roster...)
	other[3] = outsider.Public()
	try("another roster", func(*gamestate.ResultCertificate) {}, other)
	try("the same roster named as another match", func(c *gamestate.ResultCertificate) { c.Name = "another" }, roster)
	try("consensus verdicts listed twice (bft signs them sorted, once each)", func(c *gamestate.ResultCertificate) {
		w := wire.NewWriter(nil)
		w.Uvarint(64)
		w.Bytes32(crypto.Sum(c.Snapshot))
		w.Uvarint(2)
		w.U16(2)
		w.U8(1)
		w.U16(2)
		w.U8(1)
		c.Checkpoint, c.Cert = w.Bytes(), nil
		for _, s := range []int{0, 1, 2} {
			c.Cert = append(c.Cert, m.signers[s].Sign(wire.TypeCheckpoint, c.Checkpoint))
		}
	}, roster)
	try("a signature of another type", func(c *gamestate.ResultCertificate) {
		c.Cert[1] = m.signers[1].Sign(wire.TypeConfirm, c.Checkpoint)
	}, roster)
	if _, err := c.Verify(m.header.Name, roster); err != nil {
		t.Fatalf("the unmodified certificate: %v", err)
	}
}

// BenchmarkVerifyResult is what a backend pays to check one result of a
// 4-seat match: decode, three Ed25519 verifications, one hash of the
// snapshot and its decode.
func BenchmarkVerifyResult(b *testing.B) {
	m, c := resultOf(b, 300, 0, 1, 3)
	file := c.Encode()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		dec, err := gamestate.DecodeResultCertificate(file)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dec.Verify(m.header.Name, m.header.Roster); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReplayResultIsTheLastRuns: a replay that closed with a result, was
// resumed by its restarted recorder and closed again without one reports
// no result (the earlier one is not the restarted run's), and a result
// record naming a slot beyond what the replay recorded is refused.
func TestReplayResultIsTheLastRuns(t *testing.T) {
	write := func(resume bool, resultSlot uint64) []byte {
		path := filepath.Join(t.TempDir(), "r.replay")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		m := newMatch(t, 4, 30, nil)
		rw, err := gamestate.NewReplayWriter(f, m.header)
		if err != nil {
			t.Fatal(err)
		}
		for s := uint64(1); s <= 10; s++ {
			v, c := certify(m, s, 0, m.step().Encode(), 0, 1, 3)
			if err := rw.WriteEntry(s, 0, v, c); err != nil {
				t.Fatal(err)
			}
		}
		_, rc := resultAt(t, resultSlot, 8, 0, 2, 3)
		if err := rw.WriteResult(rc.Checkpoint, rc.Cert, rc.Snapshot); err != nil {
			t.Fatal(err)
		}
		if err := rw.WriteEnd(m.signers[1], m.ref.Next()); err != nil {
			t.Fatal(err)
		}
		if resume {
			m2 := newMatch(t, 4, 30, nil)
			rw, err = gamestate.ResumeReplayWriter(f, m2.header)
			if err != nil {
				t.Fatal(err)
			}
			for s := uint64(1); s <= 4; s++ {
				v, c := certify(m2, s, 0, m2.step().Encode(), 0, 2, 3)
				if err := rw.WriteEntry(s, 0, v, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := rw.WriteEnd(m2.signers[1], m2.ref.Next()); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		data, _ := os.ReadFile(path)
		return data
	}
	rep, err := gamestate.VerifyReplay(bytes.NewReader(write(false, 8)), arena.NewGame)
	if err != nil || rep.Result == nil || rep.Result.Slot != 8 {
		t.Fatalf("a replay ending with its result: %v, result %+v", err, rep.Result)
	}
	rep, err = gamestate.VerifyReplay(bytes.NewReader(write(true, 8)), arena.NewGame)
	if err != nil || rep.Resumes != 1 || rep.Result != nil {
		t.Fatalf("resumed without a new result: %v, resumes %d, result %+v", err, rep.Resumes, rep.Result)
	}
	if _, err := gamestate.VerifyReplay(bytes.NewReader(write(false, 64)), arena.NewGame); err == nil || !strings.Contains(err.Error(), "beyond the last recorded slot") {
		t.Fatalf("a result of slot 64 in a replay of 10 slots: %v", err)
	}
}
