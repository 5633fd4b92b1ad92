package evidence_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
)

// TestDeleteOnlyBackupObjects: Delete removes the backup repository's
// objects and refuses every other key (evidence is never deleted), on both
// stores; under Object Lock retention it is refused as ErrRetained and the
// object stays.
func TestDeleteOnlyBackupObjects(t *testing.T) {
	ctx := context.Background()
	fs, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]evidence.Store{"file": fs, "s3": storetest.MinIO(t, false, evidence.StoreOptions{})} {
		t.Run(name, func(t *testing.T) {
			del := st.(evidence.Deleter)
			for _, k := range []string{"cases/IR-1/a", "backups/x/manifest.json", "packs/ab/abcd"} {
				if _, err := st.Put(ctx, k, strings.NewReader("x"), nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := del.Delete(ctx, "cases/IR-1/a"); err == nil || !strings.Contains(err.Error(), "evidence is written once") {
				t.Errorf("Delete of evidence = %v", err)
			}
			if _, err := st.Stat(ctx, "cases/IR-1/a"); err != nil {
				t.Errorf("the evidence object is gone: %v", err)
			}
			for _, k := range []string{"backups/x/manifest.json", "packs/ab/abcd", "packs/ab/never-there"} {
				if err := del.Delete(ctx, k); err != nil {
					t.Errorf("Delete %s: %v", k, err)
				}
				if _, err := st.Stat(ctx, k); !errors.Is(err, evidence.ErrNotFound) {
					t.Errorf("%s after Delete: %v", k, err)
				}
			}
		})
	}
	t.Run("retained", func(t *testing.T) {
		st := storetest.MinIO(t, true, evidence.StoreOptions{Retain: time.Hour, LockMode: "governance"})
		if _, err := st.Put(ctx, "packs/cd/cdef", strings.NewReader("kept"), nil); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, "packs/cd/cdef"); !errors.Is(err, evidence.ErrRetained) {
			t.Errorf("Delete under retention = %v, want ErrRetained", err)
		}
		if _, err := st.Stat(ctx, "packs/cd/cdef"); err != nil {
			t.Errorf("the retained object is gone: %v", err)
		}
	})
}
