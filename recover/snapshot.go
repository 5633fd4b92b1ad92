package recover

import (
	"encoding/json"
	"time"

	"firebreak/runtime"
)

// Store layout beside the cases.
const (
	backupsPrefix = "backups/"
	chunksPrefix  = "chunks/"
	configKey     = "backups/config.json" // the chunker's polynomial, made on first use
)

// Snapshot is one backup of one container.
type Snapshot struct {
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"`
	Container runtime.Container `json:"container"`
	Runtime   string            `json:"runtime"`
	Host      string            `json:"host,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Tool      string            `json:"tool,omitempty"`
	Image     string            `json:"image,omitempty"`
	// Live says the container ran on while it was read (running, and no
	// --pause): the files are as each was read, not one instant's. One
	// found paused or stopped is not live.
	Live     bool              `json:"live"`
	FreezeMS int64             `json:"freeze_ms,omitempty"` // with --pause: how long it was frozen
	Config   json.RawMessage   `json:"config"`              // the engine's inspect document, as it sent it
	Volumes  []Volume          `json:"volumes"`
	Totals   Totals            `json:"totals"`
	Labels   map[string]string `json:"labels,omitempty"`
	Hooks    []HookRun         `json:"hooks,omitempty"` // the commands run in the container around the read, in order

	unlock func() // the repository's backup lock, taken by Backup, let go by Commit
}

// Totals count what a backup read and what it had to store.
type Totals struct {
	Files        int   `json:"files"`
	Bytes        int64 `json:"bytes"`
	Chunks       int   `json:"chunks"`
	NewChunks    int   `json:"new_chunks"`
	Unchanged    int   `json:"unchanged_files"` // taken from the last snapshot without reading (same size and mtime)
	StoredBytes  int64 `json:"stored_bytes"`    // compressed bytes of the new chunks
	ManifestSize int64 `json:"manifest_bytes,omitempty"`
}

// Volume is one volume (or bind mount, when asked) of the container.
type Volume struct {
	Name        string `json:"name"` // the engine's volume name; the source for a bind
	Type        string `json:"type"` // volume or bind
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Files is the volume's file list. It is stored apart, as chunks like
	// the data (List names them), so an unchanged volume's list is not
	// stored again and the signed manifest stays small.
	Files []Entry  `json:"-"`
	List  *ListRef `json:"list,omitempty"`
	// Changed counts the entries left out because they were removed or
	// replaced between the listing and the reading (a live volume's
	// churn); Notes names the first of them.
	Changed int      `json:"changed,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// ListRef names a stored file list: its entries' count, the digest of its
// JSON, and the chunks that hold that JSON, in order.
type ListRef struct {
	Entries int      `json:"entries"`
	SHA256  string   `json:"sha256"`
	Chunks  []string `json:"chunks"`
}

// Entry is one file of a volume, relative to its root.
type Entry struct {
	Path    string            `json:"path"`               // slash-separated, relative; the raw bytes when not UTF-8 are in PathB64
	PathB64 string            `json:"path_b64,omitempty"` // base64 of the path's bytes when it is not valid UTF-8
	Type    string            `json:"type"`               // file, dir, symlink, hardlink, fifo, socket, char, block
	Mode    uint32            `json:"mode"`               // permission bits with setuid, setgid, sticky
	UID     int               `json:"uid"`
	GID     int               `json:"gid"`
	Size    int64             `json:"size,omitempty"`
	MTime   time.Time         `json:"mtime"`
	Link    string            `json:"link,omitempty"`   // symlink target; for a hardlink, the path it shares its data with
	Rdev    uint64            `json:"rdev,omitempty"`   // device number of a char or block device
	Xattrs  map[string][]byte `json:"xattrs,omitempty"` // name -> value
	SHA256  string            `json:"sha256,omitempty"` // of the whole content (files)
	Chunks  []string          `json:"chunks,omitempty"` // sha256 of each chunk's plain bytes, in order
}

func chunkKey(sum string) string { return chunksPrefix + sum[:2] + "/" + sum }

func manifestKey(id string) string { return backupsPrefix + id + "/manifest.json" }
