package match

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestPeerMetrics: without an address a peer gives its session no
// registry (no metrics at all); with one it prints "metrics ADDR" and
// serves /metrics and /debug/pprof/ there until closed.
func TestPeerMetrics(t *testing.T) {
	if r := newPeerMetrics("").registerer(); r != nil {
		t.Fatalf("no address: registerer %v, want nil", r)
	}
	pm := newPeerMetrics("127.0.0.1:0")
	var progress bytes.Buffer
	if err := pm.serve(&progress, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	defer pm.close()
	addr, ok := strings.CutPrefix(strings.TrimSpace(progress.String()), "metrics ")
	if !ok {
		t.Fatalf("progress %q, want a metrics ADDR line", progress.String())
	}
	for path, want := range map[string]string{"/metrics": "go_goroutines", "/debug/pprof/": "goroutine"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body without %q", path, resp.Status, want)
		}
	}
}
