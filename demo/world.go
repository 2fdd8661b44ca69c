package demo

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/demo/prediction"
	"github.com/paxsync/paxsync/gamestate"
)

// Player describes one seat for the HUD.
type Player struct {
	Name      string
	Connected bool   // a live connection to this peer (always true for the local seat)
	Note      string // e.g. "bot", "you", a short public key
	// Cheat is the cheat kind this seat was told to play (the one-machine
	// demo's --cheater), "" for none; the HUD says what it does and what
	// honest peers will see of it.
	Cheat string
	// CheatFrom is the tick the cheat starts at.
	CheatFrom uint64
}

// NetStats is what the network panel shows; the live source fills it from
// the session's statistics.
type NetStats struct {
	CommitP50, CommitP99 time.Duration
	View                 uint64
	Leader               int
	TicksBehind          int
	MsgsPerSec           float64
	Peers                int
	Valid                bool // false until the first statistics arrive
	// PeerRTT is the ping of each seat, indexed by seat (Stats.PeerRTT);
	// 0 for the local seat and peers not connected or not pinged yet.
	PeerRTT []time.Duration
	// Prediction is the speculation's figures (zero without prediction):
	// the panel shows rollbacks per second, the deepest rollback and the
	// speculative apply's p50 beside the commit latency.
	Prediction prediction.Figures
}

// Flag is a proven verdict against a seat, with the HUD's line about it.
type Flag struct {
	Verdict gamestate.Verdict
	Text    string
}

// note is a quiet, local, unprovable observation.
type note struct {
	at   time.Time
	text string
}

// World is the state shared between a Source's goroutines (which receive
// agreed ticks, verdicts and statistics) and Ebiten's Update/Draw. Every
// field is guarded by mu; the render side only takes copies.
type World struct {
	mu        sync.Mutex
	players   []Player
	local     int    // the local player's seat, -1 when watching a replay
	watching  string // what the HUD says of every seat when local is -1
	tickDur   time.Duration
	prev, cur *Frame
	curAt     time.Time
	ticks     uint64 // agreed ticks received
	flags     []*Flag
	seen      map[verdictKey]bool
	onVerdict func(Flag)
	notes     []note
	stats     NetStats
	cheats    []string // labels of the local player's active cheats
	lobby     string   // non-empty while waiting for players
	title     string
	done      bool  // the source has nothing more to show (end of a replay)
	err       error // fatal: the game stops with it
	verifier  *crypto.Verifier

	// pprev and pcur are the last two predicted frames (Live polls
	// Session.PredictedView), drawn in the arena instead of prev and cur
	// while mode shows the prediction; everything that states a result
	// (scores, verdicts, the tick count) stays on the agreed frames.
	pprev, pcur *Frame
	pcurAt      time.Time
	mode        prediction.Mode
}

// NewWorld makes a world for the given players. local is the seat of this
// client (-1 for a replay); tickRate is ticks per second, used to pace
// interpolation; verifier (optional) re-checks verdict evidence for the HUD.
func NewWorld(title string, players []Player, local, tickRate int, verifier *crypto.Verifier) *World {
	if tickRate <= 0 {
		tickRate = gamestate.DefaultTickRate
	}
	return &World{title: title, players: players, local: local, flags: make([]*Flag, len(players)),
		tickDur: time.Second / time.Duration(tickRate), verifier: verifier, seen: map[verdictKey]bool{}}
}

// verdictKey identifies one proven fact: a verdict delivered twice (a
// replayed batch, a restarted session) is the same one.
type verdictKey struct {
	kind     gamestate.VerdictKind
	offender int
	tick     uint64
}

// SetWatching sets what the HUD says of every seat when no seat is this
// client's ("replay" by default; a spectator says "watched").
func (w *World) SetWatching(label string) {
	w.mu.Lock()
	w.watching = label
	w.mu.Unlock()
}

// OnVerdict sets a function called with every new verdict, after the HUD
// has it, on the goroutine that added it (paxsync-demo prints verdicts as
// they happen with it). fn must not call back into the World.
func (w *World) OnVerdict(fn func(Flag)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onVerdict = fn
}

// PushFrame records a newly agreed state.
func (w *World) PushFrame(f Frame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.prev, w.cur, w.curAt = w.cur, &f, time.Now()
	w.ticks++
}

// PushPredicted records a new predicted state of the local session (a
// further tick, or a rollback's correction of the current one).
func (w *World) PushPredicted(f Frame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pprev, w.pcur, w.pcurAt = w.pcur, &f, time.Now()
}

// SetPrediction says whether the local session speculates; the arena then
// draws its predicted state until TogglePrediction.
func (w *World) SetPrediction(enabled bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mode = prediction.NewMode(enabled)
}

// TogglePrediction switches the arena between the predicted and the agreed
// state (the P key), so a player can feel what prediction hides; the
// session keeps speculating either way.
func (w *World) TogglePrediction() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mode.Toggle()
}

// Prediction is the current prediction mode.
func (w *World) Prediction() prediction.Mode {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mode
}

// Ticks is the number of agreed ticks received so far.
func (w *World) Ticks() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ticks
}

// AddVerdict flags the offender (the first verdict against a seat is the
// one shown) and passes the verdict to the OnVerdict function. It
// re-checks the evidence's signatures when a verifier is known, so "proof
// verified" on screen is a statement this client checked, not one it was
// told.
func (w *World) AddVerdict(v gamestate.Verdict) {
	k := verdictKey{v.Kind, v.Offender, v.Tick}
	w.mu.Lock()
	if w.seen[k] {
		w.mu.Unlock()
		return // the same proven fact, delivered twice
	}
	w.seen[k] = true
	w.mu.Unlock()
	// Verifying signatures takes a while; not under the lock the renderer
	// takes every frame.
	f := Flag{Verdict: v, Text: VerdictText(v, w.verifier)}
	w.mu.Lock()
	if v.Offender >= 0 && v.Offender < len(w.flags) && w.flags[v.Offender] == nil {
		w.flags[v.Offender] = &f
	}
	fn := w.onVerdict
	w.mu.Unlock()
	if fn != nil {
		fn(f)
	}
}

// VerdictText is the one-line human description of a verdict, e.g.
// "invalid move (speed) at tick 812 — proof verified".
func VerdictText(v gamestate.Verdict, verifier *crypto.Verifier) string {
	what := v.Kind.String()
	switch v.Kind {
	case gamestate.InvalidMove:
		what = fmt.Sprintf("invalid move (%s)", v.Violation)
	case gamestate.InputEquivocation:
		what = "equivocated input"
	case gamestate.StateDivergence:
		what = "lied about state hash"
	case gamestate.ForgedInput:
		what = "forged another seat's input"
	case gamestate.RevealMismatch:
		what = "reveal does not open sealed input"
	case gamestate.ProposalEquivocation:
		what = "equivocated proposal"
	case gamestate.VoteEquivocation:
		what = "equivocated vote"
	}
	s := fmt.Sprintf("%s at tick %d", what, v.Tick)
	if verifier == nil {
		return s
	}
	switch err := v.Verify(verifier); {
	case err == nil, errors.Is(err, gamestate.ErrNeedsReplay):
		// ErrNeedsReplay: the signed input is the offender's own, and the
		// rule it broke was re-checked by this client's engine on the
		// agreed state, which is the replay the proof needs.
		return s + " — proof verified"
	case errors.Is(err, gamestate.ErrNeedsConsensusCheck):
		return s + " — signatures verified"
	default:
		return s + " — PROOF REJECTED"
	}
}

// AddNote records a local observation; only the most recent few are kept.
func (w *World) AddNote(text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.notes = append(w.notes, note{at: time.Now(), text: text})
	if len(w.notes) > 4 {
		w.notes = w.notes[len(w.notes)-4:]
	}
}

// SetConnected updates a seat's connection state.
func (w *World) SetConnected(seat int, up bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seat >= 0 && seat < len(w.players) {
		w.players[seat].Connected = up
	}
}

// SetStats replaces the network statistics.
func (w *World) SetStats(s NetStats) {
	s.Valid = true
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats = s
}

// SetCheats sets the labels of the local player's active cheats.
func (w *World) SetCheats(labels []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cheats = append(w.cheats[:0], labels...)
}

// SetLobby shows a lobby message instead of the arena ("" hides it).
func (w *World) SetLobby(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lobby = msg
}

// Finish marks the source as exhausted (err nil) or failed.
func (w *World) Finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.err == nil {
		w.err = err
	}
}

// view is a consistent copy of the world for one Draw call.
type view struct {
	title    string
	players  []Player
	local    int
	watching string
	prev     *Frame // the agreed frames: scores, the tick, cheat status
	cur      *Frame
	alpha    float64
	// drawPrev, drawCur and drawAlpha are what the arena draws: the
	// agreed frames, or the predicted ones (drawn says which).
	drawPrev, drawCur *Frame
	drawAlpha         float64
	drawn             prediction.Source
	mode              prediction.Mode
	ticks             uint64
	flags             []*Flag
	notes             []note
	stats             NetStats
	cheats            []string
	lobby             string
	done              bool
	err               error
	tickRate          float64
}

func (w *World) snapshot(now time.Time) view {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := view{title: w.title, players: append([]Player(nil), w.players...), local: w.local, watching: w.watching,
		prev: w.prev, cur: w.cur, ticks: w.ticks, flags: append([]*Flag(nil), w.flags...),
		notes: append([]note(nil), w.notes...), stats: w.stats, cheats: append([]string(nil), w.cheats...),
		lobby: w.lobby, done: w.done, err: w.err, tickRate: float64(time.Second) / float64(w.tickDur), alpha: 1}
	if w.local >= 0 && w.local < len(w.players) && w.players[w.local].Cheat != "" &&
		w.cur != nil && w.cur.Tick >= w.players[w.local].CheatFrom {
		v.cheats = append(v.cheats, w.players[w.local].Cheat+" (--cheater)")
	}
	v.alpha = w.alphaOf(w.cur, w.curAt, now)
	v.mode, v.drawn = w.mode, w.mode.Drawn(w.pcur != nil)
	v.drawPrev, v.drawCur, v.drawAlpha = v.prev, v.cur, v.alpha
	if v.drawn == prediction.Predicted {
		v.drawPrev, v.drawCur, v.drawAlpha = w.pprev, w.pcur, w.alphaOf(w.pcur, w.pcurAt, now)
	}
	return v
}

// alphaOf is how far between the frame before cur and cur (which arrived
// at) a frame drawn at now is, for interpolation.
func (w *World) alphaOf(cur *Frame, at, now time.Time) float64 {
	if cur == nil || w.tickDur <= 0 {
		return 1
	}
	return min(1, max(0, float64(now.Sub(at))/float64(w.tickDur)))
}
