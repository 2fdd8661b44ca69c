package bft

import (
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

// BenchmarkHeavyPromise: the check of one Byzantine Promise as large as a
// message allows: 2,048 prepared items of a real match (each backed by the
// honest Verifies it collected) beside 4,096 envelopes, padded with the
// attacker's own Verifies. An honest leader checks it for every NewView
// the attacker sends (once per view it leads), so its cost is what one
// such message can make an honest node spend (docs/BENCHMARKS.md).
func BenchmarkHeavyPromise(b *testing.B) {
	c := newWALCluster(b, 4)
	var verifies []crypto.Envelope
	digest := map[uint64]crypto.Digest{}
	c.watchAll = true
	payload := make([]byte, 40)
	for done := 0; done < 2048; done += 32 {
		for i := 0; i < 32; i++ {
			payload[0], payload[1] = byte(done+i), byte((done+i)>>8)
			if err := c.nodes[0].Propose(payload); err != nil {
				b.Fatal(err)
			}
		}
		c.pump()
	}
	for _, e := range c.sentAll {
		if e.Type != wire.TypeVerify || e.Sender == 3 {
			continue
		}
		vb, err := decodeVote(e.Body)
		if err != nil || len(vb.Pairs) == 0 || vb.View != 0 {
			continue
		}
		verifies = append(verifies, e)
		for _, p := range vb.Pairs {
			digest[p.Slot] = p.Digest
		}
	}
	pb := promiseBody{View: 3}
	for s := uint64(1); s <= 2048; s++ {
		pb.Prepared = append(pb.Prepared, preparedItem{Slot: s, View: 0, Digest: digest[s]})
	}
	pb.VerifyEnvs = append(pb.VerifyEnvs, verifies...)
	for len(pb.VerifyEnvs) < maxEnvs {
		pad := voteBody{View: 0, Pairs: []pair{{Slot: 1 << 40, Digest: crypto.Digest{1}}}}
		pb.VerifyEnvs = append(pb.VerifyEnvs, c.cfgs[3].Signer.Sign(wire.TypeVerify, pad.encode()))
	}
	dp, err := decodePromise(pb.encode())
	if err != nil {
		b.Fatal(err)
	}
	victim := c.nodes[1]
	if !victim.validPromise(&dp) {
		b.Fatal("the promise does not check: the benchmark measures a refusal")
	}
	b.ResetTimer()
	for range b.N {
		victim.validPromise(&dp)
	}
}
