package crypto

import (
	"crypto/sha256"
	"encoding/hex"
)

// Digest is a SHA-256 hash. It names values (batches, states, snapshots)
// in signed messages so that a signature covers content of any size.
type Digest [32]byte

// Sum returns the SHA-256 digest of the concatenation of parts. Callers that
// hash structured data must encode it canonically first (see package wire):
// the digest is only as unambiguous as its input.
func Sum(parts ...[]byte) Digest {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var d Digest
	h.Sum(d[:0])
	return d
}

// String shows the first 8 bytes in hex, enough to tell digests apart in
// logs and reports.
func (d Digest) String() string { return hex.EncodeToString(d[:8]) }

// Hex is the full hexadecimal form, for reports and files.
func (d Digest) Hex() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the all-zero digest, used as "no value".
func (d Digest) IsZero() bool { return d == Digest{} }
