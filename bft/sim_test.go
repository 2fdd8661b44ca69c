package bft

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"regexp"
	"testing"

	"github.com/paxsync/paxsync/crypto"
	"github.com/paxsync/paxsync/wire"
)

var (
	flagSeed  = flag.Int64("seed", -1, "run only this simulation seed (see the replay command a failure prints)")
	flagSeeds = flag.Int("seeds", 0, "simulation seeds per n per strategy (0: default, smaller under -race/-short)")
	flagN     = flag.Int("simn", 0, "run only this cluster size (4 or 7)")
	flagReal  = flag.Bool("realsig", false, "use Ed25519 in the simulation instead of the keyed-hash signer")
	flagShift = flag.Bool("simshift", false, "draw one extra random number per run: a second family of seeds")
)

// simSigner is a keyed-hash stand-in for Ed25519 in the simulation: a seat
// can sign only with its own secret, so forgeries still fail, but a run
// costs microseconds instead of milliseconds. -realsig switches to Ed25519.
type simSigner struct {
	seat   uint16
	secret [32]byte
}

func simSecret(seat uint16) (s [32]byte) {
	s = sha256.Sum256([]byte(fmt.Sprintf("sim-secret-%d", seat)))
	return s
}

func simSig(secret [32]byte, t wire.Type, seat uint16, body []byte) (sig crypto.Signature) {
	h := sha256.New()
	h.Write(secret[:])
	h.Write([]byte{byte(t), byte(seat >> 8), byte(seat)})
	h.Write(body)
	h.Sum(sig[:0])
	return sig
}

func (s *simSigner) Sign(t wire.Type, body []byte) crypto.Envelope {
	return crypto.Envelope{Type: t, Sender: s.seat, Body: body, Sig: simSig(s.secret, t, s.seat, body)}
}
func (s *simSigner) Seat() uint16 { return s.seat }

type simVerifier struct{ n int }

func (v simVerifier) Size() int { return v.n }
func (v simVerifier) Verify(e *crypto.Envelope) error {
	if int(e.Sender) >= v.n {
		return crypto.ErrUnknownSender
	}
	if simSig(simSecret(e.Sender), e.Type, e.Sender, e.Body) != e.Sig {
		return crypto.ErrBadSignature
	}
	return nil
}

// seededRoster makes n reproducible Ed25519 identities (seat i from seed
// byte i+1) and the match ID of their roster, for simulations and benchmarks.
func seededRoster(n int, match string) ([]*crypto.PrivateKey, []crypto.PublicKey, crypto.MatchID) {
	keys := make([]*crypto.PrivateKey, n)
	roster := make([]crypto.PublicKey, n)
	for i := range keys {
		k, err := crypto.KeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			panic(err) // a 32-byte seed cannot fail
		}
		keys[i], roster[i] = k, k.Public()
	}
	return keys, roster, crypto.NewMatchID(match, roster)
}

func keysFor(n int) ([]Signer, Verifier) {
	signers := make([]Signer, n)
	if !*flagReal {
		for i := range signers {
			signers[i] = &simSigner{seat: uint16(i), secret: simSecret(uint16(i))}
		}
		return signers, simVerifier{n}
	}
	keys, roster, m := seededRoster(n, "sim")
	for i := range signers {
		signers[i] = crypto.NewSigner(keys[i], m, uint16(i))
	}
	return signers, crypto.NewVerifier(m, roster)
}

// Player inputs: each input carries a tag only its player can make, so the
// validity check "a decided batch holds only inputs signed by their
// players" is a real check (ValidateValue enforces it at acceptors).
const inputSize = 1 + 4 + 8 + 8

func inputTag(player uint8, ctr uint32, data []byte) []byte {
	sec := simSecret(1000 + uint16(player))
	h := sha256.New()
	h.Write(sec[:])
	h.Write([]byte{player})
	h.Write(binary.BigEndian.AppendUint32(nil, ctr))
	h.Write(data)
	return h.Sum(nil)[:8]
}

func makeBatch(rng *rand.Rand, players, k int, ctr uint32) []byte {
	var b []byte
	for i := 0; i < k; i++ {
		p := uint8(rng.Intn(players))
		data := make([]byte, 8)
		rng.Read(data)
		b = append(b, p)
		b = binary.BigEndian.AppendUint32(b, ctr+uint32(i))
		b = append(b, data...)
		b = append(b, inputTag(p, ctr+uint32(i), data)...)
	}
	return b
}

var errBadInput = errors.New("input not signed by its player")

func validateBatch(_ uint64, payload []byte) error {
	if len(payload)%inputSize != 0 {
		return errBadInput
	}
	for off := 0; off < len(payload); off += inputSize {
		in := payload[off : off+inputSize]
		if !bytes.Equal(in[13:21], inputTag(in[0], binary.BigEndian.Uint32(in[1:5]), in[5:13])) {
			return errBadInput
		}
	}
	return nil
}

// simApp is the application on one seat: a hash chain over the applied
// entries, snapshotted at checkpoints.
type simApp struct {
	slot  uint64
	chain crypto.Digest
}

func (a *simApp) snapshot() []byte {
	w := wire.NewWriter(nil)
	w.Uvarint(a.slot)
	w.Bytes32(a.chain)
	return w.Bytes()
}

func (a *simApp) restore(b []byte) error {
	r := wire.NewReader(b)
	a.slot = r.Uvarint("slot")
	a.chain = r.Bytes32("chain")
	return r.Done()
}

func entryDigest(e *Entry) crypto.Digest {
	parts := [][]byte{e.Payload}
	for i := range e.Evidence {
		parts = append(parts, EncodeEvidence(&e.Evidence[i]))
	}
	return crypto.Sum(parts...)
}

func TestSimHonestSmoke(t *testing.T) {
	for _, n := range []int{4, 7} {
		r := runSim(simParams{seed: 1, n: n, strategy: "honest"})
		if r.err != nil {
			t.Fatalf("n=%d: %v", n, r.err)
		}
		if r.decided < 20 {
			t.Fatalf("n=%d: only %d slots decided", n, r.decided)
		}
	}
}

// strategies are the fault scenarios. "crashmode" and "crashmode-leader"
// run ModeCrash (the crash-tolerant benchmark baseline) with crash faults
// only: random crashes and restarts, and a view-0 leader that crashes and
// stays down until the heal.
//
// The "crash+<byz>" strategies (sim_crashbyz_test.go) run a Byzantine
// behaviour on f seats while honest seats crash and restart from their WAL.
var strategies = append([]string{"honest", "lossy", "crash", "silent", "equiv-leader", "equiv-acceptor", "forger", "stale-future", "garbage", "partial-leader", "twins",
	"crashmode", "crashmode-leader"}, crashByzStrategies...)

// minTallyRuns is the fewest runs of a case whose counts of exercised
// faults are checked (a seed may by chance restart no seat).
const minTallyRuns = 6

func seedsPerCase(t *testing.T, strat string) int {
	if *flagSeeds > 0 {
		return *flagSeeds
	}
	if raceEnabled {
		// The simulation runs on one goroutine: -race finds nothing more
		// in it than one seed per case can show, and make sim runs 92
		// seeds of every case without it.
		return 2
	}
	if testing.Short() {
		if crashByz, _ := splitStrategy(strat); crashByz {
			return 6
		}
		return 12
	}
	return 92 // 92 × 22 strategies × 2 sizes ≈ 4,000 runs
}

// TestSim runs every strategy for many seeds at n=4 and n=7. Each strategy
// is its own subtest (TestSim/<strategy>), and a failure prints the command
// that replays exactly that run.
func TestSim(t *testing.T) {
	for _, strat := range strategies {
		t.Run(strat, func(t *testing.T) {
			for _, n := range []int{4, 7} {
				if *flagN != 0 && n != *flagN {
					continue
				}
				if *flagSeed >= 0 {
					checkRun(t, simParams{seed: *flagSeed, n: n, strategy: strat, shift: *flagShift})
					continue
				}
				var tally simResult
				runs := seedsPerCase(t, strat)
				for i := 0; i < runs; i++ {
					r, ok := checkRun(t, simParams{seed: int64(i), n: n, strategy: strat, shift: *flagShift})
					if !ok {
						return
					}
					tally.evidence += min(r.evidence, 1)
					tally.restarts += r.restarts
					tally.views += min(r.views, 1)
				}
				// The faults must really have been exercised, not just
				// survived: counted over the runs, so only where there are
				// enough of them for the count to mean it (not the two
				// seeds a -race run takes; make sim runs 92).
				if runs < minTallyRuns {
					continue
				}
				crashByz, byz := splitStrategy(strat)
				if crashByz && tally.restarts < runs {
					t.Errorf("n=%d: only %d restarts in %d runs", n, tally.restarts, runs)
				}
				switch byz {
				case "equiv-leader", "equiv-acceptor":
					if tally.evidence*2 < runs {
						t.Errorf("n=%d: equivocation convicted in only %d of %d runs", n, tally.evidence, runs)
					}
				case "crash", "crashmode":
					if tally.restarts < runs {
						t.Errorf("n=%d: only %d restarts in %d runs", n, tally.restarts, runs)
					}
				case "silent", "crashmode-leader":
					if int(tally.views) < runs {
						t.Errorf("n=%d: a silent leader was not replaced in every run (%d of %d)", n, tally.views, runs)
					}
				}
			}
		})
	}
}

func checkRun(t *testing.T, p simParams) (simResult, bool) {
	t.Helper()
	r := runSim(p)
	if r.err != nil {
		shift := ""
		if p.shift {
			shift = " -simshift"
		}
		t.Errorf("%s n=%d seed=%d: %v\nreplay: go test ./bft -run 'TestSim/%s$' -seed=%d -simn=%d%s -v", p.strategy, p.n, p.seed, r.err, regexp.QuoteMeta(p.strategy), p.seed, p.n, shift)
		return r, false
	}
	return r, true
}
