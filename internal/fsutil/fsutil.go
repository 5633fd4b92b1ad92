// Package fsutil holds the small file-system helpers that the state
// directory, the local evidence store, the capture and the backups share.
package fsutil

import (
	"fmt"
	"io/fs"
	"os"
)

// SyncDir flushes a directory's entries (a rename or link into it) to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// SpecialBits are the setuid, setgid and sticky bits of a mode, as the
// octal 07000 a tar header or a chmod takes.
func SpecialBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}
