package driver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
	"github.com/paxsync/paxsync/wire"
)

// Run owns the node and the core until ctx ends or the WAL fails: every
// input of both (received envelopes, bft ticks, clock beats, proposals,
// catch-up answers, readers' requests) is handled on this one goroutine,
// and their Ready is carried out here. It returns nil on cancellation,
// after every goroutine it started has exited.
func (d *Driver) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if d.cfg.Core != nil {
			var stable *bft.Snapshot
			if d.node != nil {
				if s, ok := d.node.StableCheckpoint(); ok {
					stable = &s
				}
			}
			d.cfg.Core.EndRecord(stable) // on the loop's goroutine, after its last step
		}
		cancel()
		close(d.stopped)
		if d.node != nil {
			d.cfg.Transport.HandleSync(nil)
		}
		d.wg.Wait()
	}()
	d.bcast = newBroadcaster(d)
	d.wg.Add(1)
	go d.bcast.run(ctx)
	for i := 0; i < d.cfg.N; i++ {
		var ps *peerSender
		if i != d.cfg.Seat {
			ps = newPeerSender(d, i)
			d.wg.Add(1)
			go ps.run(ctx)
		}
		d.peers = append(d.peers, ps)
	}
	var bftTick <-chan time.Time
	var lastCommitted uint64
	lastProgress := time.Now()
	if d.node != nil {
		d.cfg.Transport.HandleSync(func(from int, req []byte) ([]byte, error) { return d.serveSync(ctx, req) })
		if d.cfg.SyncOnStart {
			d.startSync(ctx, nil, false)
		}
		t := time.NewTicker(d.cfg.TickInterval)
		defer t.Stop()
		bftTick = t.C
		lastCommitted = d.node.Status().Committed
	}
	clk := newClock(d, time.Now())
	defer clk.stop()
	in := d.cfg.Transport.Inbound()
	for {
		if err := d.settle(ctx); err != nil {
			return err
		}
		if d.cfg.Publish != nil {
			d.cfg.Publish()
		}
		select {
		case <-ctx.Done():
			return nil
		case now := <-bftTick:
			d.node.Tick()
			if c := d.node.Status().Committed; c != lastCommitted {
				lastCommitted, lastProgress = c, now
			} else if d.cfg.SyncPoll > 0 && now.Sub(lastProgress) >= d.cfg.SyncPoll {
				lastProgress = now
				d.startSync(ctx, &bft.SyncNeed{From: c + 1, Peers: []uint16{uint16(d.syncPeer)}}, true)
			}
		case <-clk.C():
			// What already arrived is taken before the beat: a leader
			// whose loop was held up builds the tick with the inputs
			// waiting for it, not without them (honest acceptors refuse
			// a batch that leaves out an input they held in time).
			d.drainInbound(in, 512)
			clk.fire(time.Now())
		case <-d.wake:
			d.cfg.Core.Step(time.Now(), d.status(), false)
		case m := <-in:
			d.step(m)
		case ev := <-d.cfg.NetEvents:
			if d.cfg.OnNetEvent != nil {
				d.cfg.OnNetEvent(ev)
			}
		case f := <-d.do:
			f()
		case p := <-d.proposals:
			p.reply <- d.propose(p.payload)
		case r := <-d.syncIn:
			r.reply <- d.syncResponse(r.after)
		case o := <-d.synced:
			d.offered(o)
		case c := <-d.statusReq:
			c <- d.status()
		case c := <-d.suspect:
			if d.node != nil {
				d.node.Suspect()
			}
			close(c)
		}
	}
}

// drainInbound steps up to max messages that are already waiting, without
// blocking; what they make the node and the core do is carried out by the
// next settle, as after any message.
func (d *Driver) drainInbound(in <-chan transport.Inbound, max int) {
	for range max {
		select {
		case m := <-in:
			d.step(m)
		default:
			return
		}
	}
}

// offered hands one fetched SyncState to the node.
func (d *Driver) offered(o syncOffer) {
	if o.st == nil {
		d.syncing = false
		return
	}
	err := d.node.ApplySync(o.st)
	if err != nil {
		if !errors.Is(err, bft.ErrSyncNothingNew) {
			d.penalize(o.from)
		}
		d.count(func(s *Stats) { s.SyncErrs++ })
		d.log.Warn("sync state rejected; asking the next peer", "from", o.from, "err", err)
	} else {
		d.forgive(o.from)
		d.count(func(s *Stats) { s.SyncsApplied++ })
		d.syncing = false
	}
	o.reply <- err
}

// status is the node's status (zero without a node: broadcast mode).
func (d *Driver) status() bft.Status {
	if d.node == nil {
		return bft.Status{}
	}
	return d.node.Status()
}

// Do runs fn on the driver goroutine, between two rounds of work, and
// returns once it ran: how a reader gets a consistent look at the core.
// It returns ErrStopped (without running fn) once Run has returned; the
// caller may then read the core directly, as nothing else uses it.
func (d *Driver) Do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case d.do <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stopped:
		return ErrStopped
	}
	<-done
	return nil
}

func (d *Driver) step(m transport.Inbound) {
	if m.Env.Type > wire.TypeEvidence || m.Env.Type < wire.TypeAccept {
		if d.cfg.Core != nil {
			d.cfg.Core.Receive(time.Now(), m.From, m.Env)
		} else if d.cfg.Other != nil {
			d.cfg.Other(m)
		}
		return
	}
	if d.node == nil {
		return // broadcast mode has no consensus
	}
	err := d.node.Step(m.Env)
	d.count(func(s *Stats) {
		s.Stepped++
		if err != nil {
			s.StepErrors++
		}
	})
	if err != nil && !errors.Is(err, bft.ErrDuplicate) && !errors.Is(err, bft.ErrStale) {
		d.log.Debug("step", "from", m.From, "type", m.Env.Type.String(), "err", err)
	}
}

func (d *Driver) propose(payload []byte) error {
	if d.node == nil {
		return bft.ErrNotLeader
	}
	if len(d.queue) > 0 {
		d.queue = append(d.queue, payload) // keep proposals in order
		return nil
	}
	err := d.node.Propose(payload)
	if errors.Is(err, bft.ErrWindowFull) {
		d.queue = append(d.queue, payload)
		return nil
	}
	return err
}

// drainQueue proposes queued payloads while the window has room.
func (d *Driver) drainQueue() {
	for len(d.queue) > 0 {
		err := d.node.Propose(d.queue[0])
		if errors.Is(err, bft.ErrWindowFull) {
			return
		}
		if err != nil {
			d.count(func(s *Stats) { s.ProposalsDropped++ })
			d.log.Warn("queued proposal dropped", "err", err)
		}
		d.queue = d.queue[1:]
	}
}

// settle carries out the node's and the core's Ready until neither has
// anything left: a decided entry applied to the core may make it propose,
// and a proposal makes the node send.
func (d *Driver) settle(ctx context.Context) error {
	for {
		d.reserveMark()
		if d.node != nil {
			if err := d.process(ctx); err != nil {
				return err
			}
		}
		if d.cfg.Core == nil || !d.cfg.Core.HasReady() {
			return nil
		}
		d.carryOut(d.cfg.Core.Ready())
	}
}

// reserveMark hands the core's wanted signing mark to the node, which
// persists it with its next Ready (process then tells the core it is
// durable): the core signs no input past a mark the WAL does not hold
// (lockstep/signmark.go).
func (d *Driver) reserveMark() {
	if d.node == nil || d.cfg.Core == nil {
		return
	}
	m, ok := d.cfg.Core.WantMark()
	if !ok || m <= d.markAsked {
		return
	}
	d.markAsked = m
	if m <= d.node.Mark() {
		d.cfg.Core.MarkDurable(m) // the WAL already holds as much
		return
	}
	d.node.ReserveMark(m)
}

// carryOut does what the core's Ready asks.
func (d *Driver) carryOut(rd lockstepReady) {
	for _, env := range rd.Broadcast {
		d.bcast.enqueue(env)
	}
	for _, env := range rd.Direct {
		d.sendDirect(env)
	}
	if p := rd.Propose; p != nil {
		if err := d.propose(p.Payload); err == nil {
			d.cfg.Core.Proposed(p)
		}
	}
	if rd.Suspect && d.node != nil {
		d.node.Suspect()
	}
	if len(rd.Events) > 0 && d.cfg.Publish != nil {
		// Publish first: a game that reads View on a TickEvent sees at
		// least the state after that tick.
		d.cfg.Publish()
	}
	for _, ev := range rd.Events {
		d.cfg.Emit(ev)
	}
	if rd.Wake {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// sendDirect queues env to every other seat's direct path.
func (d *Driver) sendDirect(env crypto.Envelope) {
	for seat, p := range d.peers {
		if seat != d.cfg.Seat {
			p.enqueue(env)
		}
	}
}

// process carries out every pending Ready of the node, in the order bft
// requires: persist, send, install snapshot, apply (answering each due
// checkpoint once its slot is applied), advance. The node takes its own
// messages to itself in Advance.
func (d *Driver) process(ctx context.Context) error {
	for {
		d.drainQueue()
		if !d.node.HasReady() {
			return nil
		}
		asked := d.markAsked // reserved before this Ready: in its Persist
		rd := d.node.Ready()
		if err := d.persist(&rd); err != nil {
			return err
		}
		if d.cfg.Core != nil && asked > 0 {
			d.cfg.Core.MarkDurable(asked)
		}
		for _, m := range rd.Messages {
			if d.cfg.Outbound == nil {
				d.send(m)
				continue
			}
			for _, o := range d.cfg.Outbound(m) {
				d.send(o)
			}
		}
		if rd.InstallSnapshot != nil {
			d.restore(rd.InstallSnapshot)
		}
		due := map[uint64]bool{}
		for _, s := range rd.CheckpointDue {
			due[s] = true
		}
		now := time.Now()
		for _, e := range rd.Committed {
			d.apply(e, now)
			if due[e.Slot] && d.canSnapshot() {
				d.node.Checkpoint(e.Slot, d.snapshot(e.Slot))
				delete(due, e.Slot)
			}
		}
		if len(due) > 0 && d.canSnapshot() {
			// Due slots not in this batch can only be the current one.
			if st := d.node.Status(); due[st.Committed] {
				d.node.Checkpoint(st.Committed, d.snapshot(st.Committed))
			}
		}
		if d.cfg.Evidence != nil {
			for _, ev := range rd.Evidence {
				d.cfg.Evidence(ev)
			}
		}
		d.node.Advance()
		if rd.NeedSync != nil {
			d.startSync(ctx, rd.NeedSync, false)
		}
	}
}

// apply, snapshot and restore go to the core, or to the callbacks without
// one.
func (d *Driver) apply(e bft.Entry, now time.Time) {
	if d.cfg.Core != nil {
		d.cfg.Core.Apply(e, now)
	} else {
		d.cfg.Apply(e)
	}
}

func (d *Driver) canSnapshot() bool { return d.cfg.Core != nil || d.cfg.Snapshot != nil }

func (d *Driver) snapshot(slot uint64) []byte {
	if d.cfg.Core != nil {
		return d.cfg.Core.Snapshot()
	}
	return d.cfg.Snapshot(slot)
}

func (d *Driver) restore(s *bft.Snapshot) {
	if d.cfg.Core != nil {
		d.cfg.Core.Restore(s)
	} else if d.cfg.Restore != nil {
		d.cfg.Restore(s)
	}
}

// Leave tells every other seat that this player leaves from the first
// tick it has not signed an input for, so they stop waiting out each
// tick's deadline for it (its seat then gets the agreed "no input" as soon
// as the others' inputs are in). The core signs the departure on the loop,
// and from then on signs no input of this player's: one for the
// departure's tick or later would tell the others it is back. The
// departure is broadcast and sent over every seat's direct path; with a
// transport that has SendLast, Leave returns once each seat has read it
// or timeout passed (a broadcast or a plain Send still queued when the
// transport closes is lost). Best effort: a seat it does not reach waits
// out the deadlines as before. A no-op without a core or once Run ended.
func (d *Driver) Leave(timeout time.Duration) {
	var env crypto.Envelope
	if d.cfg.Core == nil || d.Do(context.Background(), func() { env = d.cfg.Core.Leave() }) != nil {
		return
	}
	if err := d.cfg.Transport.Broadcast(env); err != nil {
		d.log.Debug("leave not broadcast", "err", err)
	}
	last, ok := d.cfg.Transport.(interface {
		SendLast(ctx context.Context, seat int, env crypto.Envelope) error
	})
	send := d.cfg.Transport.Send
	if ok {
		send = last.SendLast
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for seat := 0; seat < d.cfg.N; seat++ {
		if seat == d.cfg.Seat {
			continue
		}
		wg.Add(1)
		go func(seat int) {
			defer wg.Done()
			if err := send(ctx, seat, env); err != nil {
				d.log.Debug("leave not delivered", "seat", seat, "err", err)
			}
		}(seat)
	}
	wg.Wait()
}
