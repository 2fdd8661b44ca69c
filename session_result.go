package paxsync

import (
	"context"
	"fmt"

	"github.com/paxsync/paxsync/gamestate"
)

// ResultCertificate returns the match-result certificate of this peer's
// latest stable checkpoint: the match's identity, the checkpoint a quorum
// of seats signed, and the engine snapshot it names (tick, cheater flags,
// every verdict, the game state's digest). Write its Encode() to a file; a
// ladder or tournament backend checks it with
// gamestate.ResultCertificate.Verify or `paxsync result verify`, with no
// replay and no game. Every honest peer's certificate of one checkpoint
// proves the same result. It works during the match (a result as of the
// last checkpoint) and after Close (the final one); before the first
// stable checkpoint, and in broadcast or crash consensus, it returns
// ErrNoResult.
func (s *Session) ResultCertificate() (*gamestate.ResultCertificate, error) {
	if s.cfg.Consensus == ConsensusCrash || s.cfg.Consensus == ConsensusBroadcast {
		return nil, fmt.Errorf("%w: %v consensus signs no Byzantine-quorum checkpoints", ErrNoResult, s.cfg.Consensus)
	}
	stable, ok := s.drv.StableCheckpoint(context.Background())
	if !ok || len(stable.Cert) != gamestate.ResultQuorum(s.n) {
		return nil, ErrNoResult
	}
	return &gamestate.ResultCertificate{Name: s.cfg.MatchName, Roster: s.cfg.Roster, Epoch: epochNanos(s.cfg.Epoch),
		Checkpoint: stable.Checkpoint, Cert: stable.Cert, Snapshot: stable.Data}, nil
}
