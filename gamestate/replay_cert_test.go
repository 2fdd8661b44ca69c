package gamestate_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// certify builds what bft decides for payload at slot: the value (payload
// and no evidence) and Confirms of view by the given seats (bft/msgs.go's
// encodings; tests/replay_cert_test.go checks them against a real session).
func certify(m *match, slot, view uint64, payload []byte, seats ...int) ([]byte, []crypto.Envelope) {
	w := wire.NewWriter(nil)
	w.Blob(payload)
	w.Uvarint(0)
	value := w.Bytes()
	d := crypto.Sum(value)
	var cert []crypto.Envelope
	for _, s := range seats {
		v := wire.NewWriter(nil)
		v.Uvarint(view)
		v.Uvarint(1)
		v.Uvarint(slot)
		v.Bytes32(d)
		cert = append(cert, m.signers[s].Sign(wire.TypeConfirm, v.Bytes()))
	}
	return value, cert
}

// certifiedReplay plays slots certified slots, each entry's certificate
// signed by seats(slot), and ends the replay unless open.
func certifiedReplay(t *testing.T, w io.Writer, slots int, seats func(slot uint64) []int, open bool) *match {
	t.Helper()
	m := newMatch(t, 4, 30, nil)
	rw, err := gamestate.NewReplayWriter(w, m.header)
	if err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= uint64(slots); s++ {
		b := m.step()
		value, cert := certify(m, s, 0, b.Encode(), seats(s)...)
		if err := rw.WriteEntry(s, 0, value, cert); err != nil {
			t.Fatal(err)
		}
	}
	if !open {
		if err := rw.WriteEnd(m.signers[1], m.ref.Next()); err != nil {
			t.Fatal(err)
		}
		if err := rw.WriteHash(0, crypto.Digest{}); err == nil {
			t.Fatal("a record after the end was written")
		}
	}
	return m
}

func quorum(uint64) []int { return []int{0, 1, 3} }

// TestCertifiedReplayProves: entries with q=3 valid Confirms and an end
// record make a proof; the same match with one slot's certificate short of
// a quorum (two seats, or one seat's Confirm twice, or a Confirm signed by
// a key outside the match) is rejected naming that slot.
func TestCertifiedReplayProves(t *testing.T) {
	var buf bytes.Buffer
	m := certifiedReplay(t, &buf, 20, quorum, false)
	rep, err := gamestate.VerifyReplay(bytes.NewReader(buf.Bytes()), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Proves() || rep.Entries != 20 || rep.LastSlot != 20 || rep.EndSeat != 1 || rep.Ticks != m.ref.Next() {
		t.Fatalf("report %+v", rep)
	}
	for name, seats := range map[string][]int{"two seats": {0, 1}, "a duplicate": {0, 1, 1}} {
		buf.Reset()
		certifiedReplay(t, &buf, 20, func(s uint64) []int {
			if s == 7 {
				return seats
			}
			return quorum(s)
		}, false)
		_, err := gamestate.VerifyReplay(bytes.NewReader(buf.Bytes()), arena.NewGame)
		if !errors.Is(err, gamestate.ErrReplayInvalid) || !strings.Contains(err.Error(), "entry for slot 7 (record #7) was not decided") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestResumeReplayWriter: a restarted recorder continues its file (torn
// tail cut, end record removed), and the file verifies as one replay with
// a resume; a file of another match is refused, never overwritten.
func TestResumeReplayWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.replay")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	m := certifiedReplay(t, f, 10, quorum, false)
	st, _ := f.Stat()
	if err := f.Truncate(st.Size() - 3); err != nil { // a torn end record, as SIGKILL leaves
		t.Fatal(err)
	}
	f.Close()
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rw, err := gamestate.ResumeReplayWriter(f, m.header)
	if err != nil {
		t.Fatal(err)
	}
	// The restarted game starts over; bft delivers again from slot 1.
	m2 := newMatch(t, 4, 30, nil)
	for s := uint64(1); s <= 12; s++ {
		b := m2.step()
		value, cert := certify(m2, s, 0, b.Encode(), 0, 2, 3)
		if err := rw.WriteEntry(s, 0, value, cert); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.WriteEnd(m2.signers[1], m2.ref.Next()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	rep, err := gamestate.VerifyReplay(bytes.NewReader(data), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Resumes != 1 || !rep.Proves() || rep.Entries != 22 || rep.LastSlot != 12 {
		t.Fatalf("report %+v", rep)
	}
	other := *m.header
	other.Name = "another"
	if _, err := gamestate.ResumeReplayWriter(f, &other); err == nil || !strings.Contains(err.Error(), "another match") {
		t.Fatalf("foreign header: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatal("a refused resume changed the file")
	}
}
