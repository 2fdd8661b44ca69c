package gamestate_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/gamestate/arena"
	"github.com/paxsync/paxsync/wire"
)

// recordMatch plays a 4-seat arena match with three cheaters and one
// consensus verdict, recording it to a replay.
func recordMatch(t *testing.T) (*match, []byte) {
	var buf bytes.Buffer
	m := newMatch(t, 4, 30, &buf)
	m.speedHacker, m.liar, m.equivocator = 1, 2, 3
	for m.ref.Next() < 120 {
		m.step()
		if m.ref.Next() >= 60 && m.ref.Next() < 63 {
			a := m.signers[0].Sign(wire.TypeAccept, []byte("slot 9: A"))
			b := m.signers[0].Sign(wire.TypeAccept, []byte("slot 9: B"))
			v, fresh, err := m.ref.RecordConsensus(gamestate.ProposalEquivocation, 0, [][]byte{a.Encode(nil), b.Encode(nil)}, "leader equivocated")
			if err != nil {
				t.Fatal(err)
			}
			if fresh {
				m.verdicts = append(m.verdicts, v)
				if err := m.rw.WriteConsensus(&v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	m.step()
	if err := m.rw.WriteEnd(m.signers[0], m.ref.Next()); err != nil {
		t.Fatal(err)
	}
	return m, buf.Bytes()
}

func TestReplayRoundTrip(t *testing.T) {
	m, file := recordMatch(t)
	rep, err := gamestate.VerifyReplay(bytes.NewReader(file), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Truncated || rep.Ticks != m.ref.Next() || rep.FinalHash != m.ref.Hash() || rep.HashesChecked != 5 {
		t.Fatalf("report %+v; reference next %d", rep, m.ref.Next())
	}
	if len(rep.Verdicts) != len(m.verdicts) {
		t.Fatalf("replay gives %d verdicts, the match had %d", len(rep.Verdicts), len(m.verdicts))
	}
	kinds := map[gamestate.VerdictKind]int{}
	for i, v := range rep.Verdicts {
		if v.Kind != m.verdicts[i].Kind || v.Offender != m.verdicts[i].Offender || v.Tick != m.verdicts[i].Tick {
			t.Fatalf("verdict %d: replay %+v, match %+v", i, v, m.verdicts[i])
		}
		kinds[v.Kind]++
	}
	for _, k := range []gamestate.VerdictKind{gamestate.InvalidMove, gamestate.StateDivergence, gamestate.InputEquivocation, gamestate.ProposalEquivocation} {
		if kinds[k] == 0 {
			t.Errorf("no %s verdict in the replay", k)
		}
	}
	// The same decided log recorded by another honest peer is byte-identical.
	_, again := recordMatch(t)
	if !bytes.Equal(file, again) {
		t.Fatal("two recordings of the same match differ")
	}
}

// records splits a replay into its records (after the magic).
func records(t *testing.T, file []byte) (magic []byte, recs [][]byte) {
	magic, rest := file[:16], file[16:]
	for len(rest) > 0 {
		n := int(binary.BigEndian.Uint32(rest))
		recs, rest = append(recs, rest[:4+n+4]), rest[4+n+4:]
	}
	return magic, recs
}

// reseal rebuilds a record around a new kind|body with a valid checksum:
// the tampering a careful forger would do.
func reseal(kindBody []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(kindBody)))
	out = append(out, kindBody...)
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(kindBody, crc32.MakeTable(crc32.Castagnoli)))
}

func join(magic []byte, recs [][]byte) []byte {
	out := append([]byte(nil), magic...)
	for _, r := range recs {
		out = append(out, r...)
	}
	return out
}

func TestTamperedReplayIsRejected(t *testing.T) {
	_, file := recordMatch(t)
	magic, recs := records(t, file)
	batchAt := func(i int) (int, *gamestate.Batch) {
		for j := i; j < len(recs); j++ {
			if recs[j][4] == 2 {
				b, err := gamestate.DecodeBatch(recs[j][5 : len(recs[j])-4])
				if err != nil {
					t.Fatal(err)
				}
				return j, b
			}
		}
		t.Fatal("no batch record")
		return 0, nil
	}
	cases := map[string]func() []byte{
		"flipped byte": func() []byte {
			f := append([]byte(nil), file...)
			f[len(f)/2] ^= 1
			return f
		},
		"altered input, checksum fixed": func() []byte {
			j, b := batchAt(5)
			e := b.Ticks[0].Seats[0]
			if e == nil {
				e = b.Ticks[0].Seats[1]
			}
			e.Body[len(e.Body)-1] ^= 1
			recs := append([][]byte(nil), recs...)
			recs[j] = reseal(append([]byte{2}, b.Encode()...))
			return join(magic, recs)
		},
		"dropped batch": func() []byte {
			j, _ := batchAt(5)
			recs := append(append([][]byte(nil), recs[:j]...), recs[j+1:]...)
			return join(magic, recs)
		},
		"altered recorded hash": func() []byte {
			recs := append([][]byte(nil), recs...)
			for j, r := range recs {
				if r[4] == 4 {
					body := append([]byte{4}, r[5:len(r)-4]...)
					body[len(body)-1] ^= 1
					recs[j] = reseal(body)
					break
				}
			}
			return join(magic, recs)
		},
		"forged consensus verdict offender": func() []byte {
			recs := append([][]byte(nil), recs...)
			for j, r := range recs {
				if r[4] == 3 {
					v, err := gamestate.DecodeVerdict(r[5 : len(r)-4])
					if err != nil {
						t.Fatal(err)
					}
					v.Offender = 1
					recs[j] = reseal(append([]byte{3}, v.Encode()...))
				}
			}
			return join(magic, recs)
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := gamestate.VerifyReplay(bytes.NewReader(tamper()), arena.NewGame)
			if !errors.Is(err, gamestate.ErrReplayInvalid) && !errors.Is(err, gamestate.ErrReplayCorrupt) {
				t.Fatalf("tampered replay accepted: %v", err)
			}
		})
	}
	if _, err := gamestate.VerifyReplay(bytes.NewReader([]byte("not a replay at all")), arena.NewGame); !errors.Is(err, gamestate.ErrReplayCorrupt) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestTruncatedReplayVerifiesItsPrefix(t *testing.T) {
	m, file := recordMatch(t)
	rep, err := gamestate.VerifyReplay(bytes.NewReader(file[:len(file)-7]), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Truncated || rep.Ticks == 0 || rep.Ticks > m.ref.Next() {
		t.Fatalf("report %+v", rep)
	}
}

// TestReplayIncomplete: an intact replay is complete and End is its size;
// one cut in half, or holding only its header (what a crash-restarted peer
// leaves), verifies as far as it goes but Incomplete says so and where.
func TestReplayIncomplete(t *testing.T) {
	m, file := recordMatch(t)
	rep, err := gamestate.VerifyReplay(bytes.NewReader(file), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Incomplete(); err != nil || rep.End != int64(len(file)) {
		t.Fatalf("intact replay: %v, End %d of %d", err, rep.End, len(file))
	}

	half := file[:len(file)/2]
	rep, err = gamestate.VerifyReplay(bytes.NewReader(half), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	magic, recs := records(t, file)
	whole := int64(len(magic))
	for _, r := range recs {
		if whole+int64(len(r)) > int64(len(half)) {
			break
		}
		whole += int64(len(r))
	}
	err = rep.Incomplete()
	if !errors.Is(err, gamestate.ErrReplayIncomplete) || !rep.Truncated || rep.End != whole ||
		rep.Ticks == 0 || rep.Ticks >= m.ref.Next() {
		t.Fatalf("half a replay: %v; report %+v (whole records end at %d)", err, rep, whole)
	}
	for _, want := range []string{"ends inside a record", fmt.Sprintf("at byte %d,", whole), fmt.Sprintf("after tick %d", rep.Ticks-1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}

	header := join(magic, recs[:1])
	rep, err = gamestate.VerifyReplay(bytes.NewReader(header), arena.NewGame)
	if err != nil {
		t.Fatal(err)
	}
	err = rep.Incomplete()
	if !errors.Is(err, gamestate.ErrReplayIncomplete) || rep.Ticks != 0 || rep.Truncated ||
		!strings.Contains(err.Error(), fmt.Sprintf("only the header (%d bytes)", len(header))) {
		t.Fatalf("header-only replay: %v; report %+v", err, rep)
	}
}

func TestReplayWriterFlushesEveryRecord(t *testing.T) {
	var sink bytes.Buffer
	fw := &flushCounter{w: &sink}
	m := newMatch(t, 2, 30, nil)
	rw, err := gamestate.NewReplayWriter(fw, m.header)
	if err != nil {
		t.Fatal(err)
	}
	rw.WriteBatch(m.nextBatch())
	rw.WriteHash(0, crypto.Digest{})
	if fw.flushes != 3 {
		t.Fatalf("%d flushes for 3 records", fw.flushes)
	}
}

type flushCounter struct {
	w       *bytes.Buffer
	flushes int
}

func (f *flushCounter) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f *flushCounter) Flush() error                { f.flushes++; return nil }

// TestReplayHeaderCarriesEpoch: a replay of a match with a start time
// records it, and its MatchID (what every signature in it is checked
// against) is that instance's; a header without one reads as before.
func TestReplayHeaderCarriesEpoch(t *testing.T) {
	k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	roster := []crypto.PublicKey{k.Public()}
	start := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	for _, epoch := range []int64{0, start.UnixNano()} {
		var buf bytes.Buffer
		if _, err := gamestate.NewReplayWriter(&buf, &gamestate.Header{Name: "friday", Roster: roster, TickRate: 30, Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
		rr, err := gamestate.NewReplayReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		want := crypto.NewMatchID("friday", roster)
		if epoch != 0 {
			want = crypto.NewMatchInstanceID("friday", roster, start)
		}
		if rr.Header.Epoch != epoch || rr.Header.MatchID() != want {
			t.Fatalf("epoch %d: read back %d, match %v want %v", epoch, rr.Header.Epoch, rr.Header.MatchID(), want)
		}
	}
}
