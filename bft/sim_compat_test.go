package bft

// Where the simulation mirrors the driver and the node's own bookkeeping;
// kept apart because these follow bft's internals as they change.

// walWrite is the driver's group write of a Ready (driver.go): when the
// node compacts its log (Ready.Compact, after a stable checkpoint), the
// compacted records followed by Persist replace the whole WAL in one
// atomic rewrite; otherwise Persist is appended. A restart reloads exactly
// this.
func (sn *simNode) walWrite(rd *Ready) {
	if rd.Compact != nil {
		sn.wal = append(append([]Record(nil), rd.Compact...), rd.Persist...)
		return
	}
	sn.wal = append(sn.wal, rd.Persist...)
}

// indexes reports whether nd records a vote of view naming slot in its
// equivocation index (onVote): above its stable checkpoint, inside its
// window, and not more than keptViews views old. Only such conflicts does
// it detect, so only those must end up ordered.
func indexes(nd *Node, view, slot uint64) bool {
	return slot > nd.stable.Slot && slot <= nd.maxSlotAhead() && view+keptViews >= nd.view
}
