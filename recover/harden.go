package recover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"firebreak/evidence"
	"firebreak/runtime"
)

// hardener is an engine that can say, before it acts, what a hardening
// changes of an original (Docker's HardeningChanges).
type hardener interface {
	HardeningChanges(orig []byte, h runtime.Hardening) ([]string, error)
}

// TmpfsFor are the tmpfs paths a hardened recreate of the suspect gets:
// where it wrote, from the case's fs diff of it (WrittenDirs); without one,
// /run and /tmp. The second result says where they came from.
func TmpfsFor(ctx context.Context, store evidence.Store, caseID string, suspect *runtime.Details) ([]string, string, error) {
	fallback := []string{"/run", "/tmp"}
	if suspect == nil {
		return fallback, "no suspect to read: /run and /tmp", nil
	}
	var mounts []string
	for _, m := range suspect.Security.Mounts {
		mounts = append(mounts, m.Destination)
	}
	dirs, from, err := WrittenDirs(ctx, store, caseID, suspect.ID, mounts)
	if err != nil {
		return nil, "", err
	}
	if dirs == nil {
		return fallback, from + ": /run and /tmp", nil
	}
	return dirs, from, nil
}

// maxChanges bounds what is read of a changes.json.
const maxChanges = 256 << 20

// WrittenDirs are the directories where a container wrote, from the newest
// fs diff of it in the case (collect's fsdiff/changes.json): for each path
// added or changed (not a directory: the files in it say where), its first directory under / (its first two under /var,
// /usr/local and /home, where services keep their state), those holding a
// mount left out. They become tmpfs under a read-only root, so that the
// service can still write where it wrote. The second result says where the
// list came from; none found is not an error.
func WrittenDirs(ctx context.Context, store evidence.Store, caseID, containerID string, mounts []string) ([]string, string, error) {
	ms, err := evidence.Manifests(ctx, store, caseID)
	if err != nil && !errors.Is(err, evidence.ErrNotFound) {
		return nil, "", err
	}
	key := ""
	for _, m := range ms { // oldest first: the last found is the newest
		for _, a := range m.Artifacts {
			if a.Container == containerID && strings.HasSuffix(a.Key, "/fsdiff/changes.json") {
				key = a.Key
			}
		}
	}
	if key == "" {
		return nil, fmt.Sprintf("case %s holds no fs diff of the container", caseID), nil
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	var changes []struct{ Path, Kind, Type string }
	if err := json.NewDecoder(io.LimitReader(rc, maxChanges)).Decode(&changes); err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", key, err)
	}
	seen := map[string]bool{}
	for _, c := range changes {
		if (c.Kind != "A" && c.Kind != "C") || c.Type == "dir" {
			continue // a directory is written to by what is in it
		}
		if d := writtenDir(c.Path); d != "" && !underAny(d, mounts) {
			seen[d] = true
		}
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	// A directory inside another listed one is covered by it.
	out := dirs[:0]
	for _, d := range dirs {
		if len(out) == 0 || !strings.HasPrefix(d, out[len(out)-1]+"/") {
			out = append(out, d)
		}
	}
	return out, "the fs diff " + key, nil
}

func writtenDir(p string) string {
	p = path.Clean("/" + p)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) < 2 {
		return "" // a file at / itself: nothing to mount
	}
	depth := 1
	if slices.Contains([]string{"var", "home", "usr"}, parts[0]) && len(parts) > 2 {
		depth = 2
		if parts[0] == "usr" && parts[1] != "local" {
			return "" // the image's own programs: not a place a service writes
		}
		if parts[0] == "usr" && len(parts) > 3 {
			depth = 3
		}
	}
	if slices.Contains([]string{"proc", "sys", "dev", "etc", "bin", "sbin", "lib", "lib64"}, parts[0]) {
		return "" // system paths: a tmpfs there would hide the image's files
	}
	return "/" + strings.Join(parts[:depth], "/")
}

func underAny(d string, mounts []string) bool {
	for _, m := range mounts {
		if d == m || strings.HasPrefix(d, m+"/") {
			return true
		}
	}
	return false
}
