package crypto

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyFileLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "player.key")
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, k, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	got, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Public() != k.Public() {
		t.Fatal("loaded key differs from written key")
	}

	k2, _ := GenerateKey(nil)
	if err := WriteKeyFile(path, k2, false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrite without force: want ErrKeyExists, got %v", err)
	}
	if got, _ := LoadKeyFile(path); got.Public() != k.Public() {
		t.Fatal("refused overwrite still changed the file")
	}
	// A forced overwrite of a file someone loosened must end up 0600 again.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); !errors.Is(err, ErrKeyPermissions) {
		t.Fatalf("world-readable key: want ErrKeyPermissions, got %v", err)
	}
	if err := WriteKeyFile(path, k2, true); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadKeyFile(path); err != nil || got.Public() != k2.Public() {
		t.Fatalf("forced overwrite: %v", err)
	}
}

func TestLoadKeyFileRejectsMalformed(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":     "",
		"garbage":   "not a key at all\n",
		"wrong pem": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"short":     "-----BEGIN PAXSYNC ED25519 PRIVATE KEY-----\nAAAA\n-----END PAXSYNC ED25519 PRIVATE KEY-----\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyFile(p); !errors.Is(err, ErrKeyMalformed) {
			t.Errorf("%s: want ErrKeyMalformed, got %v", name, err)
		}
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestPublicKeyHexRoundTrip(t *testing.T) {
	k := testKey(t, 9)
	p, err := ParsePublicKey(k.Public().Hex())
	if err != nil || p != k.Public() {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "zz", k.Public().Hex()[:10]} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}
