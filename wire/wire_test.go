package wire

import (
	"bytes"
	"errors"
	"testing"
)

func sample() []byte {
	w := NewWriter(nil)
	w.U8(7)
	w.Bool(true)
	w.U16(513)
	w.U32(1 << 30)
	w.U64(1 << 60)
	w.Uvarint(300)
	w.Varint(-5)
	w.Bytes32([32]byte{1, 2, 3})
	w.Blob([]byte("blob"))
	w.String("str")
	return w.Bytes()
}

type decoded struct {
	u8   uint8
	b    bool
	u16  uint16
	u32  uint32
	u64  uint64
	uv   uint64
	v    int64
	b32  [32]byte
	blob []byte
	s    string
}

func decodeSample(b []byte) (decoded, error) {
	r := NewReader(b)
	d := decoded{
		u8: r.U8("u8"), b: r.Bool("b"), u16: r.U16("u16"), u32: r.U32("u32"), u64: r.U64("u64"),
		uv: r.Uvarint("uv"), v: r.Varint("v"), b32: r.Bytes32("b32"), blob: r.Blob("blob", 16), s: r.String("s", 16),
	}
	return d, r.Done()
}

func TestRoundTrip(t *testing.T) {
	d, err := decodeSample(sample())
	if err != nil {
		t.Fatal(err)
	}
	want := decoded{7, true, 513, 1 << 30, 1 << 60, 300, -5, [32]byte{1, 2, 3}, []byte("blob"), "str"}
	if d.u8 != want.u8 || d.b != want.b || d.u16 != want.u16 || d.u32 != want.u32 || d.u64 != want.u64 ||
		d.uv != want.uv || d.v != want.v || d.b32 != want.b32 || !bytes.Equal(d.blob, want.blob) || d.s != want.s {
		t.Fatalf("got %+v want %+v", d, want)
	}
}

func TestEveryTruncationIsATypedError(t *testing.T) {
	full := sample()
	for n := 0; n < len(full); n++ {
		_, err := decodeSample(full[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: want ErrTruncated, got %v", n, err)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Field == "" {
			t.Fatalf("cut at %d: error does not name a field: %v", n, err)
		}
	}
	if _, err := decodeSample(append(full, 0)); !errors.Is(err, ErrTrailing) {
		t.Fatalf("trailing: %v", err)
	}
}

func TestBoundsAndCanonicalForm(t *testing.T) {
	w := NewWriter(nil)
	w.Blob(make([]byte, 17))
	if r := NewReader(w.Bytes()); r.Blob("x", 16) != nil || !errors.Is(r.Err(), ErrOversize) {
		t.Fatalf("blob over its bound: %v", r.Err())
	}
	// A count that promises more items than bytes remain is refused before allocating.
	w = NewWriter(nil)
	w.Uvarint(1000)
	if r := NewReader(w.Bytes()); r.Len("n", 1<<20, 8) != 0 || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("count beyond input: %v", r.Err())
	}
	// Non-minimal varint (0x80 0x00 encodes 0 in two bytes) is malformed.
	if r := NewReader([]byte{0x80, 0x00}); r.Uvarint("v") != 0 || !errors.Is(r.Err(), ErrMalformed) {
		t.Fatalf("non-minimal varint: %v", r.Err())
	}
	if r := NewReader([]byte{2}); r.Bool("b") || !errors.Is(r.Err(), ErrMalformed) {
		t.Fatalf("bool 2: %v", r.Err())
	}
	if r := NewReader(make([]byte, MaxMessageSize+1)); !errors.Is(r.Err(), ErrOversize) {
		t.Fatalf("oversize message: %v", r.Err())
	}
	// The first error sticks; later reads return zero values.
	r := NewReader([]byte{1})
	r.U16("a")
	if r.U8("b") != 0 || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatal("error did not stick")
	}
	var de *DecodeError
	if !errors.As(r.Err(), &de) || de.Field != "a" {
		t.Fatalf("first failing field should be reported, got %v", r.Err())
	}
}

func TestTypeNames(t *testing.T) {
	if !TypeVerify.Known() || TypeVerify.String() != "verify" {
		t.Fatal("verify type not registered")
	}
	if Type(200).Known() || Type(200).String() != "unknown" {
		t.Fatal("type 200 should be unknown")
	}
}

func FuzzReader(f *testing.F) {
	f.Add(sample())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeSample(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		w := NewWriter(nil)
		w.U8(d.u8)
		w.Bool(d.b)
		w.U16(d.u16)
		w.U32(d.u32)
		w.U64(d.u64)
		w.Uvarint(d.uv)
		w.Varint(d.v)
		w.Bytes32(d.b32)
		w.Blob(d.blob)
		w.String(d.s)
		if !bytes.Equal(w.Bytes(), b) {
			t.Fatalf("accepted a non-canonical encoding %x", b)
		}
	})
}
