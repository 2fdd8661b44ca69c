package netp2p

import (
	"errors"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport"
)

// The event types are the transport seam's (package transport), so that a
// Host is a transport.Transport and the session handles events the same
// whatever network it runs on. The names stay here for netp2p's callers.

// EventKind classifies an Event (transport.EventKind).
type EventKind = transport.EventKind

// Event kinds (transport's).
const (
	EventFound        = transport.EventFound        // a roster peer was discovered (mDNS)
	EventConnected    = transport.EventConnected    // first connection to a roster peer
	EventDisconnected = transport.EventDisconnected // last connection to a roster peer closed
	EventInvalid      = transport.EventInvalid      // a roster peer delivered an invalid message
	EventNonMember    = transport.EventNonMember    // a peer outside the roster tried to connect
)

// Reasons carried by EventInvalid (transport's).
const (
	ReasonBadSignature = transport.ReasonBadSignature
	ReasonMalformed    = transport.ReasonMalformed
	ReasonNotMember    = transport.ReasonNotMember // signed as a seat outside the roster
	ReasonOversize     = transport.ReasonOversize
	ReasonFlooding     = transport.ReasonFlooding
	ReasonRejected     = transport.ReasonRejected // the application's Validate said Reject
)

// Event is one report from the host (transport.Event).
type Event = transport.Event

// emit logs ev and offers it to the Events channel without blocking: the
// network must never stall because nobody reads the reports.
func (h *Host) emit(ev Event) {
	h.log.Info("netp2p event", "kind", ev.Kind.String(), "peer_seat", ev.Seat, "peer", ev.Peer,
		"reason", ev.Reason, "missing", ev.Missing)
	select {
	case h.events <- ev:
	default:
	}
}

func (h *Host) reportInvalid(seat int, p peer.ID, reason string) {
	if reason == ReasonFlooding && !h.limits.shouldReport(seat) {
		return
	}
	h.emit(Event{Kind: EventInvalid, Seat: seat, Peer: p.String(), Reason: reason})
}

// check decodes and verifies one message delivered by seat. Objective
// faults give Reject with a reason; app-level Ignore and flooding give
// Ignore. limit applies the per-signer rate limit (see RateLimit); it is
// checked before the signature, so a flood costs a decode, not a verify.
func (h *Host) check(seat int, data []byte, limit bool) (*crypto.Envelope, string, Validation) {
	if seat < 0 {
		return nil, ReasonNotMember, Reject
	}
	if len(data) > maxEnvelope {
		return nil, ReasonOversize, Reject
	}
	env, err := crypto.DecodeEnvelope(data)
	if err != nil {
		return nil, ReasonMalformed, Reject
	}
	if int(env.Sender) >= len(h.ids) {
		return nil, ReasonNotMember, Reject
	}
	if limit && !h.limits.allowSigned(seat, int(env.Sender)) {
		h.ctr.flooding.Add(1)
		if int(env.Sender) == seat {
			// Its own signed messages: the peer itself is flooding.
			return nil, ReasonFlooding, Ignore
		}
		// A relay beyond the signer's share: not forwarded, nobody blamed
		// (an honest relay may pass on more than one path's share).
		return nil, "", Ignore
	}
	if err := h.verifier.Verify(&env); err != nil {
		if errors.Is(err, crypto.ErrUnknownSender) {
			return nil, ReasonNotMember, Reject
		}
		return nil, ReasonBadSignature, Reject
	}
	if h.cfg.Validate != nil {
		switch h.cfg.Validate(seat, &env) {
		case Ignore:
			return nil, "", Ignore
		case Reject:
			return nil, ReasonRejected, Reject
		}
	}
	return &env, "", Accept
}

// checkDelivered is check for received messages: flooding is reported
// (rate-limited) even though the verdict is Ignore.
func (h *Host) checkDelivered(seat int, p peer.ID, data []byte) (*crypto.Envelope, Validation) {
	env, reason, v := h.check(seat, data, true)
	if v == Reject || reason == ReasonFlooding {
		h.reportInvalid(seat, p, reason)
	}
	return env, v
}

// maxEnvelope is the largest encoded envelope: header, body, signature.
const maxEnvelope = crypto.MaxBodySize + 128

func (h *Host) onConnected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	seat := h.seatOfPeer(p)
	if seat < 0 || len(h.h.Network().ConnsToPeer(p)) != 1 {
		return
	}
	h.emit(Event{Kind: EventConnected, Seat: seat, Peer: p.String(), Missing: h.Missing()})
	h.sharePeers(p)
}

func (h *Host) onDisconnected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	seat := h.seatOfPeer(p)
	if seat < 0 || len(h.h.Network().ConnsToPeer(p)) != 0 {
		return
	}
	h.out.drop(seat)
	h.emit(Event{Kind: EventDisconnected, Seat: seat, Peer: p.String(), Missing: h.Missing()})
	if h.ctx.Err() == nil {
		h.dialer.kick()
	}
}
