package evidence_test

import (
	"testing"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
)

func TestFileStoreConformance(t *testing.T) {
	storetest.Suite(t, func(t *testing.T) evidence.Store {
		s, err := evidence.NewFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestS3StoreConformance(t *testing.T) {
	storetest.Suite(t, func(t *testing.T) evidence.Store {
		return storetest.MinIO(t, false, evidence.StoreOptions{})
	})
}
