package evidence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"firebreak/evidence"
)

// flaky is a remote store that fails once it has read failAfter bytes of an
// upload, until healed; it keeps what it stores in a local directory. It
// stands in for the network, not for an engine: the spool's own logic is
// under test.
type flaky struct {
	*evidence.FileStore
	failAfter int64
	healed    bool
}

func (f *flaky) Put(ctx context.Context, key string, r io.Reader, meta map[string]string) (evidence.Object, error) {
	if !f.healed {
		_, _ = io.CopyN(io.Discard, r, f.failAfter)
		return evidence.Object{}, errors.New("connection reset by peer")
	}
	return f.FileStore.Put(ctx, key, r, meta)
}

func (f *flaky) String() string { return "flaky://test" }

func TestSpoolKeepsWholeObjectWhenRemoteFailsMidway(t *testing.T) {
	ctx := context.Background()
	remoteDir, _ := evidence.NewFileStore(t.TempDir())
	remote := &flaky{FileStore: remoteDir, failAfter: 3 << 20}
	sp, err := evidence.NewSpool(remote, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)

	obj, err := sp.Put(ctx, "cases/c/big", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("Put with the remote failing midway: %v (the spool should have taken it)", err)
	}
	if obj.SHA256 != hex.EncodeToString(sum[:]) || obj.Size != int64(len(data)) {
		t.Fatalf("spooled %d bytes with another digest: the prefix the remote read was lost", obj.Size)
	}
	if sp.Pending() != 1 || sp.Down() == nil {
		t.Errorf("pending %d, down %v", sp.Pending(), sp.Down())
	}

	// PutOnce keeps no copy on the way: the caller captures again.
	sp2, _ := evidence.NewSpool(&flaky{FileStore: remoteDir, failAfter: 1 << 20}, t.TempDir())
	if _, err := sp2.PutOnce(ctx, "cases/c/layer", bytes.NewReader(data), nil); !errors.Is(err, evidence.ErrRetryLocally) {
		t.Fatalf("PutOnce = %v, want ErrRetryLocally", err)
	}
	if _, err := sp2.Stat(ctx, "cases/c/layer"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("a failed PutOnce left something: %v", err)
	}
	if _, err := sp2.PutOnce(ctx, "cases/c/layer", bytes.NewReader(data), nil); err != nil || sp2.Pending() != 1 {
		t.Fatalf("PutOnce after the remote went down = %v, pending %d; want it spooled", err, sp2.Pending())
	}

	// Healed: sync uploads, checks, and empties the spool.
	remote.healed = true
	res, err := sp.Sync(ctx)
	if err != nil || len(res) != 1 || res[0].Status != "uploaded" {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	rc, err := remote.FileStore.Get(ctx, "cases/c/big")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Error("the remote copy differs")
	}
	left, _ := sp.List(ctx, "")
	for _, o := range left {
		if o.Key == "cases/c/big" {
			if _, err := remoteDir.Stat(ctx, o.Key); err != nil {
				t.Errorf("listed %s that the remote lacks", o.Key)
			}
		}
	}
}
