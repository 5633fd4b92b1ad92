package evidence_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/evidence"
	"firebreak/internal/testenv"
)

// TestLoadOrCreateSignerNeverReplacesAKey: a key directory that lost its
// private key but keeps the public half gets no new key (evidence signed
// with it would not verify under the kept one), and a public file that
// does not match the private key stops signing; both say what to do. A
// public file that is merely missing is written again from the key.
func TestLoadOrCreateSignerNeverReplacesAKey(t *testing.T) {
	dir := t.TempDir()
	sg, created, err := evidence.LoadOrCreateSigner(dir)
	if err != nil || !created {
		t.Fatalf("first use: %v, created %v", err, created)
	}
	for _, f := range []string{"signing.key", "signing.pub", "signing.pub.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("first use did not write %s: %v", f, err)
		}
	}

	t.Run("PrivateKeyMissing", func(t *testing.T) {
		d := copyKeys(t, dir)
		if err := os.Remove(filepath.Join(d, "signing.key")); err != nil {
			t.Fatal(err)
		}
		_, _, err := evidence.LoadOrCreateSigner(d)
		if err == nil || !strings.Contains(err.Error(), "signing.key is missing but its public half") || !strings.Contains(err.Error(), "restore") {
			t.Errorf("LoadOrCreateSigner without the private key = %v, want an error saying to restore it", err)
		}
		if _, err := os.Stat(filepath.Join(d, "signing.key")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a new private key was made: %v", err)
		}
	})
	t.Run("PublicKeyReplaced", func(t *testing.T) {
		d := copyKeys(t, dir)
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		if err := os.WriteFile(filepath.Join(d, "signing.pub"), []byte(base64.StdEncoding.EncodeToString(other)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := evidence.LoadOrCreateSigner(d); err == nil || !strings.Contains(err.Error(), "does not match the signing key") {
			t.Errorf("LoadOrCreateSigner with another signing.pub = %v", err)
		}
	})
	t.Run("PublicFilesMissing", func(t *testing.T) {
		d := copyKeys(t, dir)
		for _, f := range []string{"signing.pub", "signing.pub.pem"} {
			if err := os.Remove(filepath.Join(d, f)); err != nil {
				t.Fatal(err)
			}
		}
		again, created, err := evidence.LoadOrCreateSigner(d)
		if err != nil || created || !again.Pub.Equal(sg.Pub) {
			t.Fatalf("LoadOrCreateSigner without public files = %v, created %v", err, created)
		}
		k, err := evidence.LoadPublicKey(d)
		if err != nil || !k.Equal(sg.Pub) {
			t.Errorf("signing.pub written again = %v, %v", k, err)
		}
	})
	t.Run("ReadOnlyWithoutPublicFiles", func(t *testing.T) {
		d := copyKeys(t, dir)
		for _, f := range []string{"signing.pub", "signing.pub.pem"} {
			if err := os.Remove(filepath.Join(d, f)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(d, 0o500); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 { // root passes permission bits
			if out, err := exec.Command("chattr", "+i", d).CombinedOutput(); err != nil {
				t.Skipf("cannot make a read-only directory as root: chattr: %v %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("chattr", "-i", d).Run() })
		}
		again, created, err := evidence.LoadOrCreateSigner(d)
		if err != nil || created || !again.Pub.Equal(sg.Pub) {
			t.Errorf("a key mounted read-only without its public files = %v, created %v", err, created)
		}
	})
}

func copyKeys(t *testing.T, dir string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "keys")
	if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPublicKeyPEMReadByOpenSSL: signing.pub.pem is a key OpenSSL reads,
// and OpenSSL verifies a manifest's signature with it (raw ed25519 over
// the manifest bytes; the .sig is hex), and refuses a changed manifest.
func TestPublicKeyPEMReadByOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testenv.SkipOrFail(t, "openssl is not installed")
	}
	keys := t.TempDir()
	sg, _, err := evidence.LoadOrCreateSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(keys, "signing.pub.pem")
	if out, err := exec.Command(openssl, "pkey", "-pubin", "-in", pemPath, "-noout").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey cannot read %s: %v\n%s", pemPath, err, out)
	}
	dir := t.TempDir()
	s, _ := evidence.NewFileStore(dir)
	ms := caseRuns(t, s, sg, "OSSL", 1, evidence.RunOptions{})
	runDir := filepath.Join(dir, "cases/OSSL/runs", ms[0].Run)
	hexSig, err := os.ReadFile(filepath.Join(runDir, "manifest.json.sig"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := hex.DecodeString(strings.TrimSpace(string(hexSig)))
	if err != nil {
		t.Fatal(err)
	}
	sigBin := filepath.Join(t.TempDir(), "SIG.bin")
	if err := os.WriteFile(sigBin, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(manifest string) ([]byte, error) {
		return exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pemPath, "-rawin", "-in", manifest, "-sigfile", sigBin).CombinedOutput()
	}
	manifest := filepath.Join(runDir, "manifest.json")
	if out, err := verify(manifest); err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Fatalf("openssl does not verify the manifest's signature: %v\n%s", err, out)
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(changed, []byte(strings.Replace(string(b), `"tester"`, `"someone"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(changed); err == nil {
		t.Errorf("openssl verified a changed manifest:\n%s", out)
	}
	k, err := evidence.ParsePublicKey(readFile(t, pemPath))
	if err != nil || !k.Equal(sg.Pub) {
		t.Errorf("ParsePublicKey of the PEM = %v, %v", k, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyReplacedKey: evidence signed again under a key put in place of
// the host's (the key directory replaced) is named, with the key that
// signed it, when the original key is pinned; when only the key found
// beside the evidence is trusted, the runs signed before the replacement
// fail and the report says the key was not pinned. A trusted list with
// both keys (a rotation on purpose) verifies, and says which key signed
// what.
func TestVerifyReplacedKey(t *testing.T) {
	dir := t.TempDir()
	s, _ := evidence.NewFileStore(dir)
	keyDir := t.TempDir()
	orig, _, err := evidence.LoadOrCreateSigner(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	caseRuns(t, s, orig, "KEY", 1, evidence.RunOptions{})
	// The key directory emptied: a new key is made on next use.
	mustRemoveAll(t, keyDir)
	repl, created, err := evidence.LoadOrCreateSigner(keyDir)
	if err != nil || !created {
		t.Fatalf("new key: %v, created %v", err, created)
	}
	later := caseRuns(t, s, repl, "KEY", 1, evidence.RunOptions{})
	laterKey := "cases/KEY/runs/" + later[0].Run + "/manifest.json"

	rep := verifyWith(t, s, "KEY", evidence.VerifyOptions{Keys: pinned(orig.Pub)})
	if !hasProblem(rep, laterKey, "signed by another key, "+repl.PublicKeyString()+", which is not trusted") {
		t.Errorf("verify under the pinned original key = %+v", rep.Problems)
	}
	if rep.Pinned || rep.Keys[0].Runs != 1 || !rep.Keys[0].Pinned {
		t.Errorf("report keys = %+v pinned %v, want the pinned key over the one run it signed, and the case not all pinned", rep.Keys, rep.Pinned)
	}

	beside, err := evidence.LoadPublicKey(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	rep = verifyWith(t, s, "KEY", evidence.VerifyOptions{Keys: []evidence.TrustedKey{{Key: beside, Source: "signing.pub in " + keyDir}}})
	if rep.OK() || !hasProblem(rep, "manifest.json", "signed by another key, "+orig.PublicKeyString()) {
		t.Errorf("verify under the key found beside the evidence = %+v", rep.Problems)
	}
	if rep.Pinned || rep.Keys[0].Pinned {
		t.Errorf("a key found beside the evidence reported as pinned: %+v", rep.Keys)
	}

	both := append(pinned(orig.Pub), pinned(repl.Pub)...)
	rep = verifyWith(t, s, "KEY", evidence.VerifyOptions{Keys: both})
	if !rep.OK() || !rep.Pinned || rep.Keys[0].Runs != 1 || rep.Keys[1].Runs != 1 {
		t.Errorf("verify with both keys trusted = %+v, keys %+v", rep.Problems, rep.Keys)
	}
}

// TestReadTrustedKeys: a trusted list holds PEM keys and base64 lines with
// comments; a line that is no key is refused with its number.
func TestReadTrustedKeys(t *testing.T) {
	a, b := signer(t), signer(t)
	pemA, err := evidence.PublicKeyPEM(a.Pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted")
	content := "# incident response keys\n" + string(pemA) + "\n" + b.PublicKeyString() + " host-b (2026)\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := evidence.ReadTrustedKeys(p)
	if err != nil || len(keys) != 2 || !keys[0].Equal(a.Pub) || !keys[1].Equal(b.Pub) {
		t.Fatalf("ReadTrustedKeys = %v, %v", keys, err)
	}
	for _, bad := range []string{"\n\nnot-a-key\n", "-----BEGIN PUBLIC KEY-----\nAAAA\n", "# only a comment\n"} {
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := evidence.ReadTrustedKeys(p); err == nil {
			t.Errorf("ReadTrustedKeys(%q) took it", bad)
		}
	}
	if err := os.WriteFile(p, []byte("\n\nnot-a-key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.ReadTrustedKeys(p); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("ReadTrustedKeys of a bad line = %v, want its line number", err)
	}
}
