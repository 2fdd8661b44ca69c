package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGamestateRandomnessOnlyViaStdlibCrypto: gamestate must verify
// Ed25519 signatures, and the standard library's crypto/ed25519 imports
// crypto/rand (for key generation), which imports math/big, which imports
// math/rand. So math/rand is in gamestate's dependency closure, but no
// code gamestate runs draws from it. This test pins that down: in the
// closure of gamestate/..., the only packages that import a randomness
// source are standard-library packages and paxsync's own crypto (whose
// GenerateKey and Seal use crypto/rand; gamestate calls neither — checked
// in TestLayering's direct-import rules and by its source). A new
// third-party or module dependency that imports randomness fails here.
func TestGamestateRandomnessOnlyViaStdlibCrypto(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{.Standard}} {{join .Imports " "}}`,
		"../gamestate/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	random := map[string]bool{"math/rand": true, "math/rand/v2": true, "crypto/rand": true}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		pkg, std := f[0], f[1] == "true"
		for _, imp := range f[2:] {
			if !random[imp] {
				continue
			}
			seen++
			if !std && pkg != "github.com/paxsync/paxsync/crypto" {
				t.Errorf("%s imports %s: randomness reaches gamestate outside the standard library's crypto", pkg, imp)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no importer of a randomness source found at all: the go list output is not what this test expects")
	}
}
