package adversary

import (
	"crypto/rand"
	"testing"

	"github.com/paxsync/paxsync/crypto"
)

func testRoster(t *testing.T, n int) ([]*crypto.PrivateKey, []crypto.PublicKey) {
	t.Helper()
	var keys []*crypto.PrivateKey
	var roster []crypto.PublicKey
	for i := 0; i < n; i++ {
		k, err := crypto.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys, roster = append(keys, k), append(roster, k.Public())
	}
	return keys, roster
}
