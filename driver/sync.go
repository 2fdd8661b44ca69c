package driver

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/paxsync/paxsync/bft"
)

// Catch-up: the driver fetches a SyncState from peers in the background
// when the node asks (Ready.NeedSync) or the log is idle (Config.SyncPoll),
// hands it to the node on the driver goroutine, and answers the same
// requests from peers. A peer whose answer is bad is passed over for a
// while (shun).

// shunned is one seat's sync back-off: not asked before until; the next
// bad answer doubles wait (syncShunFirst up to syncShunMax).
type shunned struct {
	until time.Time
	wait  time.Duration
}

const (
	syncShunFirst = time.Second
	syncShunMax   = time.Minute
)

// startSync fetches a SyncState from a peer in the background and offers
// it to the loop through d.synced. Peers are tried in turn, starting with
// those the node says are ahead (need.Peers), then every other seat from
// the rotating d.syncPeer on; a peer whose answer fails, does not decode or
// is rejected by ApplySync (a Byzantine or confused responder) is passed
// over at once for the next one. A poll (poll true) starts with need.Peers
// and ends at the first empty answer: the node is then probably not
// behind, and a peer that is sees the next poll.
func (d *Driver) startSync(ctx context.Context, need *bft.SyncNeed, poll bool) {
	if d.syncing {
		return
	}
	d.syncing = true
	after := d.node.Status().Committed
	if need != nil && need.From > 0 {
		after = need.From - 1
	}
	order := d.syncOrder(need)
	d.syncPeer = (d.syncPeer + 1) % d.cfg.N
	req := binary.AppendUvarint(nil, after)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for _, seat := range order {
			if ctx.Err() != nil {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := d.cfg.Transport.RequestSync(rctx, seat, req)
			cancel()
			if err != nil {
				d.log.Debug("sync request failed", "to", seat, "err", err)
				continue
			}
			if len(resp) == 0 {
				if poll {
					break
				}
				continue
			}
			st, err := bft.DecodeSyncState(resp)
			if err != nil {
				d.penalize(seat)
				d.count(func(s *Stats) { s.SyncErrs++ })
				d.log.Warn("malformed sync state; asking the next peer", "from", seat, "err", err)
				continue
			}
			reply := make(chan error, 1)
			select {
			case d.synced <- syncOffer{st: st, from: seat, reply: reply}:
			case <-ctx.Done():
				return
			}
			select {
			case err := <-reply:
				if err == nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
		select {
		case d.synced <- syncOffer{}:
		case <-ctx.Done():
		}
	}()
}

// syncOrder is the seats one sync attempt asks, in turn: those the node
// says are ahead (need.Peers), then every other seat from the rotating
// d.syncPeer on, less the seats in their back-off (shun).
func (d *Driver) syncOrder(need *bft.SyncNeed) []int {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	var order []int
	seen := map[int]bool{d.cfg.Seat: true}
	add := func(s int) {
		if s >= 0 && s < d.cfg.N && !seen[s] {
			seen[s] = true
			if now.Before(d.shun[s].until) {
				return
			}
			order = append(order, s)
		}
	}
	if need != nil {
		for _, p := range need.Peers {
			add(int(p))
		}
	}
	for i := 0; i < d.cfg.N; i++ {
		add((d.syncPeer + i) % d.cfg.N)
	}
	return order
}

// penalize starts or doubles seat's sync back-off after a bad answer.
func (d *Driver) penalize(seat int) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	sh := d.shun[seat]
	sh.wait = min(max(2*sh.wait, syncShunFirst), syncShunMax)
	sh.until = now.Add(sh.wait)
	d.shun[seat] = sh
	d.stats.SyncShunned++
}

// forgive ends seat's back-off: its answer applied.
func (d *Driver) forgive(seat int) {
	d.mu.Lock()
	delete(d.shun, seat)
	d.mu.Unlock()
}

// ServeSync answers a catch-up request that came by another way than the
// match's transport (a player's spectator service): the very answer a
// lagging peer gets, the decided log after the requested slot with its
// certificates. It fails in broadcast mode (nothing is decided) and once
// the loop stopped.
func (d *Driver) ServeSync(ctx context.Context, req []byte) ([]byte, error) {
	if d.node == nil {
		return nil, errors.New("no decided log: this match runs without consensus")
	}
	return d.serveSync(ctx, req)
}

// serveSync runs on the transport's stream goroutine; the node is only
// touched on the driver goroutine, so the request is handed over.
func (d *Driver) serveSync(ctx context.Context, req []byte) ([]byte, error) {
	after, n := binary.Uvarint(req)
	if n <= 0 || n != len(req) {
		return nil, errors.New("malformed sync request")
	}
	r := syncReq{after: after, reply: make(chan []byte, 1)}
	select {
	case d.syncIn <- r:
	case <-ctx.Done():
		return nil, ErrStopped
	case <-d.stopped:
		return nil, ErrStopped
	}
	select {
	case resp := <-r.reply:
		return resp, nil // empty: nothing to offer
	case <-ctx.Done():
		return nil, ErrStopped
	case <-d.stopped:
		return nil, ErrStopped
	}
}

func (d *Driver) syncResponse(after uint64) []byte {
	st, ok := d.node.SyncResponse(after)
	if !ok {
		return nil
	}
	return bft.EncodeSyncState(st)
}
