// Package driver runs one bft.Node over a network: it owns the node on a
// single goroutine, feeds it received envelopes and clock ticks, and carries
// out its Ready (persist, send, deliver, advance). bft stays a pure state
// machine; every goroutine, timer, socket and file write lives here.
package driver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/internal/lockstep"
	"github.com/paxsync/paxsync/transport"
)

// Transport is what the driver needs from the network: a part of
// transport.Transport, so every transport (netp2p's host, transport/memnet)
// and the driver's own MemNetwork for its tests can carry it.
type Transport interface {
	Broadcast(env crypto.Envelope) error
	Send(ctx context.Context, seat int, env crypto.Envelope) error
	Inbound() <-chan transport.Inbound
	HandleSync(fn func(from int, req []byte) ([]byte, error))
	RequestSync(ctx context.Context, seat int, req []byte) ([]byte, error)
	Reachable() []int
}

// WAL makes Ready.Persist durable. Append must not return until the records
// are on stable storage: the node's messages are sent only afterwards, so a
// restarted node never contradicts what it signed. The driver calls Append
// once per Ready that has records (one group, so a file WAL pays one fsync
// per Ready) and never for a Ready without them.
//
// Rewrite replaces the whole content with recs, atomically: after a crash
// the WAL holds either the old records or exactly recs. The driver uses it
// to compact the log after a stable checkpoint.
//
// An error from either stops the driver (Run returns it): a node that
// cannot make its votes durable must not send them.
type WAL interface {
	Append(recs []bft.Record) error
	Rewrite(recs []bft.Record) error
}

// Config configures a Driver.
type Config struct {
	// Node is the consensus node, restored from the WAL by the caller. Nil
	// (with a Core) is broadcast mode: the core alone, nothing agreed.
	Node      *bft.Node
	Seat, N   int
	Transport Transport
	WAL       WAL
	// TickInterval is the real time of one bft Tick (default 20 ms).
	TickInterval time.Duration
	// Apply receives decided entries in slot order, on the driver goroutine.
	Apply func(e bft.Entry)
	// Snapshot returns the application state right after Apply of slot; it
	// is asked for at the node's checkpoint slots. Nil disables checkpoints
	// (the log then never truncates and catch-up replays everything).
	Snapshot func(slot uint64) []byte
	// Restore installs a snapshot received through catch-up, replacing the
	// application state; entries after it follow through Apply.
	Restore func(s *bft.Snapshot)
	// Evidence receives equivocation reports found by this node.
	Evidence func(ev bft.Evidence)
	// Other receives non-consensus envelopes (game messages) from the
	// transport, on the driver goroutine, when there is no Core.
	Other func(in transport.Inbound)
	// Core, if set, is the lockstep engine this loop drives on the same
	// goroutine as the node: its clock beats here, game messages go to it,
	// decided entries are applied to it (instead of Apply, Snapshot and
	// Restore), and its Ready is carried out here (broadcasts, proposals
	// straight to the node, suspicion).
	Core *lockstep.Core
	// StartWait bounds how long the Core's clock waits, before it starts,
	// for every other seat to be Reachable (default 10 s).
	StartWait time.Duration
	// Emit receives the Core's events, on the driver goroutine; it must
	// not block.
	Emit func(ev lockstep.Event)
	// NetEvents, if set, are the transport's reports; OnNetEvent gets each
	// on the driver goroutine (where it may use the Core).
	NetEvents  <-chan transport.Event
	OnNetEvent func(ev transport.Event)
	// Publish, if set, is called on the driver goroutine after every
	// round of work, so the session can publish what readers see.
	Publish func()
	// Outbound is for the adversary only (internal/hooks); nil = honest
	// (m is sent as is). It rewrites every message the node sends: it is
	// called on the driver goroutine after Ready.Persist is durable and
	// before sending, and the messages it returns are sent instead of m.
	Outbound func(m bft.Message) []bft.Message
	// SyncOnStart asks peers for their decided log at start (after a
	// restart) instead of waiting to notice it is behind.
	SyncOnStart bool
	// SyncPoll: when nothing was decided for this long, ask one peer (in
	// turn) for anything decided after our log. It covers a node that
	// missed the last decisions while no later slot gets decided, which
	// bft alone does not detect. Default 2 s; negative disables.
	SyncPoll time.Duration
	Logger   *slog.Logger
}

// Stats are the driver's own counters.
type Stats struct {
	Stepped, StepErrors uint64
	SendDrops           uint64 // messages dropped because a send queue (a peer's, or the broadcast one) was full
	SyncsApplied        uint64
	SyncErrs            uint64 // sync answers that did not decode or that ApplySync rejected
	SyncShunned         uint64 // times a seat was put in (or kept in) the sync back-off for a bad answer
	ProposalsDropped    uint64 // queued proposals dropped after losing leadership
}

// ErrStopped is returned by Propose after Run has returned.
var ErrStopped = errors.New("driver: stopped")

type proposal struct {
	payload []byte
	reply   chan error
}

type syncReq struct {
	after uint64
	reply chan []byte
}

// syncOffer is one peer's decoded SyncState handed to the driver goroutine
// for ApplySync; the verdict goes back on reply, and on an error the
// fetching goroutine asks the next peer at once. st == nil ends the
// attempt: no peer had anything usable.
type syncOffer struct {
	st    *bft.SyncState
	from  int
	reply chan error
}

// Driver runs a node. Create it with New, then call Run.
type Driver struct {
	cfg  Config
	node *bft.Node
	log  *slog.Logger

	markAsked uint64 // the core's signing mark handed to the node (reserveMark)

	proposals chan proposal
	syncIn    chan syncReq
	synced    chan syncOffer
	statusReq chan chan bft.Status
	suspect   chan chan struct{}
	do        chan func()
	wake      chan struct{} // the core asked to step again (Ready.Wake)
	stopped   chan struct{}

	queue    [][]byte // proposals waiting for window space
	syncing  bool
	syncPeer int
	now      func() time.Time // time.Now; a test's clock for the sync back-off
	peers    []*peerSender
	bcast    *broadcaster
	wg       sync.WaitGroup

	mu    sync.Mutex
	stats Stats
	// shun holds the seats whose last sync answer did not decode or was
	// rejected (guarded by mu): an honest seat's answer always applies,
	// so each is passed over by later attempts until its back-off ends.
	// Without it a liar that claims slots nobody else has is asked first
	// by every attempt (about ten a second) and answers each with the
	// largest forged state the transport allows.
	shun map[int]shunned
}

// New checks cfg and returns a driver ready to Run.
func New(cfg Config) (*Driver, error) {
	if cfg.Node == nil && cfg.Core == nil || cfg.Transport == nil || cfg.Node != nil && cfg.WAL == nil || cfg.N <= 0 || cfg.Seat < 0 || cfg.Seat >= cfg.N {
		return nil, errors.New("driver: Node or Core, Transport, WAL (with a Node), N and Seat are required")
	}
	if cfg.StartWait <= 0 {
		cfg.StartWait = 10 * time.Second
	}
	if cfg.Emit == nil {
		cfg.Emit = func(lockstep.Event) {}
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Apply == nil {
		cfg.Apply = func(bft.Entry) {}
	}
	if cfg.SyncPoll == 0 {
		cfg.SyncPoll = 2 * time.Second
	}
	return &Driver{
		cfg: cfg, node: cfg.Node, log: cfg.Logger.With("seat", cfg.Seat),
		proposals: make(chan proposal), syncIn: make(chan syncReq), synced: make(chan syncOffer),
		statusReq: make(chan chan bft.Status), suspect: make(chan chan struct{}), stopped: make(chan struct{}),
		do: make(chan func()), wake: make(chan struct{}, 1),
		syncPeer: (cfg.Seat + 1) % cfg.N, now: time.Now, shun: map[int]shunned{},
	}, nil
}

// Propose hands payload to the node. It returns nil once the node has
// proposed it or queued it for when the window has room;
// bft.ErrNotLeader (and other bft errors) are returned as they are.
func (d *Driver) Propose(ctx context.Context, payload []byte) error {
	p := proposal{payload: payload, reply: make(chan error, 1)}
	select {
	case d.proposals <- p:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stopped:
		return ErrStopped
	}
	select {
	case err := <-p.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stopped:
		return ErrStopped
	}
}

// Status asks the driver goroutine for the node's status.
func (d *Driver) Status(ctx context.Context) (bft.Status, error) {
	c := make(chan bft.Status, 1)
	select {
	case d.statusReq <- c:
	case <-ctx.Done():
		return bft.Status{}, ctx.Err()
	case <-d.stopped:
		return bft.Status{}, ErrStopped
	}
	select {
	case st := <-c:
		return st, nil
	case <-ctx.Done():
		return bft.Status{}, ctx.Err()
	case <-d.stopped:
		return bft.Status{}, ErrStopped
	}
}

// Suspect asks the node, on the driver goroutine, to vote for replacing the
// current leader (bft.Node.Suspect): for an application that sees its
// leader keep the view alive with heartbeats but order nothing. It returns
// once the node has been told; the view changes only when f+1 seats
// suspect.
func (d *Driver) Suspect(ctx context.Context) error {
	c := make(chan struct{})
	select {
	case d.suspect <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stopped:
		return ErrStopped
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.stopped:
		return ErrStopped
	}
}

// Stats returns the driver's counters.
func (d *Driver) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func (d *Driver) count(f func(s *Stats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

// persist makes rd's records durable before anything of rd is sent: one
// Append per Ready with records, nothing (no fsync) for a Ready without.
// A Ready with Compact replaces the WAL's content with Compact followed by
// Persist in one atomic Rewrite: the same final content as rewriting and
// then appending, but a crash can never leave the compacted log without
// this Ready's records, and it costs one fsync fewer.
func (d *Driver) persist(rd *bft.Ready) error {
	if rd.Compact != nil {
		if err := d.cfg.WAL.Rewrite(slices.Concat(rd.Compact, rd.Persist)); err != nil {
			return fmt.Errorf("driver: wal: compaction: %w", err)
		}
		return nil
	}
	if len(rd.Persist) == 0 {
		return nil
	}
	if err := d.cfg.WAL.Append(rd.Persist); err != nil {
		return fmt.Errorf("driver: wal: %w", err)
	}
	return nil
}

func (d *Driver) send(m bft.Message) {
	switch {
	case m.To == bft.Broadcast:
		d.bcast.enqueue(m.Env)
	case m.To >= 0 && m.To < d.cfg.N:
		d.peers[m.To].enqueue(m.Env)
	}
}

// StableCheckpoint returns a copy of the node's stable checkpoint with its
// certificate and snapshot (bft.Node.StableCheckpoint), read on the driver
// goroutine, or directly once Run has returned. It is what a match-result
// certificate is made of.
func (d *Driver) StableCheckpoint(ctx context.Context) (bft.Snapshot, bool) {
	var snap bft.Snapshot
	var ok bool
	read := func() {
		if d.node == nil {
			return
		}
		var s bft.Snapshot
		if s, ok = d.node.StableCheckpoint(); ok {
			snap = bft.Snapshot{Slot: s.Slot, Data: slices.Clone(s.Data), Checkpoint: slices.Clone(s.Checkpoint),
				Cert: append([]crypto.Envelope(nil), s.Cert...)}
		}
	}
	if err := d.Do(ctx, read); errors.Is(err, ErrStopped) {
		read()
	}
	return snap, ok
}
