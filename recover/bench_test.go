package recover

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/internal/testenv"
	fbruntime "firebreak/runtime"
)

// BenchmarkVolumeMinIO backs up a directory into a fresh bucket of the
// test MinIO, verifies the snapshot and restores it into an empty
// directory, timing each part and reporting the peak memory of each
// (VmHWM, reset before each part). The directory is FIREBREAK_BENCH_DIR
// (scripts/bench-backup.sh passes its volume's), else a generated one of
// 2,000 small files and two 64 MiB random files.
//
//	go test -run '^$' -bench VolumeMinIO -benchtime 1x ./recover/
func BenchmarkVolumeMinIO(b *testing.B) {
	src := os.Getenv("FIREBREAK_BENCH_DIR")
	if src == "" {
		src = b.TempDir()
		benchFill(b, src, 2000, 2, 64<<20)
	}
	ctx := context.Background()
	for b.Loop() {
		st := storetest.MinIO(b, false, evidence.StoreOptions{})
		sg, _, err := evidence.LoadOrCreateSigner(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		r, err := OpenRepo(ctx, st, sg)
		if err != nil {
			b.Fatal(err)
		}
		s := &Snapshot{ID: newID(time.Now()), Time: time.Now().UTC(), Config: []byte("null")}
		part := func(name string, fn func() error) {
			debug.FreeOSMemory() // what the part before left is not counted
			testenv.ResetPeakRSS(b)
			start := time.Now()
			if err := fn(); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			b.ReportMetric(time.Since(start).Seconds(), name+"-s")
			b.ReportMetric(testenv.PeakRSSMiB(b), name+"-peak-MiB")
		}
		part("backup", func() error {
			v, err := r.backupVolume(ctx, fbruntime.Mount{Type: "volume", Name: "bench", Source: src, Destination: "/data"}, nil, &s.Totals)
			s.Volumes = append(s.Volumes, v)
			if err == nil {
				err = r.Commit(ctx, s)
			}
			return err
		})
		b.ReportMetric(float64(s.Totals.Bytes)/(1<<20), "MiB")
		// Each part with a repository opened anew, as a command would.
		part("verify", func() error {
			r2, err := OpenRepo(ctx, st, nil)
			if err == nil {
				_, _, err = r2.Verify(ctx, s.ID, sg.Pub)
			}
			return err
		})
		dst := b.TempDir()
		part("restore", func() error {
			r2, err := OpenRepo(ctx, st, nil)
			if err != nil {
				return err
			}
			full, _, err := r2.Load(ctx, s.ID, sg.Pub)
			if err == nil {
				err = r2.LoadFiles(ctx, full)
			}
			if err == nil {
				err = r2.RestoreVolume(ctx, full, "bench", dst, DefaultRestoreLimits())
			}
			return err
		})
		_ = os.RemoveAll(dst)
	}
}

// benchFill writes small text files and large random ones.
func benchFill(b *testing.B, dir string, small, large, size int) {
	for i := range small {
		d := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i%100))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		line := fmt.Sprintf("line %d of a small file\n", i)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.txt", i)), []byte(strings.Repeat(line, 1+i*37%400)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, size)
	for i := range large {
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("large%d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
