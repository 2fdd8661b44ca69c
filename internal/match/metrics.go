package match

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paxsync/paxsync/internal/metrics"
)

// peerMetrics is a peer process's --metrics endpoint
// (PeerConfig.MetricsAddr): the session's metrics, the Go runtime's and
// the process's at /metrics, and the runtime profiles at /debug/pprof/.
// Without an address it does nothing.
type peerMetrics struct {
	addr string
	reg  *prometheus.Registry
	srv  *metrics.Server
}

func newPeerMetrics(addr string) *peerMetrics {
	p := &peerMetrics{addr: addr}
	if addr != "" {
		p.reg = metrics.NewRegistry()
	}
	return p
}

// registerer is the session's Config.Metrics: nil (no metrics) without
// an address.
func (p *peerMetrics) registerer() prometheus.Registerer {
	if p.reg == nil {
		return nil
	}
	return p.reg
}

// serve starts the endpoint and says where on progress ("metrics ADDR",
// before "ready"; the runner ignores the line) and in the log.
func (p *peerMetrics) serve(progress io.Writer, log *slog.Logger) error {
	if p.reg == nil {
		return nil
	}
	srv, err := metrics.Serve(p.addr, p.reg)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	p.srv = srv
	fmt.Fprintf(progress, "metrics %s\n", srv.Addr())
	log.Info("metrics", "addr", srv.Addr())
	return nil
}

func (p *peerMetrics) close() {
	if p.srv != nil {
		_ = p.srv.Close()
	}
}
