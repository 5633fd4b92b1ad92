// Package netns runs a function on a thread that has joined another network
// namespace, from the host side: only the network namespace is entered,
// nothing runs in the container, and the thread returns to its own namespace
// (or is discarded) afterwards.
package netns

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Error says entering or leaving the namespace failed (as opposed to fn).
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Do runs fn on a thread that has joined the network namespace at path.
// Sockets fn creates belong to that namespace and keep it after fn returns.
// A thread that cannot return is left locked, so the Go runtime discards it.
func Do(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return &Error{fmt.Errorf("opening network namespace %s: %w", path, err)}
	}
	defer target.Close()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return &Error{fmt.Errorf("opening own network namespace: %w", err)}
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return &Error{fmt.Errorf("entering network namespace %s: %w", path, err)}
	}
	ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return &Error{fmt.Errorf("leaving network namespace %s: %w", path, err)}
	}
	runtime.UnlockOSThread()
	return ferr
}

// Inode returns the inode of a namespace file; two paths name the same
// namespace when their inodes match.
func Inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}
