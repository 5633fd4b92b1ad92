package flock

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTryLockHeldNamesHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "locks", "c.lock") // the directory is created
	first, err := TryLock(p, "pid 1 on host-a since 2026-01-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryLock(p, "second")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "pid 1 on host-a since 2026-01-01T00:00:00Z" || held.Path != p {
		t.Fatalf("second TryLock = %v, want HeldError naming the first holder", err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Unlock: %v, want it gone", err)
	}
	again, err := TryLock(p, "third")
	if err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "third\n" {
		t.Errorf("lock file holds %q, want the holder line", b)
	}
	if err := again.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := again.Unlock(); err != nil {
		t.Errorf("second Unlock: %v, want none (idempotent)", err)
	}
}

func TestTryLockStaleFileDoesNotBlock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.lock")
	// Left by a holder that died: the file stays, its lock went with it.
	if err := os.WriteFile(p, []byte("pid 4194000 on gone since 2020-01-01T00:00:00Z, with a long tail\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := TryLock(p, "pid 2 on here")
	if err != nil {
		t.Fatalf("TryLock over a stale file: %v", err)
	}
	defer l.Unlock()
	_, err = TryLock(p, "other")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "pid 2 on here" {
		t.Errorf("TryLock = %v, want HeldError naming the new holder only", err)
	}
}

func TestTryLockHeldWithoutHolderLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.lock")
	l, err := TryLock(p, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, err = TryLock(p, "x")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "" || err.Error() != "lock "+p+" is held by another process" {
		t.Errorf("TryLock = %v", err)
	}
}

// TestTryLockOldFileAfterRemoval is the race Unlock's removal opens: a
// process that opened the lock file just before its holder removed it gets
// the lock on the removed file, and must not count it.
func TestTryLockOldFileAfterRemoval(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.lock")
	a, err := TryLock(p, "a")
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	b, err := TryLock(p, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Unlock()
	if err := flock(old, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock of the removed file: %v", err) // free: nobody holds it
	}
	if same, err := samePath(old, p); err != nil || same {
		t.Errorf("samePath(removed file) = %v %v, want false: it would be a second holder", same, err)
	}
}

// TestUnlockLeavesAnotherHoldersFile: when the lock file was removed by hand
// and taken anew, the old holder's Unlock must not remove the new one's.
func TestUnlockLeavesAnotherHoldersFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.lock")
	a, err := TryLock(p, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	b, err := TryLock(p, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Unlock()
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	_, err = TryLock(p, "c")
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "b" {
		t.Errorf("TryLock after the old holder's Unlock = %v, want HeldError naming b", err)
	}
}

func TestTryLockDirectoryError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(filepath.Join(dir, "file", "c.lock"), "x"); err == nil {
		t.Error("TryLock under a regular file succeeded")
	}
}

// TestTryLockExcludes hammers one path from many holders (each TryLock is
// its own open file, so goroutines compete as processes would): never two
// at once, through every lock-unlock-remove cycle.
func TestTryLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.lock")
	var (
		inside atomic.Int32
		taken  atomic.Int32
		wg     sync.WaitGroup
	)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				l, err := TryLock(p, "g")
				var held *HeldError
				if errors.As(err, &held) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				taken.Add(1)
				time.Sleep(10 * time.Microsecond) // hold it a while, so others open the file meanwhile
				inside.Add(-1)
				if err := l.Unlock(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if taken.Load() == 0 {
		t.Error("nobody ever took the lock")
	}
}
