package collect

import (
	"errors"
	"fmt"
	"io"
	"os"

	"firebreak/evidence"
	"firebreak/runtime"
)

// volumes captures the content of each named volume attached to the
// container, read from the host side like the fs diff (every open confined
// to the volume, no link followed, capped and hashed per file):
// volumes/NAME/files.tar.zst and volumes/NAME/files.json. Bind mounts are
// the host's directories and are not taken.
func (c *collection) volumes() error {
	seen := map[string]bool{}
	n := 0
	for _, m := range c.d.Security.Mounts {
		if m.Type != "volume" || m.Name == "" || seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		n++
		if err := evidence.CheckKey(m.Name); err != nil {
			c.incomplete(WhatVolumes, fmt.Sprintf("volume %q: a name that cannot be a key: %v", m.Name, err))
			continue
		}
		if err := c.volume(m); err != nil {
			return err
		}
	}
	if n == 0 {
		return &incomplete{"no named volume is attached (bind mounts are the host's directories: not taken)"}
	}
	return nil
}

func (c *collection) volume(m runtime.Mount) error {
	files, err := os.CreateTemp("", "firebreak-volume-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(files.Name())
	defer files.Close()
	prefix := "volumes/" + m.Name + "/"
	tree := runtime.Layer{Upper: m.Source}
	stats, err := c.captureTreeOnce(tree, true, prefix+"files.tar.zst", WhatVolumes, files)
	if errors.Is(err, evidence.ErrRetryLocally) {
		c.run.Log("collect", c.d.ID, "volume "+m.Name+": remote store failed during the upload; capturing again into the local spool")
		if _, serr := files.Seek(0, io.SeekStart); serr != nil {
			return serr
		}
		if serr := files.Truncate(0); serr != nil {
			return serr
		}
		stats, err = c.captureTreeOnce(tree, true, prefix+"files.tar.zst", WhatVolumes, files)
	}
	if err != nil {
		return fmt.Errorf("volume %s (%s): %w", m.Name, m.Source, err)
	}
	if stats.Truncated > 0 {
		c.incomplete(WhatVolumes, fmt.Sprintf("volume %s: %d files capped (see \"truncated\" in files.json)", m.Name, stats.Truncated))
	}
	if _, err := files.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return c.put(prefix+"files.json", WhatVolumes, files)
}
