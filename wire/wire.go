// Package wire is paxsync's binary encoding: small append-style writers and a
// bounds-checked reader that never panics. Every message type in paxsync is
// encoded with these primitives, so one fuzzed reader guards all decoders.
//
// Integers are unsigned varints (encoding/binary) unless the field has a
// fixed width; byte strings and lists are length-prefixed and every length is
// checked against both a caller-supplied bound and the bytes that remain.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the wire-format version carried in every envelope. A peer
// rejects messages of any other version with ErrVersion.
const Version = 1

// MaxMessageSize bounds any encoded message. Larger input is rejected before
// it is parsed, so a peer cannot make another allocate without limit.
const MaxMessageSize = 1 << 20

// Error kinds returned (wrapped in *DecodeError) by decoders.
var (
	ErrTruncated   = errors.New("truncated input")
	ErrOversize    = errors.New("oversize input")
	ErrTrailing    = errors.New("trailing bytes after message")
	ErrVersion     = errors.New("unsupported wire version")
	ErrUnknownType = errors.New("unknown message type")
	ErrMalformed   = errors.New("malformed field")
)

// DecodeError says which field failed to decode and why. Use errors.Is with
// the Err* kinds above to classify it.
type DecodeError struct {
	Field string
	Kind  error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("wire: %s: %v", e.Field, e.Kind) }

// Unwrap lets errors.Is match the error kind.
func (e *DecodeError) Unwrap() error { return e.Kind }

// Writer appends encoded fields to a byte slice. The zero value is ready to
// use; Bytes returns the result.
type Writer struct{ buf []byte }

// NewWriter returns a Writer that appends to buf (which may be nil), so hot
// paths can reuse a buffer.
func NewWriter(buf []byte) *Writer { return &Writer{buf: buf} }

// Bytes returns the encoded bytes.
func (w *Writer) Bytes() []byte { return w.buf }

// Len is the number of bytes written so far.
func (w *Writer) Len() int { return len(w.buf) }

// U8 appends one byte.
func (w *Writer) U8(v uint8) { w.buf = append(w.buf, v) }

// Bool appends 1 or 0.
func (w *Writer) Bool(v bool) {
	if v {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// U16 appends a fixed-width big-endian uint16.
func (w *Writer) U16(v uint16) { w.buf = binary.BigEndian.AppendUint16(w.buf, v) }

// U32 appends a fixed-width big-endian uint32.
func (w *Writer) U32(v uint32) { w.buf = binary.BigEndian.AppendUint32(w.buf, v) }

// U64 appends a fixed-width big-endian uint64.
func (w *Writer) U64(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// Uvarint appends an unsigned varint.
func (w *Writer) Uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }

// Varint appends a signed (zig-zag) varint.
func (w *Writer) Varint(v int64) { w.buf = binary.AppendVarint(w.buf, v) }

// Fixed appends b as is, for fields whose length the reader knows (digests,
// signatures, keys).
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// Bytes32 appends a 32-byte array (digests, public keys).
func (w *Writer) Bytes32(b [32]byte) { w.buf = append(w.buf, b[:]...) }

// Blob appends a length-prefixed byte string.
func (w *Writer) Blob(b []byte) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(b)))
	w.buf = append(w.buf, b...)
}

// String appends a length-prefixed string.
func (w *Writer) String(s string) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(s)))
	w.buf = append(w.buf, s...)
}

// Reader decodes fields from a byte slice. The first failure is sticky: later
// reads return zero values and Err reports the first error, so decoders can
// read every field and check once at the end.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b. Input longer than MaxMessageSize is
// rejected at once with ErrOversize.
func NewReader(b []byte) *Reader {
	r := &Reader{buf: b}
	if len(b) > MaxMessageSize {
		r.err = &DecodeError{Field: "message", Kind: ErrOversize}
	}
	return r
}

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Remaining is the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Fail records err for field unless an error is already recorded. Decoders
// use it for semantic checks (a value out of range is ErrMalformed).
func (r *Reader) Fail(field string, kind error) {
	if r.err == nil {
		r.err = &DecodeError{Field: field, Kind: kind}
	}
}

// Done checks that all input was consumed and returns the first error.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.err = &DecodeError{Field: "message", Kind: ErrTrailing}
	}
	return r.err
}

func (r *Reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.Fail(field, ErrTruncated)
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

// U8 reads one byte.
func (r *Reader) U8(field string) uint8 {
	b := r.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bool reads a byte that must be 0 or 1.
func (r *Reader) Bool(field string) bool {
	v := r.U8(field)
	if v > 1 {
		r.Fail(field, ErrMalformed)
		return false
	}
	return v == 1
}

// U16 reads a fixed-width big-endian uint16.
func (r *Reader) U16(field string) uint16 {
	b := r.take(field, 2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// U32 reads a fixed-width big-endian uint32.
func (r *Reader) U32(field string) uint32 {
	b := r.take(field, 4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// U64 reads a fixed-width big-endian uint64.
func (r *Reader) U64(field string) uint64 {
	b := r.take(field, 8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Uvarint reads an unsigned varint. Non-minimal or overlong encodings are
// rejected so that every value has exactly one encoding (signatures cover
// bytes, and two encodings of one message would look like equivocation).
func (r *Reader) Uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n == 0 {
		r.Fail(field, ErrTruncated)
		return 0
	}
	if n < 0 || n != len(binary.AppendUvarint(nil, v)) {
		r.Fail(field, ErrMalformed)
		return 0
	}
	r.off += n
	return v
}

// Varint reads a signed varint with the same canonical-form rule as Uvarint.
func (r *Reader) Varint(field string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf[r.off:])
	if n == 0 {
		r.Fail(field, ErrTruncated)
		return 0
	}
	if n < 0 || n != len(binary.AppendVarint(nil, v)) {
		r.Fail(field, ErrMalformed)
		return 0
	}
	r.off += n
	return v
}

// Len reads a length or count and checks it against max. A count of items
// that each take at least minItem bytes is also checked against the bytes
// remaining, so a forged count cannot make the caller allocate a huge slice.
func (r *Reader) Len(field string, max int, minItem int) int {
	v := r.Uvarint(field)
	if r.err != nil {
		return 0
	}
	if v > uint64(max) {
		r.Fail(field, ErrOversize)
		return 0
	}
	if minItem < 1 {
		minItem = 1
	}
	if v > uint64(r.Remaining()/minItem) {
		r.Fail(field, ErrTruncated)
		return 0
	}
	return int(v)
}

// Fixed reads exactly n bytes. The result aliases the input; copy it if the
// input buffer will be reused.
func (r *Reader) Fixed(field string, n int) []byte { return r.take(field, n) }

// Bytes32 reads a 32-byte array.
func (r *Reader) Bytes32(field string) (out [32]byte) {
	copy(out[:], r.take(field, 32))
	return out
}

// Blob reads a length-prefixed byte string of at most max bytes. The result
// is a copy, safe to keep.
func (r *Reader) Blob(field string, max int) []byte {
	n := r.Len(field, max, 1)
	b := r.take(field, n)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// String reads a length-prefixed string of at most max bytes.
func (r *Reader) String(field string, max int) string {
	n := r.Len(field, max, 1)
	return string(r.take(field, n))
}
