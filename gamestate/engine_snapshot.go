package gamestate

import (
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// snapshotVersion is bumped whenever the engine snapshot layout changes.
const snapshotVersion = 2 // 2: a commitment carries its opening (sealed shares)

// ErrSnapshot means a snapshot does not belong to this engine (other seat
// count, other version) or does not decode.
var ErrSnapshot = errors.New("gamestate: bad engine snapshot")

// MaxGameSnapshot bounds the game part of an engine snapshot (Game.Snapshot):
// 1 MiB less 64 KiB for the engine's own fields, so that the whole
// snapshot fits in one wire message. A checkpoint's snapshot travels to
// lagging peers and into result certificates, and every reader refuses a
// larger game part, so Engine.Snapshot refuses to make one.
const MaxGameSnapshot = wire.MaxMessageSize - 64*1024

// Snapshot returns the canonical encoding of the engine state (next tick,
// cheater flags, recorded verdict keys, recent checkpoint hashes, pending
// sealed inputs) and the game's snapshot. Two engines that applied the same
// log produce identical snapshots, which is what a checkpoint digest signs.
//
// It panics, naming the limit, if the game's snapshot is larger than
// MaxGameSnapshot: the game broke its contract (Game.Snapshot), and a
// checkpoint signed over it could be verified by no one (no lagging peer
// could catch up from it, no backend check its result certificate).
func (e *Engine) Snapshot() []byte {
	game := e.game.Snapshot()
	if len(game) > MaxGameSnapshot {
		panic(fmt.Sprintf("gamestate: the game's Snapshot is %d bytes, more than gamestate.MaxGameSnapshot (%d bytes): "+
			"no peer could verify a checkpoint of it (see gamestate.Game.Snapshot)", len(game), MaxGameSnapshot))
	}
	w := wire.NewWriter(nil)
	w.U8(snapshotVersion)
	w.Uvarint(e.next)
	w.Uvarint(uint64(e.n))
	for _, f := range e.flags {
		w.Bool(f.Flagged)
		w.U8(uint8(f.Kind))
		w.Uvarint(f.Tick)
	}
	w.Uvarint(uint64(len(e.seen)))
	for _, k := range e.seen {
		w.U8(uint8(k.kind))
		w.U16(uint16(k.off))
		w.Uvarint(k.tick)
	}
	w.Uvarint(uint64(len(e.own)))
	for _, h := range e.own {
		w.Uvarint(h.tick)
		w.Bytes32(h.hash)
	}
	w.Uvarint(uint64(len(e.commits)))
	for i := range e.commits {
		w.Blob(e.commits[i].env.Encode(nil))
		w.Bool(e.commits[i].opened)
		w.Blob(e.commits[i].plain)
	}
	w.Blob(game)
	return w.Bytes()
}

// SnapshotDigest names the engine state for checkpoints.
func (e *Engine) SnapshotDigest() crypto.Digest { return crypto.Sum(e.Snapshot()) }

// Restore replaces the engine's state (and its game's) with a snapshot made
// by Snapshot on an engine of the same match. On error nothing changes
// except, possibly, when the game itself fails to restore after the engine
// part decoded (then the error says so and the engine must be discarded).
func (e *Engine) Restore(snap []byte) error {
	d, err := decodeEngineSnapshot(snap, e.n)
	if err != nil {
		return err
	}
	if err := e.game.Restore(d.game); err != nil {
		return fmt.Errorf("%w: game: %v", ErrSnapshot, err)
	}
	e.next, e.flags, e.seen, e.own, e.commits = d.next, d.flags, d.seen, d.own, d.commits
	return nil
}

// engineSnap is a decoded engine snapshot; game is the game's own
// snapshot, still opaque.
type engineSnap struct {
	next    uint64
	flags   []Flag
	seen    []verdictKey
	own     []ownHash
	commits []commit
	game    []byte
}

// decodeEngineSnapshot parses and bounds-checks a snapshot of an engine
// with n seats without touching a game, so a result certificate can be
// read with no game at hand.
func decodeEngineSnapshot(snap []byte, n int) (*engineSnap, error) {
	r := wire.NewReader(snap)
	if v := r.U8("snapshot.version"); r.Err() == nil && v != snapshotVersion {
		r.Fail("snapshot.version", wire.ErrVersion)
	}
	next := r.Uvarint("snapshot.next")
	if got := r.Uvarint("snapshot.seats"); r.Err() == nil && got != uint64(n) {
		return nil, fmt.Errorf("%w: %d seats, engine has %d", ErrSnapshot, got, n)
	}
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, r.Err())
	}
	flags := make([]Flag, n)
	for i := range flags {
		flags[i] = Flag{Flagged: r.Bool("snapshot.flag"), Kind: VerdictKind(r.U8("snapshot.flag.kind")), Tick: r.Uvarint("snapshot.flag.tick")}
	}
	ns := r.Len("snapshot.verdicts", 1<<20, 4)
	seen := make([]verdictKey, 0, ns)
	for i := 0; i < ns && r.Err() == nil; i++ {
		k := verdictKey{kind: VerdictKind(r.U8("snapshot.verdict.kind")), off: int(r.U16("snapshot.verdict.seat")), tick: r.Uvarint("snapshot.verdict.tick")}
		if len(seen) > 0 && !keyLess(seen[len(seen)-1], k) {
			r.Fail("snapshot.verdicts", wire.ErrMalformed)
		}
		seen = append(seen, k)
	}
	no := r.Len("snapshot.hashes", hashHistory, 33)
	own := make([]ownHash, 0, no)
	for i := 0; i < no && r.Err() == nil; i++ {
		h := ownHash{tick: r.Uvarint("snapshot.hash.tick"), hash: r.Bytes32("snapshot.hash")}
		if len(own) > 0 && own[len(own)-1].tick >= h.tick {
			r.Fail("snapshot.hashes", wire.ErrMalformed)
		}
		own = append(own, h)
	}
	nc := r.Len("snapshot.commits", MaxSeats*(MaxCommitAhead+MaxBatchTicks), 1)
	commits := make([]commit, 0, nc)
	for i := 0; i < nc && r.Err() == nil; i++ {
		env := readEnv(r, "snapshot.commit")
		m, err := DecodeSealedInput(env.Body)
		if r.Err() == nil && (err != nil || env.Type != wire.TypeSealedInput) {
			r.Fail("snapshot.commit", wire.ErrMalformed)
		}
		k := seatTickKey{m.Tick, m.Seat}
		if len(commits) > 0 && !commitLess(commits[len(commits)-1].key, k) {
			r.Fail("snapshot.commits", wire.ErrMalformed)
		}
		opened := r.Bool("snapshot.commit.opened")
		plain := r.Blob("snapshot.commit.plain", MaxInputSize)
		commits = append(commits, commit{key: k, env: env, opened: opened, plain: plain})
	}
	game := r.Blob("snapshot.game", MaxGameSnapshot)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	return &engineSnap{next: next, flags: flags, seen: seen, own: own, commits: commits, game: game}, nil
}
