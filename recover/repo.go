package recover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/restic/chunker"

	"firebreak/evidence"
)

// Repo is where snapshots and chunks live: an evidence store (the same
// local directory or S3 bucket as the cases), with the signing key.
type Repo struct {
	store  evidence.Store
	signer *evidence.Signer
	pol    chunker.Pol
	seal   *sealer // nil: not encrypted

	idx    *chunkIndex // where the stored chunks are, read once
	loadMu sync.Mutex  // one reading of the index at a time
}

// repoConfig is config.json. Version 1 stored each chunk as an object of
// its own (chunks/<xx>/<sha256>, still read); version 2 stores packs and an
// index.
type repoConfig struct {
	Version    int         `json:"version"`
	Polynomial chunker.Pol `json:"polynomial"` // of the content-defined chunker: same data, same chunks
	Encryption *encConfig  `json:"encryption,omitempty"`
}

// OpenRepo opens the backups of a store, making its configuration (the
// chunker's polynomial) on first use. Without a signer it only reads: a
// store with no backups yet is then empty, and nothing is written.
func OpenRepo(ctx context.Context, store evidence.Store, signer *evidence.Signer) (*Repo, error) {
	return OpenRepoWith(ctx, store, signer, nil)
}

// OpenRepoWith opens the repository with a backup key (nil for none). A
// repository is encrypted from its first backup or never: a key given for
// a repository made without one, none given for an encrypted one, or
// another key than its own is an error that says so.
func OpenRepoWith(ctx context.Context, store evidence.Store, signer *evidence.Signer, key []byte) (*Repo, error) {
	r := &Repo{store: store, signer: signer, idx: newChunkIndex()}
	if key != nil {
		s, err := newSealer(key)
		if err != nil {
			return nil, err
		}
		r.seal = s
	}
	cfg, err := readConfig(ctx, store)
	if errors.Is(err, evidence.ErrNotFound) {
		// No configuration: a store with no backups yet, or one that lost
		// it. A new one over old data would start a second repository
		// there: another chunker, and no encryption where there was.
		if lost, lerr := configLost(ctx, store); lerr != nil {
			return nil, lerr
		} else if lost != "" {
			return nil, fmt.Errorf("the backups' configuration %s is missing from %s, but it holds backup data (%s): put config.json back from a copy of the store (it names the chunker and whether the backups are encrypted, with the key's ID); nothing was written", configKey, store, lost)
		}
	}
	if errors.Is(err, evidence.ErrNotFound) && signer == nil {
		return r, nil
	}
	if errors.Is(err, evidence.ErrNotFound) {
		pol, perr := chunker.RandomPolynomial()
		if perr != nil {
			return nil, perr
		}
		made := repoConfig{Version: 2, Polynomial: pol}
		if r.seal != nil {
			made.Encryption = &encConfig{Algorithm: sealAlgorithm, KeyID: r.seal.id}
		}
		b, _ := json.Marshal(made)
		_, err = store.Put(ctx, configKey, bytes.NewReader(b), nil)
		if errors.Is(err, evidence.ErrExists) { // another backup made it first
			cfg, err = readConfig(ctx, store)
		} else if err == nil {
			cfg = made
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backup configuration in %s: %w", store, err)
	}
	switch e := cfg.Encryption; {
	case e != nil && r.seal == nil:
		return nil, fmt.Errorf("the backups in %s are encrypted (key %s): give the key file with --backup-key (or $FIREBREAK_BACKUP_KEY)", store, e.KeyID)
	case e == nil && r.seal != nil:
		return nil, fmt.Errorf("the backups in %s are not encrypted: a repository is encrypted from its first backup or never; use a new store for encrypted backups, or drop --backup-key", store)
	case e != nil && e.Algorithm != sealAlgorithm:
		return nil, fmt.Errorf("the backups in %s are encrypted with %q, which this Firebreak does not know", store, e.Algorithm)
	case e != nil && e.KeyID != r.seal.id:
		return nil, fmt.Errorf("the backups in %s are encrypted with key %s, not with the key given (%s)", store, e.KeyID, r.seal.id)
	}
	r.pol = cfg.Polynomial
	return r, nil
}

// configLost names the backup data a store holds without its
// configuration ("" when it holds none: a store's first backup).
func configLost(ctx context.Context, store evidence.Store) (string, error) {
	for _, prefix := range []string{backupsPrefix, indexPrefix, packsPrefix, chunksPrefix} {
		objs, err := store.List(ctx, prefix)
		if err != nil {
			return "", fmt.Errorf("backup configuration in %s: %w", store, err)
		}
		for _, o := range objs {
			if o.Key != configKey {
				return o.Key, nil
			}
		}
	}
	return "", nil
}

func readConfig(ctx context.Context, store evidence.Store) (repoConfig, error) {
	var cfg repoConfig
	rc, err := store.Get(ctx, configKey)
	if err != nil {
		return cfg, err
	}
	defer rc.Close()
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%s is damaged: %w", configKey, err)
	}
	if !cfg.Polynomial.Irreducible() {
		return cfg, fmt.Errorf("%s names a polynomial the chunker cannot use", configKey)
	}
	return cfg, nil
}

// lockTTL is how long a repository lock counts after it was last written:
// a holder writes it again every lockRenew, so a process that died
// holding one stops blocking the others after it.
const lockTTL = time.Hour

const locksPrefix = "locks/"

type repoLock struct {
	Kind string    `json:"kind"` // backup or prune
	Host string    `json:"host"`
	PID  int       `json:"pid"`
	Time time.Time `json:"time"`
}

// lockRenew is how often a held lock is written again with a fresh time,
// so that a backup that runs longer than lockTTL still holds the
// repository (a prune would otherwise remove the packs it has written and
// not yet indexed).
var lockRenew = lockTTL / 4

// lock writes a lock object of kind and checks the others: a prune refuses
// any other fresh lock, a backup refuses a fresh prune. When two start at
// once both see each other and both refuse: nothing is lost. While held,
// the lock is written again every lockRenew under a new key (the old one
// removed; one a store retains ages out), so a lock not renewed for
// lockTTL is one whose process died; one of this host whose process is
// gone is stale at once.
func (r *Repo) lock(ctx context.Context, kind string) (func(), error) {
	host, _ := os.Hostname()
	put := func(at time.Time) (string, error) {
		l := repoLock{Kind: kind, Host: host, PID: os.Getpid(), Time: at.UTC()}
		b, _ := json.Marshal(l)
		key := fmt.Sprintf("%s%s-%s-%d-%d", locksPrefix, kind, host, l.PID, l.Time.UnixNano())
		_, err := r.store.Put(context.WithoutCancel(ctx), key, bytes.NewReader(b), nil)
		return key, err
	}
	drop := func(key string) {
		if del, ok := r.store.(evidence.Deleter); ok {
			_ = del.Delete(context.WithoutCancel(ctx), key) // a retained lock ages out
		}
	}
	key, err := put(time.Now())
	if err != nil {
		return nil, fmt.Errorf("taking the repository's %s lock: %w", kind, err)
	}
	objs, err := r.store.List(ctx, locksPrefix)
	if err != nil {
		drop(key)
		return nil, err
	}
	for _, o := range objs {
		if o.Key == key {
			continue
		}
		raw, err := readAll(ctx, r.store, o.Key, 4096)
		var other repoLock
		if err != nil || json.Unmarshal(raw, &other) != nil {
			continue
		}
		if time.Since(other.Time) > lockTTL {
			continue // not renewed for lockTTL: its process died
		}
		if other.Host == host && other.PID > 0 && syscall.Kill(other.PID, 0) == syscall.ESRCH {
			drop(o.Key) // taken on this host by a process that is gone
			continue
		}
		if kind == "prune" || other.Kind == "prune" {
			drop(key)
			return nil, fmt.Errorf("the repository is locked for a %s by %s (pid %d) since %s: wait for it to end; a lock not renewed for %s, or of a process gone from the host that took it, no longer counts (%s)",
				other.Kind, other.Host, other.PID, other.Time.Format(time.RFC3339), lockTTL, o.Key)
		}
	}
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lockRenew)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				next, err := put(now)
				if err != nil {
					continue // the one before still counts until it ages
				}
				mu.Lock()
				prev := key
				key = next
				mu.Unlock()
				drop(prev)
			}
		}
	}()
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			close(stop)
			<-done
			mu.Lock()
			defer mu.Unlock()
			drop(key)
		})
	}
	return unlock, nil
}
