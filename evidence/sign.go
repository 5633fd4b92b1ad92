package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"firebreak/internal/fsutil"
)

// DefaultKeyDir holds the signing key unless told otherwise.
const DefaultKeyDir = "/var/lib/firebreak/keys"

// The files of a key directory: the private seed, and the public half in
// Firebreak's base64 form and as PEM SPKI (what OpenSSL, Go's x509 and
// other ed25519 tools read).
const (
	keyFile    = "signing.key"
	pubFile    = "signing.pub"
	pubPEMFile = "signing.pub.pem"
)

// Signer signs manifests with an ed25519 key kept on the host.
type Signer struct {
	priv ed25519.PrivateKey
	Pub  ed25519.PublicKey
}

// PublicKeyString is the base64 form of the public key, as printed and
// stored in manifests.
func (s *Signer) PublicKeyString() string { return base64.StdEncoding.EncodeToString(s.Pub) }

// Sign returns the signature of msg.
func (s *Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }

// LoadOrCreateSigner reads dir/signing.key, or creates a new key pair there
// on first use (the private half 0600, the public half beside it as
// signing.pub, base64, and signing.pub.pem, PEM SPKI). created says whether
// it was made now.
//
// A key is never replaced silently: a public key in dir without its private
// half is an error (a new key would sign evidence that no longer verifies
// under the one kept), and so is a public file that does not match the
// private key. A public file that is missing is written from the private
// key; where the directory cannot be written (a key mounted read-only) it
// is left out: it is derived, and every manifest names the key.
func LoadOrCreateSigner(dir string) (s *Signer, created bool, err error) {
	keyPath := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return createSigner(dir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading signing key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("signing key %s is damaged (want a base64 ed25519 seed); restore it from a backup, it is never replaced by a new one", keyPath)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if err := checkPublicFiles(dir, pub, false); err != nil {
		return nil, false, err
	}
	return &Signer{priv: priv, Pub: pub}, false, nil
}

func createSigner(dir string) (*Signer, bool, error) {
	for _, name := range []string{pubFile, pubPEMFile} {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			if _, err := os.Lstat(filepath.Join(dir, keyFile)); err == nil {
				return LoadOrCreateSigner(dir) // made meanwhile: the key is written before its public half
			}
			return nil, false, fmt.Errorf("signing key %s is missing but its public half %s is there: "+
				"a new key would sign evidence that does not verify under the old one, so none is made; "+
				"restore %s from your backup, or, to start a new key on purpose, move %s and %s out of %s "+
				"(keep them: evidence signed before verifies only with them, e.g. through --trusted-keys)",
				filepath.Join(dir, keyFile), p, keyFile, pubFile, pubPEMFile, dir)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating key directory %s: %w (hint: set --key-dir)", dir, err)
	}
	keyPath := filepath.Join(dir, keyFile)
	err = createOnce(keyPath, []byte(base64.StdEncoding.EncodeToString(priv.Seed())+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSigner(dir) // another process made it first
	}
	if err != nil {
		return nil, false, fmt.Errorf("creating signing key: %w", err)
	}
	if err := checkPublicFiles(dir, pub, true); err != nil {
		return nil, false, err
	}
	return &Signer{priv: priv, Pub: pub}, true, nil
}

// checkPublicFiles confirms that the public files in dir are pub, writing
// those that are missing where the directory can be written. A new key
// must get its signing.pub: that file is what later tells a lost private
// key from a directory never used.
func checkPublicFiles(dir string, pub ed25519.PublicKey, created bool) error {
	pemBytes, err := PublicKeyPEM(pub)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name    string
		content []byte
	}{
		{pubFile, []byte(base64.StdEncoding.EncodeToString(pub) + "\n")},
		{pubPEMFile, pemBytes},
	} {
		p := filepath.Join(dir, f.name)
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			err = createOnce(p, f.content, 0o644)
			if err != nil && created && f.name == pubFile && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("writing public key %s: %w", p, err)
			}
			if !errors.Is(err, fs.ErrExist) {
				continue // written now, or left out of a directory that cannot be written
			}
			b, err = os.ReadFile(p) // written meanwhile by another process
		}
		if err != nil {
			return fmt.Errorf("reading public key %s: %w", p, err)
		}
		got, err := ParsePublicKey(string(b))
		if err != nil || !got.Equal(pub) {
			return fmt.Errorf("public key %s does not match the signing key %s: one of them was replaced; "+
				"nothing is signed until they agree: restore the one that was changed from your backup",
				p, filepath.Join(dir, keyFile))
		}
	}
	return nil
}

// createOnce writes a new file whole (a temp file, synced, linked into
// place): it fails with fs.ErrExist when path exists, and a reader never
// sees it half written.
func createOnce(path string, content []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".partial-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(content)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// PublicKeyPEM is pub as PEM SPKI ("PUBLIC KEY"), as OpenSSL reads it.
func PublicKeyPEM(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads an ed25519 public key: base64 of its 32 bytes (as
// manifests and signing.pub hold it), or PEM SPKI (signing.pub.pem).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		keys, err := parseKeyList([]byte(s))
		if err != nil {
			return nil, err
		}
		if len(keys) != 1 {
			return nil, fmt.Errorf("want one PEM public key, found %d", len(keys))
		}
		return keys[0], nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: want base64 of %d bytes, or PEM SPKI", s, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// LoadPublicKey reads dir/signing.pub.
func LoadPublicKey(dir string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, pubFile))
	if err != nil {
		return nil, fmt.Errorf("reading trusted public key: %w (hint: give --pubkey, or --key-dir where signing.pub is)", err)
	}
	return ParsePublicKey(string(b))
}

// ReadTrustedKeys reads a list of trusted public keys: PEM SPKI blocks,
// and lines of base64 keys (anything after the key on its line, and lines
// starting with #, are comments). An empty list is an error.
func ReadTrustedKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading trusted keys: %w", err)
	}
	keys, err := parseKeyList(b)
	if err != nil {
		return nil, fmt.Errorf("trusted keys %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("trusted keys %s: no key in it (give base64 keys one a line, or PEM public keys)", path)
	}
	return keys, nil
}

func parseKeyList(b []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	line := 0
	for len(b) > 0 {
		var l []byte
		l, b, _ = bytes.Cut(b, []byte("\n"))
		line++
		t := strings.TrimSpace(string(l))
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
		case strings.HasPrefix(t, "-----BEGIN"):
			blk, rest := pem.Decode(append(append([]byte(nil), l...), append([]byte("\n"), b...)...))
			if blk == nil || len(rest) > len(b) {
				return nil, fmt.Errorf("line %d: a PEM block that does not end", line)
			}
			if blk.Type != "PUBLIC KEY" {
				return nil, fmt.Errorf("line %d: a PEM %s, want PUBLIC KEY", line, blk.Type)
			}
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			ek, ok := k.(ed25519.PublicKey)
			if !ok {
				return nil, fmt.Errorf("line %d: a %T key, want ed25519", line, k)
			}
			keys = append(keys, ek)
			line += bytes.Count(b[:len(b)-len(rest)], []byte("\n"))
			b = rest
		default:
			field, _, _ := strings.Cut(t, " ")
			k, err := ParsePublicKey(field)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}
