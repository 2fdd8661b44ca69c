package wire

// Type identifies a message type. It is signed together with the message, so
// a signature made for one type (one role in the protocol) never verifies as
// another. All of paxsync's types are listed here so that no two packages can
// claim the same number.
type Type uint8

// Consensus messages (package bft), 1–31.
const (
	TypeAccept     Type = 1 // leader → acceptors: proposal for (view, slot)
	TypeVerify     Type = 2 // acceptor → acceptors: "I saw this proposal" (BPCon 2av)
	TypeConfirm    Type = 3 // acceptor → learners: "a quorum verified it" (BPCon 2b)
	TypePrepare    Type = 4 // new leader → acceptors: phase 1a of a view change
	TypePromise    Type = 5 // acceptor → new leader: phase 1b, carries certificates
	TypeViewChange Type = 6 // any → all: "I time out view v" / start view v+1
	TypeCheckpoint Type = 7 // acceptor → all: signed application-state digest at a slot
	TypeNewView    Type = 8 // new leader → all: the promises that justify its proposals
	TypeEvidence   Type = 9 // any → leader: evidence to be ordered into the log
)

// Game and session messages (package gamestate and the root package), 32–63.
const (
	TypeInput       Type = 32 // player's signed input for (seat, tick)
	TypeSealedInput Type = 33 // commit: input sealed with a one-time key
	TypeReveal      Type = 34 // reveal: the one-time key for a sealed input
	TypeStateHash   Type = 35 // player's signed state hash at a tick
	TypeHello       Type = 36 // lobby: player announces itself
	TypeReady       Type = 37 // lobby: player is ready with an agreed roster
	TypeLeave       Type = 38 // player: leaves the match on purpose from a tick on
	TypeNoInput     Type = 39 // player: has no input for one tick (do not wait for it)
	// TypeReplayEnd is the recording peer's signed end of a replay file
	// (gamestate): where the match's record stops and the hash of every
	// record before it, so a cut or pruned replay is told from a whole one.
	TypeReplayEnd Type = 40
	TypeKeyShare  Type = 41 // seat: its share of a withheld reveal's one-time key
	// TypeEvidenceRelay: a peer passes on game-level evidence it found
	// (forged or equivocating inputs), so the leader holds it too and
	// acceptors may require it in the log.
	TypeEvidenceRelay Type = 42
	// TypeRelay: an acceptor that refused a batch for leaving out inputs
	// or state hashes it holds passes the players' signed messages on, so
	// the next leader has them (after a partition, only one side did).
	TypeRelay Type = 43
)

// Point-to-point sync messages (catch-up over direct streams), 64–79.
const (
	TypeSyncRequest  Type = 64
	TypeSyncResponse Type = 65
)

var typeNames = map[Type]string{
	TypeAccept: "accept", TypeVerify: "verify", TypeConfirm: "confirm",
	TypePrepare: "prepare", TypePromise: "promise", TypeViewChange: "view-change",
	TypeCheckpoint: "checkpoint", TypeNewView: "new-view", TypeEvidence: "evidence",
	TypeInput: "input", TypeSealedInput: "sealed-input", TypeReveal: "reveal",
	TypeStateHash: "state-hash", TypeHello: "hello", TypeReady: "ready", TypeLeave: "leave", TypeNoInput: "no-input",
	TypeEvidenceRelay: "evidence-relay", TypeRelay: "relay", TypeReplayEnd: "replay-end", TypeKeyShare: "key-share",
	TypeSyncRequest: "sync-request", TypeSyncResponse: "sync-response",
}

// Known reports whether t is a registered type.
func (t Type) Known() bool { _, ok := typeNames[t]; return ok }

// String names the type for logs and reports.
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "unknown"
}
