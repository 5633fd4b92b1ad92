// Package storetest is the conformance suite every evidence.Store passes, and
// the harness that gives tests a bucket on the real MinIO server that
// scripts/testenv.sh starts.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"firebreak/evidence"
	"firebreak/internal/testenv"
)

// Suite runs the conformance suite. newStore returns a fresh, empty store.
func Suite(t *testing.T, newStore func(t *testing.T) evidence.Store) {
	ctx := context.Background()

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		data := []byte("line one\nline two\x00\xff raw bytes\n")
		obj, err := s.Put(ctx, "cases/c1/a.txt", bytes.NewReader(data), map[string]string{"collector": "test"})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if obj.Size != int64(len(data)) || obj.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Put = size %d sha %s, want %d %x", obj.Size, obj.SHA256, len(data), sum)
		}
		got := Read(t, s, "cases/c1/a.txt")
		if !bytes.Equal(got, data) {
			t.Errorf("Get = %q, want %q", got, data)
		}
		st, err := s.Stat(ctx, "cases/c1/a.txt")
		if err != nil || st.Size != int64(len(data)) {
			t.Errorf("Stat = %+v, %v", st, err)
		}
	})

	t.Run("EmptyObject", func(t *testing.T) {
		s := newStore(t)
		obj, err := s.Put(ctx, "empty", strings.NewReader(""), nil)
		empty := sha256.Sum256(nil)
		if err != nil || obj.Size != 0 || obj.SHA256 != hex.EncodeToString(empty[:]) {
			t.Fatalf("Put(empty) = %+v, %v", obj, err)
		}
		if got := Read(t, s, "empty"); len(got) != 0 {
			t.Errorf("Get(empty) = %q", got)
		}
	})

	t.Run("PutRefusesOverwrite", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Put(ctx, "k", strings.NewReader("first"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "k", strings.NewReader("second"), nil); !errors.Is(err, evidence.ErrExists) {
			t.Fatalf("second Put = %v, want ErrExists", err)
		}
		if got := Read(t, s, "k"); string(got) != "first" {
			t.Errorf("object changed to %q", got)
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Stat(ctx, "nope/x"); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("Stat(missing) = %v", err)
		}
		if _, err := s.Get(ctx, "nope/x"); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("Get(missing) = %v", err)
		}
	})

	t.Run("BadKeysRefused", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"", "/abs", "a/../b", "a//b", "a/./b", "dir/", "a\x00b", `a\b`} {
			if _, err := s.Put(ctx, k, strings.NewReader("x"), nil); err == nil {
				t.Errorf("Put(%q) accepted", k)
			}
		}
	})

	t.Run("ListByPrefixSorted", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"cases/b/2", "cases/a/1", "cases/a/3", "other/x"} {
			if _, err := s.Put(ctx, k, strings.NewReader(k), nil); err != nil {
				t.Fatal(err)
			}
		}
		list, err := s.List(ctx, "cases/a/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range list {
			keys = append(keys, o.Key)
		}
		if strings.Join(keys, ",") != "cases/a/1,cases/a/3" {
			t.Errorf("List(cases/a/) = %v", keys)
		}
		all, _ := s.List(ctx, "")
		if len(all) != 4 {
			t.Errorf("List(\"\") = %d objects, want 4", len(all))
		}
	})

	t.Run("LargeStream", func(t *testing.T) {
		s := newStore(t)
		const size = 40<<20 + 12345 // several parts
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(rand.Reader, size), h)
		obj, err := s.Put(ctx, "big", src, nil)
		if err != nil {
			t.Fatal(err)
		}
		if obj.Size != size || obj.SHA256 != hex.EncodeToString(h.Sum(nil)) {
			t.Errorf("Put(big) = %d %s", obj.Size, obj.SHA256)
		}
		rc, err := s.Get(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		h2 := sha256.New()
		n, _ := io.Copy(h2, rc)
		if n != size || hex.EncodeToString(h2.Sum(nil)) != obj.SHA256 {
			t.Errorf("read back %d bytes with another digest", n)
		}
	})

	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		s := newStore(t)
		r := io.MultiReader(strings.NewReader(strings.Repeat("x", 1<<20)), failingReader{})
		if _, err := s.Put(ctx, "half", r, nil); err == nil {
			t.Fatal("Put of a failing stream succeeded")
		}
		if _, err := s.Stat(ctx, "half"); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("after a failed Put, Stat = %v, want not found", err)
		}
		list, _ := s.List(ctx, "")
		if len(list) != 0 {
			t.Errorf("a failed Put left %v", list)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("source failed midway") }

// Read returns a stored object's bytes, failing the test if it cannot.
func Read(t testing.TB, s evidence.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Corrupt flips one byte of a stored object behind the store's back (the
// object is written again through the S3 client), as an attacker with the
// bucket's credentials and no object lock could.
func Corrupt(t testing.TB, s *evidence.S3Store, key string) {
	t.Helper()
	b := Read(t, s, key)
	if len(b) == 0 {
		t.Fatalf("%s is empty: nothing to corrupt", key)
	}
	b[len(b)/2] ^= 0x01
	cfg := s.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().PutObject(ctx, cfg.Bucket, cfg.Prefix+key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("corrupting %s: %v", key, err)
	}
}

// MinIO returns an S3 store on a fresh bucket of the test MinIO server,
// removed with its objects when the test ends. With lock, the bucket has
// object lock enabled.
func MinIO(t testing.TB, lock bool, opts evidence.StoreOptions) *evidence.S3Store {
	t.Helper()
	endpoint := os.Getenv("FIREBREAK_TEST_MINIO_ENDPOINT")
	if endpoint == "" {
		testenv.SkipOrFail(t, "no MinIO: FIREBREAK_TEST_MINIO_ENDPOINT is not set")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	bucket := "fbt-" + hex.EncodeToString(b)
	s, err := evidence.NewS3Store(evidence.S3Config{
		Endpoint: endpoint, Bucket: bucket, Prefix: "evidence/", Insecure: true,
		AccessKey: os.Getenv("FIREBREAK_TEST_MINIO_ACCESS_KEY"), SecretKey: os.Getenv("FIREBREAK_TEST_MINIO_SECRET_KEY"),
		Retain: opts.Retain, LockMode: opts.LockMode,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: lock}); err != nil {
		t.Fatalf("making bucket %s on %s: %v", bucket, endpoint, err)
	}
	t.Cleanup(func() { RemoveBucket(t, s.Client(), bucket) })
	return s
}

// RemoveBucket deletes every version in a bucket (bypassing governance
// retention) and the bucket.
func RemoveBucket(t testing.TB, c *minio.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			break
		}
		_ = c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true})
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		t.Logf("removing bucket %s: %v", bucket, err)
	}
}

// Server is a private MinIO server a test starts, stops and starts again on
// the same port and data, for store fault tests.
type Server struct {
	t        testing.TB
	bin, dir string
	args     []string
	Addr     string
	cmd      *exec.Cmd
}

// StartMinIO starts a private MinIO server on a free loopback port, stopped
// when the test ends. args are more server flags (e.g. --no-compat).
func StartMinIO(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := os.Getenv("FIREBREAK_TEST_MINIO_BIN")
	if bin == "" {
		testenv.SkipOrFail(t, "no MinIO binary: FIREBREAK_TEST_MINIO_BIN is not set")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: args, Addr: addr}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start runs the server and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, append([]string{"server", "--quiet", "--address", s.Addr, "--console-address", "127.0.0.1:0", s.dir}, s.args...)...)
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+accessKey, "MINIO_ROOT_PASSWORD="+secretKey)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	// Ready, not live: a live server answers "Server not initialized yet"
	// to requests for a moment after it starts.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Addr + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("MinIO on %s did not start", s.Addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Pid is the running server's process ID.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

const (
	accessKey = "firebreak-test"
	secretKey = "firebreak-test-secret"
)

// Store returns a store on a new bucket of this server.
func (s *Server) Store(t testing.TB, bucket string, lock bool) *evidence.S3Store {
	t.Helper()
	st, err := evidence.NewS3Store(evidence.S3Config{Endpoint: s.Addr, Bucket: bucket, Prefix: "ev/", Insecure: true, AccessKey: accessKey, SecretKey: secretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: lock}); err != nil {
		t.Fatal(err)
	}
	return st
}

// URL is the s3:// store URL of a bucket of this server; credentials go in
// the environment (see Env).
func (s *Server) URL(bucket string) string {
	return "s3://" + bucket + "/ev/?endpoint=" + s.Addr + "&insecure=true"
}

// Env is the environment that gives the CLI this server's credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey}
}
