package evidence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
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

// A multipart upload counts as stored on the server's own full-object CRC32C
// of what it received, without reading the object back; the checksum the
// server keeps is the CRC32C of the bytes sent.
func TestS3PutConfirmedByServerChecksum(t *testing.T) {
	s := storetest.MinIO(t, false, evidence.StoreOptions{})
	data := make([]byte, 2*evidence.DefaultPartSize+12345) // three parts
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obj, err := s.Put(ctx, "case/big.bin", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.ReadBacks(); n != 0 {
		t.Errorf("put read the object back %d times; the server's checksum should have confirmed it", n)
	}
	sum := sha256.Sum256(data)
	if obj.Size != int64(len(data)) || obj.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("put returned size %d sha256 %s, want %d %x", obj.Size, obj.SHA256, len(data), sum)
	}
	info, err := s.Client().StatObject(ctx, s.Config().Bucket, s.Config().Prefix+"case/big.bin", minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc))
	if info.ChecksumCRC32C != want || info.ChecksumMode != "FULL_OBJECT" {
		t.Errorf("server keeps CRC32C %q (%s), want full-object %q", info.ChecksumCRC32C, info.ChecksumMode, want)
	}
}
