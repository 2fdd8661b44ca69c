package adversary

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/transport/transporttest"
)

// rosters numbers testRoster's calls, so that two rosters in one test
// share no key.
var rosters atomic.Int64

// testRoster is n keys and their roster, distinct from every other call's.
func testRoster(t *testing.T, n int) ([]*crypto.PrivateKey, []crypto.PublicKey) {
	m := transporttest.NewMatch(t, fmt.Sprintf("%s/%d", t.Name(), rosters.Add(1)), n)
	return m.Keys, m.Roster
}
