package collect

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"firebreak/internal/progress"
)

func countDir(t *testing.T, dir string, limits Limits, limit int) progress.Count {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	return countTree(context.Background(), root, limits, limit)
}

// TestCountTreeIsBounded: past its bound of entries the pre-count gives
// up and says nothing is known, rather than walk a huge tree first.
func TestCountTreeIsBounded(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("1234"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := countDir(t, dir, Limits{MaxFile: 3}, 10); got != (progress.Count{FilesTotal: 3, BytesTotal: 9}) {
		t.Errorf("count within the bound (files capped at 3 bytes) = %+v", got)
	}
	if got := countDir(t, dir, Limits{}, 2); got != (progress.Count{}) {
		t.Errorf("count past the bound = %+v, want nothing known", got)
	}
}
