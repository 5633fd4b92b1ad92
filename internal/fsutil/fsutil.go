// Package fsutil holds the small file-system helpers that the state
// directory and the local evidence store share.
package fsutil

import (
	"fmt"
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
