package paxsync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/spectator"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/wire"
)

// serveSpectators starts the spectator service Network.SpectatorAddrs asks
// for. It answers with the driver's catch-up answer, the one a lagging
// player gets: one code path, one cost.
func (s *Session) serveSpectators(wrap func(serve func(ctx context.Context, req []byte) ([]byte, error)) func(ctx context.Context, req []byte) ([]byte, error)) error {
	s.spectServe = s.drv.ServeSync
	if wrap != nil {
		s.spectServe = wrap(s.spectServe) // an adversary's (forge-log): never on an honest peer
	}
	net := s.cfg.Network
	if len(net.SpectatorAddrs) == 0 {
		return nil
	}
	if s.cfg.Consensus != ConsensusBFT {
		return badConfig("Network.SpectatorAddrs", "a spectator checks Byzantine-quorum certificates: %q consensus has none", s.cfg.Consensus)
	}
	if s.cfg.Transport != nil {
		return badConfig("Network.SpectatorAddrs", "the spectator service runs on libp2p, not on an injected Transport")
	}
	if net.MaxSpectators < 0 {
		return badConfig("Network.MaxSpectators", "%d", net.MaxSpectators)
	}
	serve := s.spectServe
	svc, err := netp2p.ServeSpectators(netp2p.SpectatorConfig{Key: s.cfg.Key, ListenAddrs: net.SpectatorAddrs,
		Max: net.MaxSpectators, MinInterval: s.cfg.interval() / 2,
		Serve: func(ctx context.Context, req []byte) ([]byte, error) { return s.signAnswer(ctx, serve, req) }})
	if err != nil {
		return fmt.Errorf("paxsync: spectator service: %w", err)
	}
	s.spect = svc
	return nil
}

// signAnswer is serve's answer to a spectator's request, signed: one
// signature of its digest (internal/spectator), so an answer that does not
// verify proves its signer forged it. Answers are built on many
// goroutines; one Signer is not safe for concurrent use.
func (s *Session) signAnswer(ctx context.Context, serve func(context.Context, []byte) ([]byte, error), req []byte) ([]byte, error) {
	after, n := binary.Uvarint(req)
	if n <= 0 || n != len(req) {
		return nil, errors.New("paxsync: malformed spectator request")
	}
	resp, err := serve(ctx, req)
	if err != nil || len(resp) == 0 {
		return resp, err
	}
	s.answerMu.Lock()
	if s.answerSigner == nil {
		s.answerSigner = crypto.NewSigner(s.cfg.Key, s.match, uint16(s.seat))
	}
	env := s.answerSigner.Sign(wire.TypeSyncResponse, spectator.AnswerBody(after, resp))
	s.answerMu.Unlock()
	return spectator.EncodeAnswer(env, resp), nil
}

// AnswerSpectator answers a spectator's request (what a SpectatorSource
// carries) with this player's signed answer: the decided log after the
// slot asked, with its certificates. It is the answer the spectator
// service sends, for games that carry spectators over a transport of
// their own (an injected Transport has no spectator service). Empty when
// there is nothing new; an error in broadcast or crash consensus, which
// certify nothing a spectator may go by. Bound what you serve as the
// service does (docs/EMBEDDING.md, "Spectators").
func (s *Session) AnswerSpectator(ctx context.Context, req []byte) ([]byte, error) {
	if s.cfg.Consensus != ConsensusBFT {
		return nil, fmt.Errorf("%w: a spectator checks Byzantine-quorum certificates: %q consensus has none", ErrBadConfig, s.cfg.Consensus)
	}
	return s.signAnswer(ctx, s.spectServe, req)
}

// SpectatorAddrs are the addresses of this player's spectator service
// (Network.SpectatorAddrs), each ending in /p2p/<peer ID>: what a
// spectator passes to Spectate. Nil without a service.
func (s *Session) SpectatorAddrs() []string {
	if s.spect == nil {
		return nil
	}
	return s.spect.Addrs()
}

// Spectator watches a match it has no seat in. It asks the players'
// spectator services, one at a time in turn, for the decided log after
// the last slot it holds, and checks every answer itself exactly as a
// replay verifier checks a file (commit certificates, checkpoint
// certificates against their snapshots, every batch and verdict
// re-derived): it trusts no player. A player whose answer does not verify
// is dropped for good (Forgeries says who and why) and the others serve
// on; with f or fewer Byzantine players and one honest service reachable,
// the spectator sees exactly the match the honest players see.
//
// Spectators relay to each other, so the players serve a bounded number
// however many watch: a spectator given Network.SpectatorAddrs serves the
// players' signed answers it has checked, unchanged, to other spectators
// (RelayAddrs), which check them as they would the players' own. A relay
// can only slow those it serves; anything it serves that no player signed
// drops it (RelayFaults), and a player's forgery it forwards still
// convicts that player. Methods are safe for concurrent use.
type Spectator struct {
	cfg     Config
	f       *spectator.Follower
	sources sourceSet
	relay   *netp2p.SpectatorService // nil unless relaying
	cancel  context.CancelFunc
	done    chan struct{}

	mu  sync.Mutex // guards f's state for readers, and err
	err error
}

// ErrNoSource means every player and relay the spectator could ask was
// caught serving a forged log (or, for a relay, what no player signed).
var ErrNoSource = errors.New("paxsync: spectator: no player or relay left to watch from")

// Spectate starts watching the match cfg describes: cfg is the match's
// own configuration (MatchName, Roster, Epoch, TickRate, GameParams,
// NewGame and the other game settings, exactly as the players have them,
// or the certificates do not verify), with Key the spectator's own key,
// which must not be in the Roster. sources are spectator service
// addresses, at least one: the players' (Session.SpectatorAddrs) and other
// spectators' relays (Spectator.RelayAddrs), told apart by their keys.
// With cfg.Network.SpectatorAddrs set, the spectator relays on those
// addresses (at most Network.MaxSpectators answers at once, paced as a
// player's service is). Close it when done.
func Spectate(ctx context.Context, cfg Config, sources []string) (*Spectator, error) {
	cfg, err := spectatorConfig(cfg, len(sources))
	if err != nil {
		return nil, err
	}
	f, err := newFollower(&cfg)
	if err != nil {
		return nil, err
	}
	client, err := netp2p.DialSpectator(cfg.Key, cfg.Roster, sources)
	if err != nil {
		return nil, fmt.Errorf("paxsync: spectator: %w", err)
	}
	f.UseRelays(client.Relays())
	return startSpectator(ctx, cfg, f, client)
}

// spectatorConfig checks a spectator's Config (with sources places to
// ask) and fills its defaults.
func spectatorConfig(cfg Config, sources int) (Config, error) {
	cfg, _, err := cfg.defaults(true)
	switch {
	case err != nil:
		return cfg, err
	case cfg.Consensus != ConsensusBFT:
		// Crash mode certifies f+1 of 2f+1: nothing a spectator that
		// trusts no player may go by; broadcast mode decides nothing.
		return cfg, badConfig("Consensus", "a spectator checks Byzantine-quorum certificates: %q consensus has none", cfg.Consensus)
	case sources == 0:
		return cfg, badConfig("sources", "no spectator service address or source")
	case cfg.Network.MaxSpectators < 0:
		return cfg, badConfig("Network.MaxSpectators", "%d", cfg.Network.MaxSpectators)
	}
	return cfg, nil
}

func newFollower(cfg *Config) (*spectator.Follower, error) {
	newGame := func(*gamestate.Header) (gamestate.Game, error) { return cfg.NewGame() }
	f, err := spectator.New(replayHeader(cfg), newGame)
	if err != nil {
		return nil, badConfig("NewGame", "%v", err)
	}
	return f, nil
}

// startSpectator starts the relay service when asked for and the loop.
func startSpectator(ctx context.Context, cfg Config, f *spectator.Follower, src sourceSet) (*Spectator, error) {
	sp := &Spectator{cfg: cfg, f: f, sources: src, done: make(chan struct{})}
	net := cfg.Network
	if net.SpectatorRelay || len(net.SpectatorAddrs) > 0 {
		f.EnableRelay()
	}
	if len(net.SpectatorAddrs) > 0 {
		var err error
		sp.relay, err = netp2p.ServeSpectators(netp2p.SpectatorConfig{Key: cfg.Key, ListenAddrs: net.SpectatorAddrs,
			Max: net.MaxSpectators, MinInterval: cfg.interval() / 2, Serve: sp.serveRelay})
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("paxsync: spectator relay: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sp.cancel = cancel
	go sp.run(runCtx)
	return sp, nil
}

// sourceSet is where a spectator asks: the libp2p endpoint
// (netp2p.SpectatorClient) or the game's own (SpectatorSource), numbered
// as the Follower numbers them, seats first, then relays.
type sourceSet interface {
	Known(src int) bool
	RequestSync(ctx context.Context, src int, req []byte) ([]byte, error)
	Close() error
}

// SpectatorSource is one place a spectator may ask for the decided log
// over a transport of the game's own: a player (Seat, its seat) whose
// side calls Session.AnswerSpectator, or another spectator relaying (Seat
// -1) whose side calls Spectator.AnswerSpectator. Ask carries the request
// there and the answer back; an error or a timeout only makes the
// spectator ask the next source. Nothing a source says is trusted: every
// answer is checked. The game's transport proves nothing of who
// answered, so an answer the player did not sign is a RelayFault naming
// no one, and its source sits out turns (twice as many after each fault,
// at most 8, forgiven by its next intact answer) rather than being
// dropped, since the path may be what lied: a path that garbles players'
// answers slows the spectator, it cannot cut it off. Only an answer the player signed and that does not verify
// convicts the player (a Forgery with its Proof) and drops it for good.
type SpectatorSource interface {
	Seat() int
	Ask(ctx context.Context, req []byte) ([]byte, error)
}

// SpectateFrom is Spectate over the game's own transport: the spectator
// asks the given sources (at most one per seat, and any number of relays)
// instead of dialling spectator services. With cfg.Network.SpectatorRelay
// it relays to others through AnswerSpectator over the same transport;
// cfg.Network.SpectatorAddrs, if set, relays over libp2p as well.
func SpectateFrom(ctx context.Context, cfg Config, from []SpectatorSource) (*Spectator, error) {
	cfg, err := spectatorConfig(cfg, len(from))
	if err != nil {
		return nil, err
	}
	ss := &sourceList{seats: make([]SpectatorSource, len(cfg.Roster))}
	for i, src := range from {
		if src == nil {
			return nil, badConfig("sources", "source %d is nil", i)
		}
		switch seat := src.Seat(); {
		case seat == -1:
			ss.relays = append(ss.relays, src)
		case seat < 0 || seat >= len(cfg.Roster):
			return nil, badConfig("sources", "source %d names seat %d of %d", i, seat, len(cfg.Roster))
		case ss.seats[seat] != nil:
			return nil, badConfig("sources", "two sources for seat %d", seat)
		default:
			ss.seats[seat] = src
		}
	}
	f, err := newFollower(&cfg)
	if err != nil {
		return nil, err
	}
	f.UseRelays(len(ss.relays))
	f.UntrustedLinks() // a source proves nothing of who answered: only signatures do
	return startSpectator(ctx, cfg, f, ss)
}

// sourceList is SpectateFrom's sources.
type sourceList struct {
	seats, relays []SpectatorSource
}

func (l *sourceList) get(src int) SpectatorSource {
	switch {
	case src >= 0 && src < len(l.seats):
		return l.seats[src]
	case src >= len(l.seats) && src < len(l.seats)+len(l.relays):
		return l.relays[src-len(l.seats)]
	}
	return nil
}

func (l *sourceList) Known(src int) bool { return l.get(src) != nil }

func (l *sourceList) RequestSync(ctx context.Context, src int, req []byte) ([]byte, error) {
	s := l.get(src)
	if s == nil {
		return nil, fmt.Errorf("paxsync: spectator: no source %d", src)
	}
	return s.Ask(ctx, req)
}

func (l *sourceList) Close() error { return nil }

// serveRelay answers another spectator with a player's signed answer this
// one checked and kept.
func (sp *Spectator) serveRelay(_ context.Context, req []byte) ([]byte, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.f.Relay(req), nil
}

// AnswerSpectator answers another spectator's request (what a
// SpectatorSource of Seat -1 carries) with a player's signed answer this
// one checked and kept, unchanged: what its relay service sends, for
// games that carry spectators over a transport of their own. Empty when
// it holds nothing further, and always unless it relays
// (Network.SpectatorRelay or Network.SpectatorAddrs). Not from inside a
// View callback (it takes the lock View holds).
func (sp *Spectator) AnswerSpectator(ctx context.Context, req []byte) ([]byte, error) {
	return sp.serveRelay(ctx, req)
}

// RelayAddrs are the addresses this spectator relays on
// (Network.SpectatorAddrs), each ending in /p2p/<peer ID>: what another
// spectator passes to Spectate. Nil when it does not relay.
func (sp *Spectator) RelayAddrs() []string {
	if sp.relay == nil {
		return nil
	}
	return sp.relay.Addrs()
}

// requestTimeout bounds one answer: a LAN player answers in
// milliseconds (a join with a snapshot in tens of them), so a player that
// stalls costs the spectator at most this per turn.
const requestTimeout = 3 * time.Second

// run asks the players in turn until ctx ends: at once again after an
// answer that brought something, one tick later after one that did not.
func (sp *Spectator) run(ctx context.Context) {
	defer close(sp.done)
	iv := sp.cfg.interval()
	idle := 0 // answers in a row that brought nothing
	for ctx.Err() == nil {
		sp.mu.Lock()
		src, ok := sp.f.Source()
		for tries := 0; ok && !sp.sources.Known(src) && tries < sp.f.Sources(); tries++ {
			src, ok = sp.f.Source()
		}
		if !ok || !sp.sources.Known(src) {
			sp.err = ErrNoSource
			sp.mu.Unlock()
			return
		}
		req := sp.f.Request(src)
		sp.mu.Unlock()
		// A source that holds a request open only delays this one: the
		// next goes to the next source.
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := sp.sources.RequestSync(rctx, src, req)
		cancel()
		applied := 0
		if err == nil {
			sp.mu.Lock()
			applied, _ = sp.f.Deliver(src, resp) // a forgery drops src: Forgeries, RelayFaults
			sp.mu.Unlock()
		}
		if applied > 0 {
			idle = 0
			continue
		}
		idle++
		wait := iv
		if idle >= 4*sp.f.Sources() {
			wait = min(8*iv, time.Second) // no one has anything: the match is over or paused
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// SpectatorStats is what a spectator has checked so far.
type SpectatorStats struct {
	Slot uint64 // last decided slot checked
	// Checkpoints counts the certified checkpoints installed: a spectator
	// that joins after the match's first stable checkpoint starts from
	// one, and one that falls behind the players jumps by one.
	Checkpoints int
	Ticks       uint64        // ticks applied (the next tick)
	Hash        crypto.Digest // game hash after the last tick
	// Verdicts the checked log gives: re-derived with their evidence, or,
	// for the slots a certified checkpoint skipped, as its snapshot holds
	// them (kind, offender, tick; no evidence).
	Verdicts []gamestate.Verdict
	// Forgeries are the answers that did not verify, each naming the
	// player; a Forgery's Proof (its signed answer) convinces anyone with
	// the roster (VerifyForgedLog). One a relay forwarded names it (Via).
	Forgeries []spectator.Forgery
	// RelayFaults are the relays (and, with SpectateFrom, the players'
	// sources) dropped for serving what no player signed for the request
	// (no proof against anyone).
	RelayFaults []spectator.RelayFault
}

// Stats reports what the spectator has checked so far.
func (sp *Spectator) Stats() SpectatorStats {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	rep := sp.f.Report()
	return SpectatorStats{Slot: rep.LastSlot, Checkpoints: rep.Checkpoints, Ticks: rep.Ticks, Hash: rep.FinalHash,
		Verdicts: append([]gamestate.Verdict(nil), rep.Verdicts...), Forgeries: sp.f.Forgeries(), RelayFaults: sp.f.RelayFaults()}
}

// View calls fn with the game as the checked log left it and the next
// tick. The game must not be kept or changed after fn returns.
func (sp *Spectator) View(fn func(g gamestate.Game, next uint64)) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	eng := sp.f.Engine()
	fn(eng.Game(), eng.Next())
}

// CheckpointHash is the game hash the checked log gives at checkpoint tick
// (a multiple of HashInterval among the last few), to compare with the
// players' signed state hashes.
func (sp *Spectator) CheckpointHash(tick uint64) (crypto.Digest, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.f.Engine().CheckpointHash(tick)
}

// Err is why the spectator stopped following (ErrNoSource), or nil.
func (sp *Spectator) Err() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.err
}

// Close stops watching (and relaying).
func (sp *Spectator) Close() error {
	sp.cancel()
	<-sp.done
	var err error
	if sp.relay != nil {
		err = sp.relay.Close()
	}
	return errors.Join(sp.sources.Close(), err)
}

// VerifyForgedLog checks a spectator's proof that a player served a forged
// log (SpectatorStats.Forgeries[i].Proof) against the match cfg describes
// (its MatchName, Roster, Epoch and the game settings; Key is not used),
// with no other state. It returns the seat that signed the answer and what
// in it no honest player serves, or an error: the proof is not a seat's
// signed answer, or the answer holds (internal/spectator.ErrNotForged).
func VerifyForgedLog(cfg Config, proof []byte) (seat int, reason string, err error) {
	if cfg.Key == nil {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			return -1, "", err
		}
		cfg.Key = k // defaults wants a key outside the roster
	}
	cfg, _, err = cfg.defaults(true)
	if err != nil {
		return -1, "", err
	}
	return spectator.VerifyForgery(replayHeader(&cfg), proof)
}
