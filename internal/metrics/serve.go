package metrics

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry is the registry the paxsync commands serve with --metrics:
// the Go runtime's and the process's metrics (heap, GC, goroutines, CPU,
// open files), to which each session or node adds its Set.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ListenAddr is the address a --metrics flag value means: a bare ":port"
// binds 127.0.0.1, because the endpoint serves profiles (and a player's
// process is not something to expose to the LAN by accident); a host must
// be named to listen anywhere else.
func ListenAddr(flag string) string {
	if strings.HasPrefix(flag, ":") {
		return "127.0.0.1" + flag
	}
	return flag
}

// Server is the --metrics endpoint: /metrics in the Prometheus text format
// and net/http/pprof's /debug/pprof/, on a mux of its own (never
// http.DefaultServeMux, which any imported package may add handlers to).
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Serve listens on ListenAddr(addr) and serves g until Close.
func Serve(addr string, g prometheus.Gatherer) (*Server, error) {
	ln, err := net.Listen("tcp", ListenAddr(addr))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and every named profile under it: heap, goroutine, allocs, ...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s := &Server{ln: ln, done: make(chan struct{}),
		// No write timeout: a CPU profile or trace streams for as long as
		// its ?seconds= asks.
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the address the server listens on (with the port the OS chose
// for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, ending open requests, and waits for it.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
