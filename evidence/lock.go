package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"firebreak/internal/flock"
)

// RunOptions tune OpenRunWith. The zero value is what OpenRun uses.
type RunOptions struct {
	// Host names this host in the run's manifest and chooses the custody
	// chain the run extends: each host's runs of a case chain on their
	// own. "" is os.Hostname().
	Host string
	// LockDir is the host-local directory of case locks. "" takes the
	// store's own (LockDirer: a local store's directory, the spool's) or,
	// for a store with neither, one under os.TempDir() per store.
	LockDir string
	// Waiting, when set, is called once if another run of the case on this
	// host holds the lock, with that run's holder line, before OpenRun
	// waits for it to finish.
	Waiting func(holder string)
}

// LockDirer is implemented by stores that keep a host-local directory for
// the locks of their cases.
type LockDirer interface {
	// LockDir is the directory; it is made on first use.
	LockDir() string
}

// lockDirName is the directory of case locks inside a local store; List
// leaves it out and no key may name it.
const lockDirName = ".locks"

// LockDir is where this store's case locks live.
func (s *FileStore) LockDir() string { return filepath.Join(s.dir, lockDirName) }

// LockDir is where the case locks of this spool's remote live on this host:
// every writer to the remote through this spool directory takes them.
func (s *Spool) LockDir() string { return filepath.Join(s.dir, "locks") }

var (
	_ LockDirer = (*FileStore)(nil)
	_ LockDirer = (*Spool)(nil)
)

func thisHost() string {
	h, _ := os.Hostname()
	return h
}

func caseLockDir(s Store, o RunOptions) string {
	if o.LockDir != "" {
		return o.LockDir
	}
	if l, ok := s.(LockDirer); ok {
		return l.LockDir()
	}
	sum := sha256.Sum256([]byte(s.String()))
	return filepath.Join(os.TempDir(), "firebreak-"+strconv.Itoa(os.Getuid())+"-locks", hex.EncodeToString(sum[:8]))
}

// lockCase takes the case's lock on this host, waiting while another run of
// the case holds it (in this process or another), until ctx ends. The lock
// dies with the process, so a run killed midway blocks no one.
func lockCase(ctx context.Context, dir, caseID, holder string, waiting func(string)) (*flock.Lock, error) {
	path := filepath.Join(dir, caseID+".lock")
	delay := 2 * time.Millisecond
	told := false
	for {
		l, err := flock.TryLock(path, holder)
		var held *flock.HeldError
		if !errors.As(err, &held) {
			if err != nil {
				return nil, fmt.Errorf("locking case %s on this host: %w (hint: the lock directory %s must be writable)", caseID, err, dir)
			}
			return l, nil
		}
		if !told && waiting != nil {
			waiting(held.Holder)
		}
		told = true
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for case %s (%v): %w", caseID, held, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
