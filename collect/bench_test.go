package collect_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/internal/testenv"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// benchLayerScript fills the writable layer with about 800 MiB: 10,000 small
// files and four 200 MiB files of random (incompressible) bytes.
const benchLayerScript = `mkdir -p /bench/small
i=0; while [ $i -lt 10000 ]; do echo "small file $i" > /bench/small/f$i; i=$((i+1)); done
for n in 1 2 3 4; do dd if=/dev/urandom of=/bench/big$n bs=1M count=200 2>/dev/null; done
touch /bench/ready
exec sleep 3600`

func benchContainer(b *testing.B) (*runtimetest.DockerHarness, runtime.Details, runtime.Layer) {
	b.Helper()
	h := runtimetest.Docker(b)
	d := h.Run(b, runtimetest.Name(b), runtimetest.Spec{Cmd: []string{"sh", "-c", benchLayerScript}})
	layer, err := h.Docker().WritableLayer(context.Background(), d.ID)
	if err != nil {
		b.Fatal(err)
	}
	runtimetest.Eventually(b, 5*time.Minute, "layer filled", func() bool {
		_, err := os.Stat(layer.Upper + "/bench/ready")
		return err == nil
	})
	// Write the filled layer back to disk now, so that no method is timed
	// while the kernel flushes the setup's dirty pages.
	syscall.Sync()
	return h, d, layer
}

// cpuTime is CPU seconds (user and system) used so far by this process, by
// its children that were waited for, and by the storage server (the MinIO
// on the same cores does much of the work of a capture into it).
type cpuTime struct{ self, children, server float64 }

// readCPU reads the CPU times; serverPid is the storage server's process,
// "" for none.
func readCPU(b *testing.B, serverPid string) cpuTime {
	var c cpuTime
	var ru syscall.Rusage
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	c.self = tv(ru.Utime) + tv(ru.Stime)
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	c.children = tv(ru.Utime) + tv(ru.Stime)
	if serverPid != "" {
		stat, err := os.ReadFile("/proc/" + serverPid + "/stat")
		if err != nil {
			b.Fatalf("storage server's CPU time: %v", err)
		}
		// Fields after the command name: utime and stime are the 12th and
		// 13th, in clock ticks of 1/100 s.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		c.server = (ut + st) / 100
	}
	return c
}

// add accumulates the CPU used between from and now into c.
func (c *cpuTime) add(from, now cpuTime) {
	c.self += now.self - from.self
	c.children += now.children - from.children
	c.server += now.server - from.server
}

// report gives CPU seconds per iteration.
func (c cpuTime) report(b *testing.B) {
	b.ReportMetric(c.self/float64(b.N), "cpu-s/op")
	if c.children > 0 {
		b.ReportMetric(c.children/float64(b.N), "child-cpu-s/op")
	}
	if c.server > 0 {
		b.ReportMetric(c.server/float64(b.N), "server-cpu-s/op")
	}
}

// benchRuns gives a fresh case in store for each iteration, signed with a
// key made for the benchmark, and the options of an fsdiff-only capture.
func benchRuns(b *testing.B, store evidence.Store, prefix string) (func(i int) *evidence.Run, collect.Options) {
	b.Helper()
	sg, _, err := evidence.LoadOrCreateSigner(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	opts := collect.DefaultOptions()
	opts.What = []collect.Collector{collect.WhatFSDiff}
	return func(i int) *evidence.Run {
		run, err := evidence.OpenRun(context.Background(), store, sg, evidence.CaseInfo{ID: fmt.Sprintf("%s-%d", prefix, i), Actor: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		return run
	}, opts
}

// BenchmarkCollectFSDiffMinIO captures the layer into a real MinIO: walk,
// hash, tar, zstd and a verified multipart upload. peak-rss-MiB is the whole
// process's peak resident memory during the capture. It runs twice, each
// time into a MinIO server of its own started for it: one with default
// settings, one with --no-compat, which spares the server an MD5 pass over
// every byte for S3 ETags that Firebreak never uses.
func BenchmarkCollectFSDiffMinIO(b *testing.B) {
	h, d, _ := benchContainer(b)
	for _, server := range []struct{ name, flags string }{{"default", ""}, {"no-compat", "--no-compat"}} {
		b.Run("server="+server.name, func(b *testing.B) {
			srv := storetest.StartMinIO(b, strings.Fields(server.flags)...)
			benchCaptureInto(b, h, d, srv.Store(b, "bench", false), strconv.Itoa(srv.Pid()))
		})
	}
}

func benchCaptureInto(b *testing.B, h *runtimetest.DockerHarness, d runtime.Details, s3 *evidence.S3Store, serverPid string) {
	// As the CLI does it: the S3 store behind the spool that tees every
	// upload, so a failing remote loses nothing.
	store, err := evidence.NewSpool(s3, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	newRun, opts := benchRuns(b, store, "BENCH")
	var peak, base float64
	var bytes int64
	var cpu cpuTime
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		run := newRun(i)
		debug.FreeOSMemory() // the peak measured next is the capture's, not the setup's garbage
		testenv.ResetPeakRSS(b)
		base = testenv.PeakRSSMiB(b)
		from := readCPU(b, serverPid)
		b.StartTimer()
		res, err := collect.Collect(context.Background(), h.Runtime(), run, d.Container, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu.add(from, readCPU(b, serverPid))
		peak = max(peak, testenv.PeakRSSMiB(b))
		bytes = res.FS.Bytes
		b.StartTimer()
	}
	cpu.report(b)
	b.ReportMetric(peak, "peak-rss-MiB")
	b.ReportMetric(base, "start-rss-MiB")
	b.ReportMetric(float64(bytes)/(1<<20), "captured-MiB")
}

// BenchmarkCollectFSDiffLocal is the same capture into the default local
// store (a directory; the file is synced before it counts as stored): the
// like-for-like comparison with tar | zstd to a file.
func BenchmarkCollectFSDiffLocal(b *testing.B) {
	h, d, _ := benchContainer(b)
	store, err := evidence.NewFileStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	newRun, opts := benchRuns(b, store, "LOCAL")
	var cpu cpuTime
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		run := newRun(i)
		from := readCPU(b, "")
		b.StartTimer()
		if _, err := collect.Collect(context.Background(), h.Runtime(), run, d.Container, opts); err != nil {
			b.Fatal(err)
		}
		cpu.add(from, readCPU(b, ""))
	}
	cpu.report(b)
}

// BenchmarkBaselineDockerExportGzip is the method kube-forensics uses:
// export the whole container filesystem and gzip it.
func BenchmarkBaselineDockerExportGzip(b *testing.B) {
	_, d, _ := benchContainer(b)
	out := b.TempDir() + "/export.tar.gz"
	benchShell(b, "docker export "+d.ID+" | gzip -1 > "+out)
}

// BenchmarkBaselineTarZstd is the fastest hand-typed capture of the same
// writable layer: tar of the upper directory through zstd -1 on all cores
// to a local file (no hashing, no upload).
func BenchmarkBaselineTarZstd(b *testing.B) {
	_, _, layer := benchContainer(b)
	out := b.TempDir() + "/upper.tar.zst"
	benchShell(b, "tar -C "+layer.Upper+" -cf - . | zstd -q -1 -T0 -f -o "+out)
}

// benchShell times a shell pipeline b.N times and reports its CPU time.
func benchShell(b *testing.B, cmd string) {
	var cpu cpuTime
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		from := readCPU(b, "")
		if out, err := exec.Command("bash", "-c", "set -o pipefail; "+cmd).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", cmd, err, out)
		}
		cpu.add(from, readCPU(b, ""))
	}
	cpu.report(b)
}
