package nodecmd

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paxsync/paxsync/crypto"
)

// TestNodeServesMetricsAndPprof: `paxsync node --metrics 127.0.0.1:0` logs
// the address it bound, and serves the node's metrics at /metrics and the
// runtime profiles at /debug/pprof/ there while it runs.
func TestNodeServesMetricsAndPprof(t *testing.T) {
	dir := t.TempDir()
	r := Roster{Match: "metrics"}
	var me *crypto.PrivateKey
	for i := 0; i < 4; i++ {
		k, err := crypto.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			me = k
		}
		r.Players = append(r.Players, k.Public().Hex())
	}
	keyFile, rosterFile := filepath.Join(dir, "me.key"), filepath.Join(dir, "match.json")
	if err := crypto.WriteKeyFile(keyFile, me, false); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(r)
	if err := os.WriteFile(rosterFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--key", keyFile, "--roster", rosterFile, "--wal", filepath.Join(dir, "wal"),
			"--listen", "/ip4/127.0.0.1/tcp/0", "--fsync", "none", "--metrics", "127.0.0.1:0"}, &logs)
	}()
	addrLine := regexp.MustCompile(`msg=metrics addr=(127\.0\.0\.1:\d+)\n`)
	var addr string
	deadline := time.After(60 * time.Second) // only stops a broken build from hanging
	for addr == "" {
		if m := addrLine.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("node stopped before serving metrics: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("no metrics address logged:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
		}
		return string(body)
	}
	m := get("/metrics")
	for _, want := range []string{
		`paxsync_slots_decided_total{match="metrics",seat="0"}`,
		`paxsync_view_changes_total{match="metrics",seat="0"}`,
		`paxsync_consensus_dropped_total{match="metrics",reason="bad-signature",seat="0"}`,
		`paxsync_network_dropped_total{match="metrics",reason="flooding",seat="0"}`,
		`paxsync_peers_connected{match="metrics",seat="0"}`,
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics has no %s:\n%s", want, m)
		}
	}
	if p := get("/debug/pprof/"); !strings.Contains(p, "goroutine") || !strings.Contains(p, "heap") {
		t.Errorf("/debug/pprof/ does not list the goroutine and heap profiles:\n%s", p)
	}
	if p := get("/debug/pprof/goroutine?debug=1"); !strings.Contains(p, "goroutine profile:") {
		t.Errorf("/debug/pprof/goroutine?debug=1 is not a goroutine profile:\n%.300s", p)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("node: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Errorf("metrics still served after the node stopped")
	}
}
