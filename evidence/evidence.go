// Package evidence is the seam to evidence storage: the small Store
// interface, a local directory store (the default) and an S3 store (minio-go,
// for MinIO and any S3), the spool that keeps evidence when the remote is
// down, and the case bundle written on top of any store: custody log,
// manifest, ed25519 signature and verification. It imports none of the verbs.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Object describes one stored artifact.
type Object struct {
	Key      string            `json:"key"`
	Size     int64             `json:"size"`
	SHA256   string            `json:"sha256,omitempty"` // hex; set by Put, "" where a store cannot tell without reading
	Modified time.Time         `json:"modified"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// Store keeps artifacts under slash-separated keys. Evidence is written once:
// no method overwrites or deletes.
type Store interface {
	// Put streams r to key without holding it in memory and returns its
	// size and SHA-256. The write is atomic: on any error no object is
	// left at key. An existing key is refused with ErrExists.
	Put(ctx context.Context, key string, r io.Reader, meta map[string]string) (Object, error)
	// Get opens the object. A missing key yields ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object without reading it. A missing key yields
	// ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// String names the store for people, without secrets.
	String() string
}

// Retainer is implemented by stores that can keep objects from deletion for
// a time (S3 Object Lock).
type Retainer interface {
	// CheckRetention confirms, before anything is written, that retention
	// as configured can be applied; a bucket without object lock fails.
	CheckRetention(ctx context.Context) error
}

var (
	// ErrNotFound is returned for a key that holds no object.
	ErrNotFound = errors.New("no such evidence object")
	// ErrUnreachable marks a failure to reach the store at all, as opposed
	// to an answer from it.
	ErrUnreachable = errors.New("store unreachable")
	// ErrExists is returned when a Put would overwrite evidence.
	ErrExists = errors.New("evidence object already exists; evidence is written once")
)

// CheckKey refuses keys that could name something outside a store's root or
// be read two ways: absolute, empty segments, "." or "..", NUL, backslash.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("evidence key %q: must be relative and name an object", key)
	}
	if strings.ContainsAny(key, "\x00\\") {
		return fmt.Errorf("evidence key %q: NUL and backslash are not allowed", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("evidence key %q: empty, \".\" and \"..\" segments are not allowed", key)
		}
	}
	return nil
}
