package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultKeyDir holds the signing key unless told otherwise.
const DefaultKeyDir = "/var/lib/firebreak/keys"

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
// on first use (the private half 0600, the public half beside it in
// signing.pub). created says whether it was made now.
func LoadOrCreateSigner(dir string) (s *Signer, created bool, err error) {
	keyPath := filepath.Join(dir, "signing.key")
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("creating key directory %s: %w (hint: set --key-dir)", dir, err)
		}
		f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateSigner(dir) // another process made it first
		}
		if err != nil {
			return nil, false, fmt.Errorf("creating signing key: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(priv.Seed()) + "\n")
		if serr := f.Sync(); werr == nil {
			werr = serr
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(keyPath)
			return nil, false, fmt.Errorf("writing signing key: %w", werr)
		}
		if err := os.WriteFile(filepath.Join(dir, "signing.pub"), []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
			return nil, false, fmt.Errorf("writing public key: %w", err)
		}
		return &Signer{priv: priv, Pub: pub}, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading signing key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, false, fmt.Errorf("signing key %s is damaged (want a base64 ed25519 seed)", keyPath)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, Pub: priv.Public().(ed25519.PublicKey)}, false, nil
}

// ParsePublicKey reads a base64 ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: want base64 of %d bytes", s, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// LoadPublicKey reads dir/signing.pub.
func LoadPublicKey(dir string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, "signing.pub"))
	if err != nil {
		return nil, fmt.Errorf("reading trusted public key: %w (hint: give --pubkey, or --key-dir where signing.pub is)", err)
	}
	return ParsePublicKey(string(b))
}
