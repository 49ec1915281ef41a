package secrets

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// encrypt returns plaintext as an ENC[AGE,…] value for recipient, as an operator makes it.
func encrypt(t *testing.T, r age.Recipient, plaintext string) string {
	t.Helper()
	v, err := Encrypt(plaintext, r)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeIdentity(t *testing.T, id *age.X25519Identity, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "age.key")
	body := "# created: by the test\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// An identity file in the age-keygen format decrypts the values encrypted to its
// public key, and only those; errors never quote a value or a plaintext.
func TestLoadIdentityFileAndDecrypt(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := LoadIdentityFile(writeIdentity(t, id, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "hunter2-s3cret"
	enc := encrypt(t, id.Recipient(), secret)
	got, err := ids.Decrypt(enc)
	if err != nil || got != secret {
		t.Fatalf("Decrypt = %q, %v; want %q", got, err, secret)
	}
	wrong := encrypt(t, other.Recipient(), secret)
	payload := enc[len("ENC[AGE,") : len(enc)-1]
	raw, _ := base64.StdEncoding.DecodeString(payload)
	corrupt := "ENC[AGE," + base64.StdEncoding.EncodeToString(append(raw[:len(raw)-8:len(raw)-8], "XXXXXXXX"...)) + "]"
	for name, v := range map[string]string{"wrong key": wrong, "corrupt": corrupt, "not age": "ENC[AGE,aGVsbG8=]"} {
		_, err := ids.Decrypt(v)
		if err == nil {
			t.Fatalf("%s: decrypted", name)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), v[8:min(len(v), 30)]) {
			t.Errorf("%s: error quotes the value or the plaintext: %v", name, err)
		}
	}
	if _, err := ids.Decrypt(wrong); !strings.Contains(err.Error(), "not encrypted to the reconciler's age identity") {
		t.Errorf("wrong key: %v", err)
	}
}

// Like ssh with a private key, a key file that group or others may read is refused.
func TestLoadIdentityFileRefusesOpenPermissions(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		p := writeIdentity(t, id, mode)
		_, err := LoadIdentityFile(p)
		if err == nil || !strings.Contains(err.Error(), "are too open") || !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if _, err := LoadIdentityFile(writeIdentity(t, id, 0o400)); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

// A file that is not an age identity file is refused without quoting it.
func TestLoadIdentityFileRefusesGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "age.key")
	if err := os.WriteFile(p, []byte("# comment\nAGE-SECRET-KEY-1NOTAKEYATALLBUTSECRETLOOKING\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadIdentityFile(p)
	if err == nil || !strings.Contains(err.Error(), "not an age identity file (line 2)") || strings.Contains(err.Error(), "NOTAKEY") {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := LoadIdentityFile(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("absent file accepted")
	}
}
