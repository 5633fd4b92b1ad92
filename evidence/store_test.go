package evidence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/minio/minio-go/v7"

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

// An upload counts as stored on the server's own full-object CRC32C of what
// it received, without reading the object back, whether it went in one
// request (small) or as a multipart upload; the checksum the server keeps is
// the CRC32C of the bytes sent.
func TestS3PutConfirmedByServerChecksum(t *testing.T) {
	s := storetest.MinIO(t, false, evidence.StoreOptions{})
	ctx := context.Background()
	small := evidence.SmallObject
	for _, size := range []int{1000, small - 1, small, small + 1, 2*evidence.DefaultPartSize + 12345} {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("case/%d.bin", size)
		obj, err := s.Put(ctx, key, bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := s.ReadBacks(); n != 0 {
			t.Errorf("%d bytes: put read the object back (%d so far); the server's checksum should have confirmed it", size, n)
		}
		sum := sha256.Sum256(data)
		if obj.Size != int64(len(data)) || obj.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%d bytes: put returned size %d sha256 %s, want %x", size, obj.Size, obj.SHA256, sum)
		}
		info, err := s.Client().StatObject(ctx, s.Config().Bucket, s.Config().Prefix+key, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
		want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc))
		if info.Size != int64(size) || info.ChecksumCRC32C != want || info.ChecksumMode != "FULL_OBJECT" {
			t.Errorf("%d bytes: server keeps %d bytes, CRC32C %q (%s), want full-object %q", size, info.Size, info.ChecksumCRC32C, info.ChecksumMode, want)
		}
	}
}
