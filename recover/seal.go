package recover

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// An encrypted repository seals every chunk, file list, index object and
// manifest with XChaCha20-Poly1305 (golang.org/x/crypto: an AEAD with a
// 24-byte nonce, so random nonces do not repeat in practice) under a key
// kept in a file the store never sees. Each sealed object is the nonce and
// the ciphertext; the associated data binds it to its place (a chunk to its
// digest, a manifest to its snapshot ID), so a sealed object moved to
// another place does not open. What stays visible in the store: object
// keys (snapshot IDs are times; pack and index keys are digests of sealed
// bytes), sizes and counts. A repository is encrypted from its first
// backup or never: config.json names the algorithm and the key's ID.

const (
	sealAlgorithm = "xchacha20poly1305"
	// KeySize is the size of a backup key.
	KeySize = chacha20poly1305.KeySize
)

// encConfig is config.json's record of the encryption.
type encConfig struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"` // see keyID: tells a wrong key at once
}

// sealer seals and opens; a nil sealer passes bytes through (a repository
// without encryption).
type sealer struct {
	aead cipher.AEAD
	id   string
}

func newSealer(key []byte) (*sealer, error) {
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	return &sealer{aead: a, id: keyID(key)}, nil
}

// KeyID names a key without revealing it (config.json records it).
func KeyID(key []byte) string { return keyID(key) }

// keyID names a key without revealing it.
func keyID(key []byte) string {
	h := sha256.Sum256(append([]byte("firebreak backup key id\x00"), key...))
	return hex.EncodeToString(h[:8])
}

// seal appends the sealed plain to dst.
func (s *sealer) seal(dst, plain, ad []byte) []byte {
	if s == nil {
		return append(dst, plain...)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	dst = append(dst, nonce...)
	return s.aead.Seal(dst, nonce, plain, ad)
}

// The associated data of sealed objects other than chunks (a chunk's is its
// digest).
var indexAD = []byte("firebreak backup index")

func manifestAD(id string) []byte { return []byte("firebreak backup manifest " + id) }

var errSealed = errors.New("does not open under the backup key (altered, moved, or sealed with another key)")

// open appends the opened sealed to dst.
func (s *sealer) open(dst, sealed, ad []byte) ([]byte, error) {
	if s == nil {
		return append(dst, sealed...), nil
	}
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return dst, errSealed
	}
	out, err := s.aead.Open(dst, sealed[:n], sealed[n:], ad)
	if err != nil {
		return dst, errSealed
	}
	return out, nil
}

// ReadKeyFile reads a backup key: 64 hex digits (KeySize bytes), in a file
// only its owner may read.
func ReadKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("backup key %s is readable by others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("backup key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("backup key %s: give %d hex digits (`firebreak backup keygen FILE` makes one)", path, 2*KeySize)
	}
	return key, nil
}

// WriteKeyFile makes a new random key in a new file (mode 0600); an
// existing file is never overwritten.
func WriteKeyFile(path string) error {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
