// Package spectator is a spectator's pure state machine: it follows a
// match's decided log, served by the players, and trusts none of them. It
// asks one player at a time for the log after the last slot it holds
// (the players' catch-up answer, bft.SyncState), turns the answer into
// replay records and checks each with gamestate.ReplayChecker, exactly as
// a replay verifier checks a file: every commit certificate, every
// checkpoint certificate against its snapshot, every batch and verdict
// re-derived. A player whose answer does not verify is dropped as a
// source for good; the spectator goes on with the next. A spectator may
// also relay (relay.go): it keeps the players' signed answers it checked
// and serves them to other spectators, who check them exactly as they
// would a player's. No goroutines, sockets or clocks: the root package's
// Spectator drives it.
package spectator

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/wire"
)

// Forgery is an answer from a player that does not verify: an entry or a
// checkpoint its certificate does not cover, a gap, an undecodable log.
// The player signed the answer, so its Proof convinces anyone holding the
// roster (VerifyForgery), not only this spectator.
type Forgery struct {
	Seat int // the player that signed it
	// Via is the relay (counted from 0, in the order of the sources
	// after the players) that forwarded the answer, or -1 when the
	// player served it itself.
	Via    int
	After  uint64 // the slot the spectator asked after
	Reason string // what failed, as the checker says it
	// Proof is the player's signed answer when the failure is one that
	// VerifyForgery shows to anyone holding the roster (a certificate
	// that does not hold, a gap, an undecodable log); nil when the answer
	// was not validly signed by the player, which proves nothing.
	Proof []byte
}

// ErrForged wraps the error Deliver returns for an answer that does not
// verify.
var ErrForged = errors.New("spectator: a player served a log that does not verify")

// ErrBadRelay wraps the error Deliver returns for a relay's answer that
// is not a player's signed answer fitting the request: the relay is
// dropped, and no player is blamed (nothing shows one signed it).
var ErrBadRelay = errors.New("spectator: a relay served what no player signed for this request")

// RelayFault is a source dropped for serving what no player signed for the
// request it answered: a relay's garbage, altered answer, or player's
// answer from further on than the spectator asked (which would leave a
// gap); or, over links that do not prove who sent what (UntrustedLinks),
// a player's source that served what that player did not sign. This is
// no proof against anyone.
type RelayFault struct {
	Relay  int    // counted from 0, in the order of the sources after the players; -1 for a player's source
	Seat   int    // the player whose source it was (UntrustedLinks), or -1 for a relay
	After  uint64 // the slot the spectator asked after
	Reason string
}

// Follower is one spectator's view of a match. Not safe for concurrent use.
//
// Its sources are the players (0..n-1, the roster's seats) and then the
// relays (n.., other spectators relaying: UseRelays).
type Follower struct {
	chk       *gamestate.ReplayChecker
	h         *gamestate.Header
	ver       *crypto.Verifier
	n         int
	dropped   []bool // by source
	skip      []int  // by source: turns it sits out (UntrustedLinks faults)
	backoff   []int  // by source: turns the next fault will cost
	next      int
	forgeries []Forgery
	faults    []RelayFault
	refresh   bool        // the last Request asked after slot 0 (relay.go), not after Slot
	untrusted bool        // UntrustedLinks
	cache     *relayCache // the answers kept to relay; nil when not relaying
}

// New follows the match h describes (the players' own header: name,
// roster, epoch, tick rate, game parameters); newGame builds its game in
// the initial state.
func New(h *gamestate.Header, newGame func(h *gamestate.Header) (gamestate.Game, error)) (*Follower, error) {
	chk, err := gamestate.NewReplayChecker(h, newGame)
	if err != nil {
		return nil, err
	}
	n := len(h.Roster)
	return &Follower{chk: chk, h: h, ver: h.Config().Verifier, n: n, dropped: make([]bool, n), skip: make([]int, n), backoff: make([]int, n)}, nil
}

// UntrustedLinks says the links to the sources do not prove who sent an
// answer (a game's own transport, where libp2p's Noise handshake would):
// an answer its player did not sign is then a RelayFault naming no one,
// instead of a Forgery naming the seat, so a hostile path cannot get an
// honest player named. Nor can it cut the spectator off: the path, not
// the source, may be what lied, so a source is not dropped for it but
// sits out turns, twice as many after each fault (1, 2, 4, up to
// maxBackoff), and is forgiven by the first signed answer that arrives
// intact: a path that garbles some answers of every honest source must not
// hand their turns to a source that withholds. A signed forgery still
// drops its player for good.
func (f *Follower) UntrustedLinks() { f.untrusted = true }

// maxBackoff bounds the turns one fault costs a source (UntrustedLinks):
// with a withholding source taking its 3 s timeout every turn, an honest
// source faulted by its path is still asked every half minute or so.
const maxBackoff = 8

// maxFaults bounds the RelayFaults kept (the first ones); a path that
// always lies faults a source every few turns for the whole match.
const maxFaults = 1024

// UseRelays adds k relays as sources, after the players: source n+i is
// relay i.
func (f *Follower) UseRelays(k int) {
	f.dropped = append(f.dropped, make([]bool, k)...)
	f.skip = append(f.skip, make([]int, k)...)
	f.backoff = append(f.backoff, make([]int, k)...)
}

// Sources is the number of sources: the players, then the relays.
func (f *Follower) Sources() int { return len(f.dropped) }

// IsRelay reports whether source src is a relay rather than a player.
func (f *Follower) IsRelay(src int) bool { return src >= f.n }

// Request is what to ask source src (Source's answer): the log after
// Slot. A relaying follower now and then asks a player after slot 0
// instead, to get its latest certified checkpoint with its snapshot
// (relay.go): what it serves spectators that join later.
func (f *Follower) Request(src int) []byte {
	f.refresh = f.cache != nil && !f.IsRelay(src) && f.cache.refreshDue() && f.Slot() > 0
	if f.refresh {
		f.cache.refreshAsked()
		return binary.AppendUvarint(nil, 0)
	}
	return binary.AppendUvarint(nil, f.Slot())
}

// Slot is the last decided slot checked and applied.
func (f *Follower) Slot() uint64 { return f.chk.LastSlot() }

// Source is the source to ask next: the sources take turns, so one that
// withholds the log only slows the spectator, one caught forging is never
// asked again, and one that sits out turns (UntrustedLinks) is passed
// over until they are spent (each pass spends one; when every source left
// sits out, the passes go on until one is due). ok is false when every
// source has been dropped.
func (f *Follower) Source() (src int, ok bool) {
	for {
		live := false
		for range len(f.dropped) {
			s := f.next
			f.next = (f.next + 1) % len(f.dropped)
			if f.dropped[s] {
				continue
			}
			live = true
			if f.skip[s] > 0 {
				f.skip[s]--
				continue
			}
			return s, true
		}
		if !live {
			return -1, false
		}
	}
}

func (f *Follower) addFault(rf RelayFault) {
	if len(f.faults) < maxFaults {
		f.faults = append(f.faults, rf)
	}
}

// sitOut makes src sit out turns for a fault over an untrusted link.
func (f *Follower) sitOut(src int) {
	f.backoff[src] = min(max(1, 2*f.backoff[src]), maxBackoff)
	f.skip[src] = f.backoff[src]
}

// Deliver checks and applies src's answer to Request (a frame of
// EncodeAnswer: the answer and a player's signature of it). An empty
// answer (nothing new there) gives 0, nil.
//
// A player's answer must be its own signed answer to this request. An
// answer that is not, or does not verify, drops the player, is kept as a
// Forgery (with the signed answer as its Proof when VerifyForgery shows
// it to others), and gives an error wrapping ErrForged; the records
// before the one that failed were checked and stay applied. A forged
// entry or checkpoint fails its certificate check before it changes
// anything; what is checked after that (the batch of a certified entry)
// fails only if a quorum certified an invalid batch, which f Byzantine
// seats cannot make happen.
//
// A relay's answer is some player's signed answer, to a request after a
// slot up to the one asked (or one carrying a checkpoint past it). One
// that is not drops the relay (a RelayFault, an error wrapping
// ErrBadRelay) and blames no player; one that the player signed and that
// does not verify convicts that player as above, and drops the relay too
// (an honest relay checks what it keeps).
func (f *Follower) Deliver(src int, frame []byte) (applied int, err error) {
	slot := f.Slot()
	asked, refreshing := slot, f.refresh
	if refreshing {
		asked = 0
	}
	f.refresh = false
	if len(frame) == 0 {
		return 0, nil
	}
	if src < 0 || src >= len(f.dropped) {
		return 0, fmt.Errorf("spectator: no source %d", src)
	}
	relay := f.IsRelay(src)
	signer := src
	var proof []byte
	var signedAfter uint64
	forged := func(format string, a ...any) (int, error) {
		reason := fmt.Sprintf(format, a...)
		fg := Forgery{Seat: signer, Via: -1, After: asked, Reason: reason}
		if relay {
			fg.Via = src - f.n
			if f.untrusted {
				f.sitOut(src) // the path may have replayed another's forgery
			} else {
				f.dropped[src] = true
			}
		}
		if proof != nil {
			if s, _, err := VerifyForgery(f.h, proof); err == nil && s == signer {
				fg.Proof = proof
			}
		}
		f.dropped[signer] = true
		f.forgeries = append(f.forgeries, fg)
		return applied, fmt.Errorf("%w: seat %d: %s", ErrForged, signer, reason)
	}
	// unproven is for a record that failed this spectator's own checks
	// (its checker's state, the game's rules) after the answer was read
	// whole: the serving seat is convicted only when VerifyForgery shows
	// the answer false to anyone holding the roster. One that holds there
	// proves no one lied: its records are certified by a quorum, so either
	// more than f seats lied together or this spectator's own state is
	// off, and naming the seat that served it could frame an honest one.
	// It is refused without blame; the run loop tries the next source.
	unproven := func(err error) (int, error) {
		if s, _, verr := VerifyForgery(f.h, frame); verr == nil && s == signer {
			return forged("%v", err)
		}
		return applied, fmt.Errorf("spectator: seat %d's answer after slot %d is certified but does not extend this spectator's log (no proof anyone lied): %v", signer, signedAfter, err)
	}
	badRelay := func(format string, a ...any) (int, error) {
		reason := fmt.Sprintf(format, a...)
		if f.untrusted {
			f.sitOut(src)
		} else {
			f.dropped[src] = true
		}
		if !relay {
			f.addFault(RelayFault{Relay: -1, Seat: src, After: asked, Reason: reason})
			return 0, fmt.Errorf("%w: seat %d's source: %s", ErrBadRelay, src, reason)
		}
		f.addFault(RelayFault{Relay: src - f.n, Seat: -1, After: asked, Reason: reason})
		return 0, fmt.Errorf("%w: relay %d: %s", ErrBadRelay, src-f.n, reason)
	}
	var env crypto.Envelope
	var resp []byte
	if relay {
		if env, resp, err = signedBy(f.ver, frame, -1, nil); err != nil {
			return badRelay("%v", err)
		}
		signer = int(env.Sender)
	} else if env, resp, err = signedBy(f.ver, frame, src, &asked); err != nil {
		if f.untrusted {
			return badRelay("%v", err)
		}
		return forged("%v", err)
	}
	signedAfter = wire.NewReader(env.Body).Uvarint("answer.after") // signedBy parsed it
	proof = frame
	st, err := bft.DecodeSyncState(resp)
	if err != nil {
		return forged("malformed answer: %v", err)
	}
	var snap *gamestate.ReplayRecord
	if st.Snapshot != nil {
		rec, err := gamestate.CheckpointRecord(st.Checkpoint, st.CheckpointCert, st.Snapshot)
		if err != nil {
			return forged("%v", err)
		}
		snap = &rec
	}
	if relay && signedAfter > asked && (snap == nil || snap.Slot < asked) {
		return badRelay("served seat %d's answer after slot %d to a spectator at slot %d", signer, signedAfter, asked)
	}
	f.backoff[src] = 0 // the path delivered a signed answer intact: what it cost before is forgiven
	// The entries run on from the slot signed for, or from the
	// checkpoint: checked for every entry, held ones too, so that what is
	// kept to relay is what VerifyForgery finds whole.
	due := signedAfter + 1
	if snap != nil {
		due = snap.Slot + 1
	}
	for _, e := range st.Entries {
		if e.Slot != due {
			return forged("served slot %d where slot %d was due", e.Slot, due)
		}
		due++
	}
	if snap != nil && snap.Slot > slot {
		if err := f.chk.Check(snap); err != nil {
			return unproven(err)
		}
		applied++
	}
	for _, e := range st.Entries {
		if e.Slot <= f.Slot() {
			continue // already held (an answer may start below what was asked)
		}
		cert := make([]crypto.Envelope, 0, len(e.Cert))
		for _, i := range e.Cert {
			if int(i) >= len(st.Confirms) {
				return forged("slot %d: certificate index %d of %d Confirms", e.Slot, i, len(st.Confirms))
			}
			cert = append(cert, st.Confirms[i])
		}
		rec := gamestate.EntryRecord(e.Slot, e.View, e.Value, cert)
		if err := f.chk.Check(&rec); err != nil {
			return unproven(err)
		}
		applied++
	}
	if f.cache != nil && f.Slot() > slot {
		// Kept to relay only when every record in it was checked, so no
		// downstream spectator is ever handed a forgery by this one: an
		// answer signed for this very slot was checked whole above; the
		// answer to a refresh (after slot 0, at most once per
		// relayRefresh answers) is checked whole now. Others (a relay's
		// answer from below this slot) are applied, not kept: checking
		// what they repeat would let a relay make each slot cost a whole
		// answer's certificates.
		switch {
		case signedAfter == slot && (snap == nil || snap.Slot > slot):
		case refreshing:
			if s, why, err := VerifyForgery(f.h, frame); err == nil {
				return forged("%s", why)
			} else if !errors.Is(err, ErrNotForged) || s != signer {
				return applied, nil // not the player's signed answer after all: do not relay it
			}
		default:
			return applied, nil
		}
		f.cache.add(relayFrame{after: signedAfter, end: f.Slot(), snap: snap != nil, snapSlot: snapSlot(snap), frame: bytes.Clone(frame)})
	}
	return applied, nil
}

func snapSlot(r *gamestate.ReplayRecord) uint64 {
	if r == nil {
		return 0
	}
	return r.Slot
}

// Engine is the spectator's game engine: the match as the log decided it.
// Read it only.
func (f *Follower) Engine() *gamestate.Engine { return f.chk.Engine() }

// Report is what the checked log shows so far (verdicts, ticks, hash).
func (f *Follower) Report() *gamestate.Report { return f.chk.Report() }

// Forgeries are the answers that did not verify, in order.
func (f *Follower) Forgeries() []Forgery { return append([]Forgery(nil), f.forgeries...) }

// RelayFaults are the sources dropped (or, over UntrustedLinks, sat out)
// for serving what no player signed, one per time.
func (f *Follower) RelayFaults() []RelayFault { return append([]RelayFault(nil), f.faults...) }

// Dropped reports whether source src (a seat, or n+i for relay i) was
// dropped: a player caught serving a forged log, or a relay that served
// what no player signed or forwarded a forgery.
func (f *Follower) Dropped(src int) bool { return src >= 0 && src < len(f.dropped) && f.dropped[src] }
