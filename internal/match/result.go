package match

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/paxsync/paxsync"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// ResultInfo is a peer's match-result certificate as the runner checked
// it: what a ladder backend would learn from that one file.
type ResultInfo struct {
	File        string `json:"file"`
	Bytes       int    `json:"bytes"`
	Slot        uint64 `json:"slot"`
	NextTick    uint64 `json:"next_tick"` // ticks 0..next_tick-1 are in the result
	StateDigest string `json:"state_digest"`
	Flagged     []int  `json:"flagged"` // seats flagged as proven cheaters
	Signers     []int  `json:"signers"`
}

// writeResult writes the session's result certificate (its latest stable
// checkpoint) to path after Close; a match too short for a stable
// checkpoint, or a mode without Byzantine quorums, writes none and says
// why in the returned string.
func writeResult(s *paxsync.Session, path string) string {
	if path == "" {
		return ""
	}
	c, err := s.ResultCertificate()
	if err != nil {
		return err.Error()
	}
	if err := os.WriteFile(path, c.Encode(), 0o600); err != nil {
		return err.Error()
	}
	return ""
}

// checkResult verifies the result certificate peer i wrote, against the
// roster the runner made, as `paxsync result verify` does.
func checkResult(path, name string, roster []string) (*ResultInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys := make([]crypto.PublicKey, len(roster))
	for i, h := range roster {
		if keys[i], err = crypto.ParsePublicKey(h); err != nil {
			return nil, err
		}
	}
	c, err := gamestate.DecodeResultCertificate(data)
	if err != nil {
		return nil, err
	}
	res, err := c.Verify(name, keys)
	if err != nil {
		return nil, err
	}
	info := &ResultInfo{File: path, Bytes: len(data), Slot: res.Slot, NextTick: res.NextTick,
		StateDigest: res.StateDigest.Hex(), Flagged: []int{}, Signers: res.Signers}
	for seat, f := range res.Flags {
		if f.Flagged {
			info.Flagged = append(info.Flagged, seat)
		}
	}
	return info, nil
}

// checkResults reads and verifies every peer's certificate. A certificate
// that does not verify, one that flags an honest peer, or two honest
// peers' certificates of one checkpoint that differ fail the run; with
// expect.results_verify every honest peer up at the end must have one.
func (r *runState) checkResults(rep *Report, fail func(string, ...any)) {
	bySlot := map[uint64]int{}
	for i := range rep.Peers {
		pr := &rep.Peers[i]
		p := r.procs[i]
		if p.cfg.ResultFile == "" || pr.DownAtEnd || p.crashed || p.died != "" {
			continue
		}
		info, err := checkResult(p.cfg.ResultFile, p.cfg.MatchName, p.cfg.Roster)
		if errors.Is(err, os.ErrNotExist) {
			if r.honest(i) && r.sc.Expect.ResultsVerify {
				fail("results_verify: honest peer %d wrote no result certificate (%s)", i, pr.resultWhy)
			}
			continue
		}
		if err != nil {
			fail("peer %d's result certificate does not verify: %v", i, err)
			continue
		}
		pr.Result = info
		if !r.honest(i) {
			continue
		}
		for _, s := range info.Flagged {
			if r.honest(s) {
				fail("honest peer %d's result certificate flags honest peer %d", i, s)
			}
		}
		j, ok := bySlot[info.Slot]
		if !ok {
			bySlot[info.Slot] = i // the first honest result of the slot is the one the others must equal
			continue
		}
		if o := rep.Peers[j].Result; o.NextTick != info.NextTick || o.StateDigest != info.StateDigest || fmt.Sprint(o.Flagged) != fmt.Sprint(info.Flagged) {
			fail("honest peers %d and %d certify different results of slot %d", j, i, info.Slot)
		}
	}
}

// printResults is the report's result lines.
func (rep *Report) printResults(w io.Writer) {
	for _, p := range rep.Peers {
		if p.Result == nil {
			continue
		}
		fmt.Fprintf(w, "result: peer %d certifies slot %d, %d ticks applied, state %.16s, flagged %v, signed by %v (%d bytes, verified)\n",
			p.Index, p.Result.Slot, p.Result.NextTick, p.Result.StateDigest, p.Result.Flagged, p.Result.Signers, p.Result.Bytes)
	}
}
