package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpensOnlyWithItsKeyAndContext(t *testing.T) {
	ad := []byte("match|seat 2|tick 40")
	plain := []byte{1, 2, 3, 4}
	sealed, key, err := Seal(plain, ad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	got, err := Open(sealed, key, ad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open with the right key: %v %x", err, got)
	}
	_, other, _ := Seal(plain, ad, nil)
	if _, err := Open(sealed, other, ad); !errors.Is(err, ErrSealMismatch) {
		t.Fatalf("other key: want ErrSealMismatch, got %v", err)
	}
	if _, err := Open(sealed, key, []byte("match|seat 2|tick 41")); !errors.Is(err, ErrSealMismatch) {
		t.Fatalf("other context: want ErrSealMismatch, got %v", err)
	}
	for i := range sealed {
		b := append([]byte(nil), sealed...)
		b[i] ^= 0x40
		if _, err := Open(b, key, ad); !errors.Is(err, ErrSealMismatch) {
			t.Fatalf("byte %d altered: want ErrSealMismatch, got %v", i, err)
		}
	}
	if _, err := Open(sealed[:SealOverhead-1], key, ad); !errors.Is(err, ErrSealMismatch) {
		t.Fatalf("short input: got %v", err)
	}
	if len(sealed) != len(plain)+SealOverhead {
		t.Fatalf("overhead %d, want %d", len(sealed)-len(plain), SealOverhead)
	}
}

func TestSealKeysAreFresh(t *testing.T) {
	_, k1, _ := Seal([]byte("x"), nil, nil)
	_, k2, _ := Seal([]byte("x"), nil, nil)
	if k1 == k2 {
		t.Fatal("two seals used the same one-time key")
	}
}
