package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// matchReport is the part of `paxsync match --json` these tests check.
type matchReport struct {
	Scenario string   `json:"scenario"`
	ExpectOK bool     `json:"expect_ok"`
	Failed   []string `json:"failed"`
	Peers    []struct {
		Index    int    `json:"index"`
		Role     string `json:"role"`
		Verdicts []struct {
			Kind    string `json:"kind"`
			Against int    `json:"against"`
			Class   string `json:"class"`
		} `json:"verdicts"`
	} `json:"peers"`
}

// buildPaxsync compiles cmd/paxsync once per test into a temp dir: the
// runner re-executes its own binary for every peer process.
func buildPaxsync(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "paxsync")
	out, err := exec.Command("go", "build", "-o", exe, "../cmd/paxsync").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// runMatchCmd runs `paxsync match --json` and returns the exit status, the
// decoded report (nil when stdout is not one JSON object) and stderr.
func runMatchCmd(t *testing.T, exe, scenario string) (int, *matchReport, string) {
	t.Helper()
	cmd := exec.Command(exe, "match", "--scenario", scenario, "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", scenario, err)
	}
	var rep matchReport
	dec := json.NewDecoder(&stdout)
	if dec.Decode(&rep) != nil || dec.More() {
		return code, nil, stderr.String()
	}
	return code, &rep, stderr.String()
}

// TestMatchScenarios runs every scenario in tests/scenarios as its own
// multi-process match: each must meet its expectations, and no honest peer
// may ever reach a proof-class verdict against another honest peer.
// Skipped under -race: the peers are separate processes, so the race
// detector would only slow the runner, and CI runs this suite without it.
func TestMatchScenarios(t *testing.T) {
	if testing.Short() || sessionRace {
		t.Skip("multi-process network test; run without -short and -race")
	}
	files, err := filepath.Glob("scenarios/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	exe := buildPaxsync(t)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			code, rep, stderr := runMatchCmd(t, exe, f)
			if rep == nil {
				t.Fatalf("exit %d, stdout is not one JSON object; stderr:\n%s", code, stderr)
			}
			if code != 0 || !rep.ExpectOK {
				t.Fatalf("exit %d, expect_ok=%v, failed: %q\n%s", code, rep.ExpectOK, rep.Failed, stderr)
			}
			for _, p := range rep.Peers {
				if p.Role != "honest" {
					continue
				}
				for _, v := range p.Verdicts {
					if v.Class == "proof" && rep.Peers[v.Against].Role == "honest" {
						t.Errorf("honest peer %d reached %s against honest peer %d", p.Index, v.Kind, v.Against)
					}
				}
			}
		})
	}
}

// TestMatchWrongExpectation: a real match whose expectation cannot hold
// (a clean match that claims peer 1 is caught forging) exits 1 and names
// the failed expectation; a malformed scenario exits 2 naming the field.
func TestMatchWrongExpectation(t *testing.T) {
	if testing.Short() || sessionRace {
		t.Skip("multi-process network test; run without -short and -race")
	}
	exe := buildPaxsync(t)
	dir := t.TempDir()
	wrong := filepath.Join(dir, "wrong.json")
	writeFile(t, wrong, `{"name": "wrong", "peers": 4, "tick_hz": 60, "ticks": 180, "seed": 3,
		"expect": {"flagged": {"1": ["forged-input"]}, "honest_agree": true, "min_decided_ticks": 180}}`)
	code, rep, stderr := runMatchCmd(t, exe, wrong)
	if code != 1 || rep == nil || rep.ExpectOK {
		t.Fatalf("wrong expectation: exit %d, report %+v; stderr:\n%s", code, rep, stderr)
	}
	want := `did not reach "forged-input" about peer 1`
	if len(rep.Failed) == 0 || !strings.Contains(strings.Join(rep.Failed, "\n"), want) || !strings.Contains(stderr, want) {
		t.Errorf("failed expectations %q (stderr %q) do not name %q", rep.Failed, stderr, want)
	}

	malformed := filepath.Join(dir, "malformed.json")
	writeFile(t, malformed, `{"name": "m", "peers": 4, "tick_hz": 60, "ticks": 180, "cheatz": [], "expect": {}}`)
	code, rep, stderr = runMatchCmd(t, exe, malformed)
	if code != 2 || rep != nil || !strings.Contains(stderr, `unknown field "cheatz"`) {
		t.Errorf("malformed scenario: exit %d, report %v, stderr %q; want exit 2 naming \"cheatz\"", code, rep, stderr)
	}
	tooFew := filepath.Join(dir, "toofew.json")
	writeFile(t, tooFew, `{"name": "f", "peers": 4, "tick_hz": 60, "ticks": 180,
		"cheats": [{"peer": 1, "kind": "garbage"}, {"peer": 2, "kind": "flood"}], "expect": {}}`)
	if code, _, stderr = runMatchCmd(t, exe, tooFew); code != 2 || !strings.Contains(stderr, "need n >= 7") {
		t.Errorf("2 cheaters of 4: exit %d, stderr %q; want exit 2 explaining n >= 3f+1", code, stderr)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
