package gamestate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/gamestate"
)

// TestResultCertificateSignaturesInSeatOrder: a certificate's signatures
// must be in strictly ascending seat order, as honest peers write them
// (bft keeps its quorum sorted by seat), so one certificate has exactly
// one file encoding: the same signatures in any other order are refused,
// a seat twice is refused as before, and the ascending one verifies.
func TestResultCertificateSignaturesInSeatOrder(t *testing.T) {
	m, c := resultOf(t, 60, 0, 1, 2)
	verify := func(c *gamestate.ResultCertificate) error {
		d, err := gamestate.DecodeResultCertificate(c.Encode())
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Verify(m.header.Name, m.header.Roster)
		return err
	}
	if err := verify(c); err != nil {
		t.Fatalf("ascending certificate: %v", err)
	}
	honest := c.Cert
	for _, perm := range [][3]int{{0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		p := *c
		p.Cert = nil
		for _, i := range perm {
			p.Cert = append(p.Cert, honest[i])
		}
		if err := verify(&p); !errors.Is(err, gamestate.ErrResultInvalid) || !strings.Contains(err.Error(), "ascending seat order") {
			t.Errorf("signatures by seats %v: %v, want refused for their order", perm, err)
		}
	}
	dup := *c
	dup.Cert = []crypto.Envelope{honest[0], honest[1], honest[1]}
	if err := verify(&dup); !errors.Is(err, gamestate.ErrResultInvalid) || !strings.Contains(err.Error(), "seat 1 signed twice") {
		t.Errorf("seat 1 twice: %v", err)
	}
}
