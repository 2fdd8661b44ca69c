// Package metrics defines paxsync's Prometheus metrics in one place. The
// session (package paxsync, Config.Metrics), `paxsync node` and the match
// peers create a Set and only call its typed methods, so every metric name
// and label is spelled once, here, and docs/EMBEDDING.md ("Metrics and
// stats") lists exactly what this file registers.
//
// Counters that the consensus driver and the network host already keep
// (slots, view changes, drops, messages and bytes by type, RTT) are read
// when the registry is gathered, not copied on every message: between
// scrapes they cost nothing beyond the atomics the host had anyway. Only
// what happens in the session itself (a tick applied, a verdict, an
// observation) is counted as it happens. A nil *Set is valid and does
// nothing, which is what an embedding without Config.Metrics gets.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxsync/paxsync/bft"
	"github.com/paxsync/paxsync/driver"
	"github.com/paxsync/paxsync/gamestate"
	"github.com/paxsync/paxsync/netp2p"
	"github.com/paxsync/paxsync/transport"
)

const ns = "paxsync"

// CommitBuckets are the commit latency histogram's upper bounds: 0.5 ms
// to about 4 s in factors of 2, which spans one consensus round on a LAN
// (a few ms) to a tick that waited for a stalled view change.
var CommitBuckets = prometheus.ExponentialBuckets(0.0005, 2, 14)

// scrapeTimeout bounds how long a scrape waits for the driver goroutine's
// answer (driver.Status); a driver that does not answer in time is left
// out of that scrape rather than stalling it.
const scrapeTimeout = time.Second

// Sources are what a Set reads at scrape time.
type Sources struct {
	// Driver runs the consensus node; nil in the broadcast baseline, which
	// has none (its consensus metrics are then absent).
	Driver *driver.Driver
	// Net is the transport's counters (nil: none).
	Net transport.Meter
	// Game registers the session's own metrics: commit latency, ticks
	// decided, verdicts and observations. `paxsync node` has no game.
	Game bool
}

// Set is one session's (or node's) collectors, registered with constant
// labels match and seat, so sessions of different seats or matches can
// share one registry. Its methods are safe for concurrent use, and do
// nothing on a nil *Set.
type Set struct {
	reg          prometheus.Registerer // the caller's, with the constant labels
	collectors   []prometheus.Collector
	commit       prometheus.Histogram
	ticks        prometheus.Counter
	verdicts     *prometheus.CounterVec
	observations *prometheus.CounterVec
}

// New registers a Set for seat of match with reg. Registering a second Set
// for the same match name and seat with one registry fails (the registry's
// AlreadyRegisteredError): give each such session a registry of its own.
// Close unregisters it.
func New(reg prometheus.Registerer, match string, seat int, src Sources) (*Set, error) {
	s := &Set{reg: prometheus.WrapRegistererWith(prometheus.Labels{"match": match, "seat": strconv.Itoa(seat)}, reg)}
	if src.Game {
		s.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "commit_latency_seconds",
			Help:    "Commit latency: from signing and sending this peer's input for a tick to applying that tick here.",
			Buckets: CommitBuckets})
		s.ticks = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ticks_decided_total",
			Help: "Ticks decided and applied by this session."})
		s.verdicts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "verdicts_total",
			Help: "Proven cheat verdicts reached, by kind (identical on every honest peer)."}, []string{"kind"})
		s.observations = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "observations_total",
			Help: "Local, unprovable observations, by kind (at most one per kind and seat a second)."}, []string{"kind"})
		// Every known kind is exported from the start, at 0, so that a
		// rate over a match without cheats is 0 rather than absent.
		for k := gamestate.ForgedInput; k <= gamestate.LastVerdict; k++ {
			s.verdicts.WithLabelValues(k.String())
		}
		for k := gamestate.BadSignature; k <= gamestate.LastObservation; k++ {
			s.observations.WithLabelValues(k.String())
		}
		s.collectors = append(s.collectors, s.commit, s.ticks, s.verdicts, s.observations)
	}
	if src.Driver != nil {
		s.collectors = append(s.collectors, &consensusCollector{d: src.Driver})
	}
	if src.Net != nil {
		s.collectors = append(s.collectors, &networkCollector{h: src.Net, d: src.Driver})
	}
	for i, c := range s.collectors {
		if err := s.reg.Register(c); err != nil {
			for _, r := range s.collectors[:i] {
				s.reg.Unregister(r)
			}
			return nil, err
		}
	}
	return s, nil
}

// Close unregisters every collector of s, so that a later session of the
// same match and seat can register with the same registry.
func (s *Set) Close() {
	if s == nil {
		return
	}
	for _, c := range s.collectors {
		s.reg.Unregister(c)
	}
	s.collectors = nil
}

// Commit records one commit latency (TickEvent.Commit).
func (s *Set) Commit(d time.Duration) {
	if s == nil || s.commit == nil {
		return
	}
	s.commit.Observe(d.Seconds())
}

// TicksDecided counts n ticks applied.
func (s *Set) TicksDecided(n int) {
	if s == nil || s.ticks == nil {
		return
	}
	s.ticks.Add(float64(n))
}

// Verdict counts one verdict of kind k.
func (s *Set) Verdict(k gamestate.VerdictKind) {
	if s == nil || s.verdicts == nil {
		return
	}
	s.verdicts.WithLabelValues(k.String()).Inc()
}

// Observation counts one local observation of kind k.
func (s *Set) Observation(k gamestate.ObservationKind) {
	if s == nil || s.observations == nil {
		return
	}
	s.observations.WithLabelValues(k.String()).Inc()
}

var (
	slotsDesc = prometheus.NewDesc(ns+"_slots_decided_total",
		"Consensus slots decided (each slot orders one batch of ticks).", nil, nil)
	viewChangesDesc = prometheus.NewDesc(ns+"_view_changes_total",
		"View changes this node took part in (a leader replaced).", nil, nil)
	consensusDropDesc = prometheus.NewDesc(ns+"_consensus_dropped_total",
		"Consensus messages the node discarded, by reason (bft.DropReason).", []string{"reason"}, nil)
	evidenceDesc = prometheus.NewDesc(ns+"_consensus_evidence_total",
		"Equivocation evidence found by this node (proposal, vote, checkpoint).", nil, nil)

	msgsDesc = prometheus.NewDesc(ns+"_messages_total",
		"Signed envelopes received (delivered to the node) and sent, by direction and message type.",
		[]string{"direction", "type"}, nil)
	msgBytesDesc = prometheus.NewDesc(ns+"_message_bytes_total",
		"Encoded bytes of the envelopes in paxsync_messages_total, by direction and message type (no transport framing).",
		[]string{"direction", "type"}, nil)
	wireBytesDesc = prometheus.NewDesc(ns+"_network_bytes_total",
		"Bytes over all libp2p streams (pubsub, direct, sync, identify, ping), by direction.", []string{"direction"}, nil)
	netDropDesc = prometheus.NewDesc(ns+"_network_dropped_total",
		"Messages dropped before consensus or the game saw them, by reason: flooding (over the sender's rate limit), "+
			"validation-queue, outbound-queue, delivery-queue (a full bounded queue), streams-refused "+
			"(too many open streams from one peer), send-queue (a direct message to a slow peer).",
		[]string{"reason"}, nil)
	connectedDesc = prometheus.NewDesc(ns+"_peers_connected",
		"Roster peers with a live connection.", nil, nil)
	rttDesc = prometheus.NewDesc(ns+"_peer_rtt_seconds",
		"Round-trip time to a roster peer (moving average of pings every 2 s), by the peer's seat; absent while unknown.",
		[]string{"peer"}, nil)
)

// consensusCollector reads the node's counters from the driver at scrape
// time (driver.Status runs on the driver goroutine, so nothing is copied
// between scrapes).
type consensusCollector struct{ d *driver.Driver }

func (c *consensusCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- slotsDesc
	ch <- viewChangesDesc
	ch <- consensusDropDesc
	ch <- evidenceDesc
}

func (c *consensusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	st, err := c.d.Status(ctx)
	cancel()
	if err != nil {
		return // stopped or busy: absent from this scrape
	}
	m := st.Metrics
	ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.CounterValue, float64(m.SlotsDecided))
	ch <- prometheus.MustNewConstMetric(viewChangesDesc, prometheus.CounterValue, float64(m.ViewChanges))
	ch <- prometheus.MustNewConstMetric(evidenceDesc, prometheus.CounterValue, float64(m.EvidenceFound))
	for r := range bft.NumDropReasons {
		ch <- prometheus.MustNewConstMetric(consensusDropDesc, prometheus.CounterValue, float64(m.Dropped[r]), r.String())
	}
}

// networkCollector reads the host's counters (and the driver's direct-send
// drops) at scrape time.
type networkCollector struct {
	h transport.Meter
	d *driver.Driver // nil in broadcast mode
}

func (c *networkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{msgsDesc, msgBytesDesc, wireBytesDesc, netDropDesc, connectedDesc, rttDesc} {
		ch <- d
	}
}

func (c *networkCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	byType, _ := c.h.(interface{ TrafficByType() []netp2p.TypeTraffic })
	if byType == nil {
		byType = noTypes{}
	}
	for _, t := range byType.TrafficByType() {
		name := t.Type.String()
		if !t.Type.Known() {
			name = "type-" + strconv.Itoa(int(t.Type))
		}
		counter(msgsDesc, t.MsgsIn, "in", name)
		counter(msgsDesc, t.MsgsOut, "out", name)
		counter(msgBytesDesc, t.BytesIn, "in", name)
		counter(msgBytesDesc, t.BytesOut, "out", name)
	}
	tr := c.h.Traffic()
	counter(wireBytesDesc, tr.BytesIn, "in")
	counter(wireBytesDesc, tr.BytesOut, "out")
	counter(netDropDesc, tr.Flooding, "flooding")
	counter(netDropDesc, tr.DroppedValidation, "validation-queue")
	counter(netDropDesc, tr.DroppedOutbound, "outbound-queue")
	counter(netDropDesc, tr.DroppedSubscription, "delivery-queue")
	counter(netDropDesc, tr.StreamsRefused, "streams-refused")
	if c.d != nil {
		counter(netDropDesc, c.d.Stats().SendDrops, "send-queue")
	}
	ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, float64(len(c.h.Connected())))
	for seat, d := range c.h.RTT() {
		if d > 0 {
			ch <- prometheus.MustNewConstMetric(rttDesc, prometheus.GaugeValue, d.Seconds(), strconv.Itoa(seat))
		}
	}
}

// noTypes is a transport without per-type counters.
type noTypes struct{}

func (noTypes) TrafficByType() []netp2p.TypeTraffic { return nil }
