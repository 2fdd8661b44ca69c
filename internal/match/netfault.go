package match

import (
	"fmt"
	"slices"
	"time"

	"github.com/paxsync/paxsync"
)

// NetFault is one peer's own part of a partition or disconnect fault: when
// the peer has applied tick AtTick it cuts the seats in Cut (a real cut
// through the connection gater, paxsync.Session.Cut), and HealAfterMs
// later it heals them (0: never). Healing is timed by the clock rather than
// by ticks because a side without a quorum decides no ticks while cut.
type NetFault struct {
	AtTick      uint64 `json:"at_tick"`
	Cut         []int  `json:"cut"`
	HealAfterMs int64  `json:"heal_after_ms,omitempty"`
}

// validateNetFault checks a partition or disconnect fault.
func (sc *Scenario) validateNetFault(f string, ft FaultSpec, faulty map[int]bool) error {
	if ft.AtTick == 0 || ft.AtTick >= sc.Ticks {
		return bad(f+".at_tick", "%d, want 1..%d", ft.AtTick, sc.Ticks-1)
	}
	if ft.HealAtTick != 0 && (ft.HealAtTick <= ft.AtTick || ft.HealAtTick >= sc.Ticks) {
		return bad(f+".heal_at_tick", "%d, want after at_tick and before ticks", ft.HealAtTick)
	}
	if ft.RestartAtTick != 0 {
		return bad(f+".restart_at_tick", "only crash restarts; %s heals with heal_at_tick", ft.Kind)
	}
	if ft.Kind == "disconnect" {
		if ft.Peer == nil || *ft.Peer < 0 || *ft.Peer >= sc.Peers {
			return bad(f+".peer", "disconnect needs a peer index 0..%d", sc.Peers-1)
		}
		if ft.Groups != nil {
			return bad(f+".groups", "disconnect takes peer, at_tick and heal_at_tick only")
		}
		faulty[*ft.Peer] = true // cut off, it is as good as crashed meanwhile
		return nil
	}
	if ft.Peer != nil {
		return bad(f+".peer", "partition takes groups, not peer")
	}
	if ft.HealAtTick == 0 {
		return bad(f+".heal_at_tick", "partition needs heal_at_tick (a side without a quorum would never finish)")
	}
	if len(ft.Groups) < 2 {
		return bad(f+".groups", "want at least two groups, have %d", len(ft.Groups))
	}
	seen := map[int]bool{}
	for gi, g := range ft.Groups {
		if len(g) == 0 {
			return bad(fmt.Sprintf("%s.groups[%d]", f, gi), "empty group")
		}
		for _, p := range g {
			if p < 0 || p >= sc.Peers || seen[p] {
				return bad(fmt.Sprintf("%s.groups[%d]", f, gi), "peer %d is out of range 0..%d or in two groups", p, sc.Peers-1)
			}
			seen[p] = true
		}
	}
	if len(seen) != sc.Peers {
		return bad(f+".groups", "every peer 0..%d must be in exactly one group", sc.Peers-1)
	}
	return nil
}

// netFaultsOf returns peer's own part of every partition and disconnect
// fault whose at_tick is above after (a restarted peer gets only the faults
// still to come, not the ones the match already went through).
func (sc *Scenario) netFaultsOf(peer int, after uint64) []NetFault {
	var out []NetFault
	for _, ft := range sc.Faults {
		if (ft.Kind != "partition" && ft.Kind != "disconnect") || ft.AtTick <= after {
			continue
		}
		nf := NetFault{AtTick: ft.AtTick}
		if ft.HealAtTick != 0 {
			nf.HealAfterMs = int64(ft.HealAtTick-ft.AtTick) * 1000 / int64(sc.TickHz)
		}
		switch {
		case ft.Kind == "disconnect" && *ft.Peer == peer:
			for q := 0; q < sc.Peers; q++ {
				if q != peer {
					nf.Cut = append(nf.Cut, q)
				}
			}
		case ft.Kind == "disconnect":
			nf.Cut = []int{*ft.Peer}
		default:
			for _, g := range ft.Groups {
				if !slices.Contains(g, peer) {
					nf.Cut = append(nf.Cut, g...)
				}
			}
		}
		slices.Sort(nf.Cut)
		out = append(out, nf)
	}
	return out
}

// isolated reports whether peer is disconnected for good (a disconnect
// without heal): it cannot finish, so the runner does not wait for it and
// min_decided_ticks does not apply to it.
func (sc *Scenario) isolated(peer int) bool {
	for _, ft := range sc.Faults {
		if ft.Kind == "disconnect" && *ft.Peer == peer && ft.HealAtTick == 0 {
			return true
		}
	}
	return false
}

// separated reports whether a fault of the scenario cuts peers a and b off
// from each other at some point: a disconnect of either, or a partition
// that puts them in different groups.
func (sc *Scenario) separated(a, b int) bool {
	for _, ft := range sc.Faults {
		switch ft.Kind {
		case "disconnect":
			if ft.Peer != nil && (*ft.Peer == a || *ft.Peer == b) {
				return true
			}
		case "partition":
			ga, gb := -1, -1
			for g, members := range ft.Groups {
				for _, m := range members {
					if m == a {
						ga = g
					}
					if m == b {
						gb = g
					}
				}
			}
			if ga != gb {
				return true
			}
		}
	}
	return false
}

// netFaults applies a peer's NetFaults to its session as its ticks and the
// clock pass, writing a "net ..." progress line for each cut and heal.
type netFaults struct {
	todo  []NetFault
	heals []pendingHeal
}

type pendingHeal struct {
	at    time.Time
	seats []int
}

// onTick cuts the seats of every fault due at tick.
func (n *netFaults) onTick(s *paxsync.Session, tick uint64, now time.Time, say func(string, ...any)) {
	rest := n.todo[:0]
	for _, f := range n.todo {
		if tick < f.AtTick {
			rest = append(rest, f)
			continue
		}
		s.Cut(f.Cut...)
		say("net cut %v at tick %d", f.Cut, tick)
		if f.HealAfterMs > 0 {
			n.heals = append(n.heals, pendingHeal{at: now.Add(time.Duration(f.HealAfterMs) * time.Millisecond), seats: f.Cut})
		}
	}
	n.todo = rest
}

// onClock heals the cuts whose time has come.
func (n *netFaults) onClock(s *paxsync.Session, now time.Time, tick uint64, say func(string, ...any)) {
	rest := n.heals[:0]
	for _, h := range n.heals {
		if now.Before(h.at) {
			rest = append(rest, h)
			continue
		}
		s.Heal(h.seats...)
		say("net heal %v at tick %d", h.seats, tick)
	}
	n.heals = rest
}
