package paxsync

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/transport"
)

// Config is everything Join needs. Zero values get the defaults noted.
type Config struct {
	// Key is this player's identity; its public key must be in Roster.
	Key *crypto.PrivateKey
	// MatchName and Roster define the match (its ID is derived from both).
	// Seat i is played by Roster[i]; every peer must use the same order.
	MatchName string
	Roster    []crypto.PublicKey
	// NewGame returns the game in its initial state. It is called once per
	// Join; the game must be deterministic (see gamestate.Game).
	NewGame func() (gamestate.Game, error)
	// GameParams are recorded in the replay header so a verifier can rebuild
	// the initial game (arena: arena.Params(seats, seed)).
	GameParams []byte

	TickRate int // ticks per second (default 30, at most 60)
	// Epoch is the tick grid shared by all peers: tick t is sampled at
	// Epoch + t/TickRate (wall clock). Peers given the same Epoch (a lobby
	// or launcher picks it; on a LAN, NTP keeps clocks within a
	// millisecond) sign their inputs for a tick at the same moment, so the
	// tick's inputs reach the leader together and it is decided one
	// consensus round later instead of waiting for the slowest clock's
	// phase. Zero: each peer's clock starts when it has heard all others.
	//
	// Epoch also names this playing of the match: it is part of the ID
	// every signature covers (crypto.NewMatchInstanceID), so a rerun of
	// a match with the same name and roster at another Epoch is another
	// instance, and nothing signed in an earlier one (an input, a vote)
	// can be replayed into it to convict an honest player of
	// equivocation. Every peer must be given the same Epoch (with a
	// different one it plays alone, and the others observe its messages
	// as bad signatures). Without an Epoch reruns share one ID: give one
	// whenever a match name and roster may be played again.
	Epoch time.Time
	// Unpaced runs the clock as fast as consensus goes: whenever a tick is
	// decided the clock moves to it, so the next ticks are sampled at once
	// (TickRate still paces deadlines and stats). For benchmarks and
	// simulations; the game must submit inputs ahead with SubmitInputAt.
	Unpaced bool
	// Consensus selects the ordering protocol. The default, ConsensusBFT,
	// is the product; the others are baselines for `paxsync bench` and
	// tolerate no cheater (see ConsensusMode).
	Consensus ConsensusMode
	// InputDelay is the ticks between submitting an input and its tick
	// (default 2; 4 with Sealed). With Prediction it is not felt: the
	// predicted view runs to the last tick this player has sampled, so it
	// shows an input on the next frame at any delay.
	InputDelay int
	// Prediction runs a speculative copy of the game ahead of the agreed
	// log, so a player sees its own input on the next frame instead of
	// after the commit latency (PredictedView; docs/EMBEDDING.md,
	// "Prediction and rollback"). Off by default. The agreed state stays
	// the only one that hashes, verdicts, replays and checkpoints use.
	Prediction   Prediction
	HashInterval uint64 // state hashes every this many ticks (default 30)
	// Sealed selects commit-reveal inputs, which defeat lookahead (choosing
	// an input after seeing the others' for the same tick). Each player's
	// input for tick t is first broadcast sealed under a one-time key
	// (crypto.Seal) and ordered in the log as a commitment; only once its
	// commitment is ordered does the player reveal the key, and tick t is
	// ordered with the reveals. A reveal that does not open the ordered
	// commitment is a reveal-mismatch verdict with proof. The price is a
	// second round: commit latency roughly doubles (docs/EMBEDDING.md,
	// "Sealed inputs"). Needs an ordering consensus (not ConsensusBroadcast).
	Sealed bool
	// Grace is how long after a tick's scheduled time the leader waits for
	// inputs before ordering the tick; later inputs are too late and the
	// seat gets the agreed "no input". Default: one tick interval, or two
	// at InputDelay 1, so that an input is protected from a censoring
	// leader however short the delay (fair play needs InputDelay+Grace of
	// three ticks); the leader still orders a tick as soon as it holds
	// every input, so a longer grace costs only ticks with an input
	// missing. Give every peer of a match the same Grace (like
	// TickRate): an acceptor judges a leader's "no input" against its own
	// deadline, and one whose grace is longer than the leader's reports
	// its honest batches as censorship.
	Grace time.Duration
	// ConsensusTick is the bft clock (default 10 ms); view timeouts are
	// multiples of it.
	ConsensusTick time.Duration
	Policy        gamestate.Policy
	// Transport opens this peer's network endpoint. Nil: libp2p (netp2p,
	// configured by Network). transport/memnet runs a whole match in one
	// process without sockets: give every seat's Config the same
	// memnet.Network.
	Transport transport.Factory
	Network   NetworkConfig
	// WALDir holds the bft write-ahead log: this player's own votes,
	// written before they are sent, so that a restarted process never signs
	// anything contradicting what it sent before (which the other peers
	// would prove as equivocation). The default, "", is a directory of its
	// own for this match and key under the user's state directory:
	// $XDG_STATE_HOME/paxsync/<match name>-<match ID>/seat<N>-<key>
	// (XDG_STATE_HOME defaults to ~/.local/state), so a game that crashes
	// rejoins safely with no setup. MemoryWAL keeps the votes in memory
	// only; a restarted process then cannot rejoin with the same key
	// safely, so use it only for throwaway sessions (tests, demos with
	// fresh keys). Tests should pass t.TempDir() or MemoryWAL: a test that
	// reuses a key, name and roster would otherwise restore an earlier
	// run's votes. For the same reason a MatchName must name one match: a
	// later match with the same name and roster is the same match to the
	// protocol, and finds the earlier one's votes.
	//
	// Join refuses a WAL that is damaged before its end (errors.Is
	// wal.ErrCorrupt, naming the file and byte offset) or that belongs to
	// another seat, key or match (errors.Is wal.ErrWrongOwner); it changes
	// nothing on disk then. A torn final write, which only a crash leaves,
	// is cut and logged as a warning.
	WALDir string
	// RecoverLostWAL is the way back for a player whose WAL was lost or
	// damaged (Join refuses a damaged one): the seat rejoins as a learner
	// that signs no consensus vote for the rest of this match, so it can
	// never contradict a vote it no longer remembers. It still plays: its
	// inputs are ordered and it follows the agreed log. A damaged WAL file
	// is kept beside the new one as bft.wal.damaged-<unix time>, never
	// deleted. The seat counts as one of the f faults the match tolerates
	// (docs/PROTOCOL.md, "Recovering a seat that lost its WAL"); the new
	// WAL remembers the recovery, so later restarts stay learners too.
	RecoverLostWAL bool
	// WALSync is what a vote in the WAL survives before it is sent; ""
	// means WALSyncPower. See WALSync.
	WALSync WALSync
	// Record, if set, receives a replay of the match (gamestate replay
	// format; `paxsync replay verify` checks it from the file alone). A
	// gamestate.ReplayFile (an *os.File opened read-write) that already
	// holds this match's replay is continued, not overwritten, so a
	// session restarted from its WAL keeps one verifiable replay; any
	// other io.Writer gets a fresh replay.
	Record io.Writer
	// Metrics, if set, gets this session's Prometheus metrics, labelled
	// with the match name and seat, for a game or server that already
	// scrapes its processes: commit latency, ticks decided, view changes,
	// messages and bytes by type, drops by reason, verdicts and
	// observations by kind, RTT per peer (docs/EMBEDDING.md, "Metrics and
	// stats"). Nil: no metrics, at no cost. Sessions of different seats or
	// matches may share a registry; Join refuses (ErrBadConfig) one that
	// already holds this match name and seat. Close unregisters them.
	Metrics prometheus.Registerer
	// EventBuffer is the capacity of Events() (default 4096).
	EventBuffer int
	Logger      *slog.Logger
}

// Prediction configures speculation (Config.Prediction), as GGRS's
// prediction does: the session advances a copy of the game every tick with
// the local input at once, every other seat's signed input it already
// holds, and a predicted input for the seats whose input has not arrived;
// when agreed ticks differ from what the copy used, it rolls back to the
// agreed state and re-simulates. A tick whose inputs are all in hand before
// it is decided is applied at once (speculative apply).
type Prediction struct {
	Enabled bool
	// Window is how many ticks past the agreed log the copy may run
	// (default 8, at most MaxPredictionWindow): past it the predicted view
	// waits for the log, which bounds the work of one rollback.
	Window int
	// Predict guesses a seat's input for tick from the latest input the
	// copy used for that seat (last; Present=false before the first).
	// Nil repeats last, which suits held keys and sticks. It runs on the
	// session's runtime goroutine and must be a pure function.
	Predict func(seat int, tick uint64, last gamestate.SeatInput) gamestate.SeatInput
}

// fairWindowTicks is the least InputDelay+Grace, in ticks, that Join's
// default Grace gives: fair play's input margin (two ticks) plus a tick to
// deliver the input in.
const fairWindowTicks = 3

// MaxPredictionWindow bounds Prediction.Window: a rollback re-simulates at
// most this many ticks.
const MaxPredictionWindow = 60

// MemoryWAL, as Config.WALDir, keeps the write-ahead log in memory only
// (see Config.WALDir for what that risks).
const MemoryWAL = ":memory:"

// WALSync chooses how durable each write-ahead-log write is before the
// messages it protects are sent.
type WALSync string

// WAL durability levels.
const (
	// WALSyncPower (the default): every group of records (one per
	// consensus step that signed something) is fsynced before the messages
	// it protects are sent, so a vote that left this machine survives a
	// crash of the process, the OS, or power. It costs one fsync per such
	// step: 0.2–1.5 ms measured on the project's 2-core VM (go test
	// -bench Append ./wal measures yours).
	WALSyncPower WALSync = "power"
	// WALSyncProcess writes each group with one write(2) and no fsync: it
	// survives a crash of the process, not of the OS or of power. After
	// one, the machine can come back without votes it had already sent;
	// the restarted peer may then sign a conflicting vote, which the other
	// peers prove as equivocation and flag it a cheater for. For
	// benchmarks, and for players who accept that risk for lower latency.
	WALSyncProcess WALSync = "process"
)

// DefaultSealedInputDelay is the default InputDelay of a sealed match:
// commit and reveal are two consensus rounds, measured to need 3-4 ticks at
// 60 Hz (docs/EMBEDDING.md, "Sealed inputs").
const DefaultSealedInputDelay = 4

// ConsensusMode selects how the session orders ticks.
type ConsensusMode string

// Consensus modes. Only ConsensusBFT survives Byzantine peers; the other two
// exist so a benchmark can show what Byzantine tolerance costs, in the same
// harness, on the same network code.
const (
	// ConsensusBFT: Byzantine Multi-Paxos with the verify broadcast among
	// 3f+1 acceptors (the default).
	ConsensusBFT ConsensusMode = "bft"
	// ConsensusCrash: the same Multi-Paxos without the verify broadcast,
	// with 2f+1 acceptors: tolerates f crashes, not one liar.
	ConsensusCrash ConsensusMode = "crash"
	// ConsensusBroadcast: no agreement at all. Every peer applies a tick
	// once it holds every seat's signed input for it (naive P2P lockstep):
	// a missing input stalls the match, and an equivocating player splits
	// it. The latency floor any lockstep design pays.
	ConsensusBroadcast ConsensusMode = "broadcast"
)

// NetworkConfig is the libp2p part of Config.
type NetworkConfig struct {
	// ListenAddrs default to all interfaces, OS-chosen TCP and QUIC ports.
	// Peers dial TCP first (it costs less CPU per tick than QUIC,
	// docs/BENCHMARKS.md) and QUIC 250 ms later, or at once when every
	// TCP dial failed. Tests use "/ip4/127.0.0.1/tcp/0". On a lossy
	// network (Wi-Fi) listen on QUIC only, e.g.
	// "/ip4/0.0.0.0/udp/4001/quic-v1": at 5 % packet loss TCP's one
	// connection holds every stream behind a lost segment and the match
	// orders under half its inputs, QUIC nine in ten (docs/BENCHMARKS.md,
	// "Under packet loss").
	ListenAddrs []string
	// Peers are multiaddrs ending in /p2p/<peer ID> (another session's
	// Addrs()). One reachable peer is enough: the others are found through
	// it; every peer keeps redialling.
	Peers []string
	// MDNS discovers the match's peers on the LAN.
	MDNS bool
	// SpectatorAddrs, when set, start this player's spectator service on
	// these addresses (e.g. "/ip4/0.0.0.0/tcp/4101"): anyone outside the
	// roster may then watch the match through Spectate, checking what it
	// is served itself. The service is a libp2p host of its own, apart
	// from the match's: spectators never reach the match's topic or
	// streams. Session.SpectatorAddrs gives its addresses. Not in
	// broadcast mode (nothing is decided) nor on an injected Transport.
	SpectatorAddrs []string
	// SpectatorRelay makes a spectator keep the players' answers it has
	// checked so that Spectator.AnswerSpectator can relay them to other
	// spectators over a transport of the game's own (SpectateFrom), with
	// no libp2p listener. SpectatorAddrs implies it. What it keeps is
	// bounded (the answers since the newest certified checkpoint, at most
	// 8 MiB). Spectators only; a player ignores it.
	SpectatorRelay bool
	// MaxSpectators bounds the answers this player's spectator service
	// builds at once (default 4) and so what spectators cost it: one
	// spectator gets at most two answers per tick, all together Max per
	// half tick and 1 MiB/s; 2×Max connections, two per address.
	MaxSpectators int
}

// Errors. Config problems wrap ErrBadConfig and name the field.
var (
	ErrBadConfig  = errors.New("paxsync: bad config")
	ErrClosed     = errors.New("paxsync: session closed")
	ErrTooLate    = errors.New("paxsync: input is for a tick already sampled")
	ErrTooEarly   = errors.New("paxsync: input is for a tick too far ahead")
	ErrInputLarge = errors.New("paxsync: input larger than gamestate.MaxInputSize")
	// ErrNoResult is ResultCertificate before the match has a stable
	// checkpoint (the first comes CheckpointInterval slots in), or in a
	// mode whose checkpoints prove nothing to an outsider (broadcast, crash
	// consensus).
	ErrNoResult = errors.New("paxsync: no certified result yet")
)

func badConfig(field, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadConfig, field, fmt.Sprintf(format, a...))
}

// withDefaults validates cfg and fills defaults; it returns this key's seat.
func (c Config) withDefaults() (Config, int, error) { return c.defaults(false) }

// defaults is withDefaults; a spectator's key must be outside the roster
// (it gets seat -1).
func (c Config) defaults(spectator bool) (Config, int, error) {
	if c.Key == nil {
		return c, 0, badConfig("Key", "required")
	}
	if c.MatchName == "" {
		return c, 0, badConfig("MatchName", "required")
	}
	if len(c.Roster) < 1 || len(c.Roster) > gamestate.MaxSeats {
		return c, 0, badConfig("Roster", "%d players, want 1..%d", len(c.Roster), gamestate.MaxSeats)
	}
	if err := crypto.CheckRoster(c.Roster); err != nil {
		return c, 0, badConfig("Roster", "%v", err)
	}
	seat := -1
	for i, k := range c.Roster {
		for j := 0; j < i; j++ {
			if c.Roster[j] == k {
				return c, 0, badConfig("Roster", "seats %d and %d have the same key", j, i)
			}
		}
		if k == c.Key.Public() {
			seat = i
		}
	}
	if seat < 0 && !spectator {
		return c, 0, badConfig("Key", "public key %s is not in Roster", c.Key.Public())
	}
	if seat >= 0 && spectator {
		return c, 0, badConfig("Key", "public key %s is seat %d's: a spectator watches with a key of its own", c.Key.Public(), seat)
	}
	if c.NewGame == nil {
		return c, 0, badConfig("NewGame", "required")
	}
	if c.TickRate == 0 {
		c.TickRate = gamestate.DefaultTickRate
	}
	if c.TickRate < 1 || c.TickRate > gamestate.MaxTickRate {
		return c, 0, badConfig("TickRate", "%d, want 1..%d", c.TickRate, gamestate.MaxTickRate)
	}
	if c.Prediction.Window < 0 || c.Prediction.Window > MaxPredictionWindow {
		return c, 0, badConfig("Prediction.Window", "%d, want 0 (default %d) or 1..%d", c.Prediction.Window, lockstep.DefaultPredictionWindow, MaxPredictionWindow)
	}
	if (c.Prediction.Window != 0 || c.Prediction.Predict != nil) && !c.Prediction.Enabled {
		return c, 0, badConfig("Prediction", "Window or Predict set but Enabled is false")
	}
	if c.InputDelay == 0 {
		c.InputDelay = gamestate.DefaultInputDelay
		if c.Sealed {
			// Two consensus rounds (commit, then reveal) must fit before
			// the tick's deadline.
			c.InputDelay = DefaultSealedInputDelay
		}
	}
	if c.InputDelay < 1 || c.InputDelay > 30 {
		return c, 0, badConfig("InputDelay", "%d, want 1..30", c.InputDelay)
	}
	if c.HashInterval == 0 {
		c.HashInterval = gamestate.DefaultHashInterval
	}
	switch c.Consensus {
	case "":
		c.Consensus = ConsensusBFT
	case ConsensusBFT, ConsensusCrash, ConsensusBroadcast:
	default:
		return c, 0, badConfig("Consensus", "unknown mode %q, want %q, %q or %q", c.Consensus, ConsensusBFT, ConsensusCrash, ConsensusBroadcast)
	}
	if c.Sealed && c.Consensus == ConsensusBroadcast {
		// Commitments must be ordered before any key is revealed; the
		// broadcast baseline orders nothing.
		return c, 0, badConfig("Sealed", "commit-reveal needs an ordering consensus, not %q", c.Consensus)
	}
	switch c.WALSync {
	case "":
		c.WALSync = WALSyncPower
	case WALSyncPower, WALSyncProcess:
	default:
		return c, 0, badConfig("WALSync", "unknown level %q, want %q or %q", c.WALSync, WALSyncPower, WALSyncProcess)
	}
	if c.Grace == 0 {
		// One tick, or more with a short input delay: fair play (an
		// acceptor refusing a leader that leaves out an input it held two
		// ticks before the deadline; docs/PROTOCOL.md, "Fair play") needs
		// InputDelay+Grace of at least fairWindowTicks from sampling to the
		// deadline, or at a short delay a censoring leader could order "no
		// input" for an input every acceptor held in time.
		c.Grace = time.Duration(max(1, fairWindowTicks-c.InputDelay)) * c.interval()
	}
	if c.Grace < 0 || c.Grace > 10*time.Second {
		return c, 0, badConfig("Grace", "%v, want 0..10s", c.Grace)
	}
	if c.ConsensusTick == 0 {
		c.ConsensusTick = 10 * time.Millisecond
	}
	if c.ConsensusTick < time.Millisecond {
		return c, 0, badConfig("ConsensusTick", "%v, want at least 1ms", c.ConsensusTick)
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = 4096
	}
	if c.EventBuffer < 0 {
		return c, 0, badConfig("EventBuffer", "%d", c.EventBuffer)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, seat, nil
}

// DefaultConfig is a Config with every default Join would fill in: what a
// launcher shows as the effective settings before it joins. Key,
// MatchName, Roster and NewGame are left for the caller; Grace is one tick
// at the default TickRate (Join computes it from the TickRate it is given
// when Grace is zero).
func DefaultConfig() Config {
	c := Config{
		TickRate: gamestate.DefaultTickRate, InputDelay: gamestate.DefaultInputDelay, HashInterval: gamestate.DefaultHashInterval,
		Consensus: ConsensusBFT, WALSync: WALSyncPower, ConsensusTick: 10 * time.Millisecond, EventBuffer: 4096,
	}
	c.Grace = c.interval()
	return c
}

// Validate checks c as Join would, without joining or touching the
// network or the disk: a launcher can check a roster file and its key
// before it starts anything. The error wraps ErrBadConfig and names the
// field.
func (c Config) Validate() error {
	_, _, err := c.withDefaults()
	return err
}

func (c *Config) interval() time.Duration { return time.Second / time.Duration(c.TickRate) }
