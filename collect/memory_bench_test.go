package collect_test

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/internal/testenv"
	"firebreak/runtime/runtimetest"
)

// BenchmarkCollectMemory1GiB writes the core of a process holding 1 GiB of
// resident memory (the test helper's "hog", a pattern that does not
// compress), frozen, into the local store and into MinIO behind the spool
// as the CLI uses it. peak-rss-MiB is Firebreak's (this whole test
// process's) peak resident memory during the capture: it must stay under
// 100 MiB, since the core is streamed, never held.
func BenchmarkCollectMemory1GiB(b *testing.B) {
	h := runtimetest.Docker(b)
	ctx := context.Background()
	helperDir := buildMemHelper(b)
	d := h.Run(b, runtimetest.Name(b), runtimetest.Spec{Cmd: []string{"/helper/memhelper", "hog", "1024"}, Binds: []string{helperDir + ":/helper:ro"}})
	runtimetest.Eventually(b, 2*time.Minute, "1 GiB resident", func() bool { return rssKiB(b, d.Pid) >= 1<<20 })
	if err := h.Runtime().Pause(ctx, d.ID); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Runtime().Unpause(ctx, d.ID) })
	stores := []struct {
		name string
		open func(b *testing.B) evidence.Store
	}{
		{"local", func(b *testing.B) evidence.Store {
			s, err := evidence.NewFileStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"minio", func(b *testing.B) evidence.Store {
			s, err := evidence.NewSpool(storetest.MinIO(b, false, evidence.StoreOptions{}), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		b.Run("store="+st.name, func(b *testing.B) {
			sg, _, err := evidence.LoadOrCreateSigner(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			opts := collect.DefaultOptions()
			opts.What = []collect.Collector{collect.WhatMemory}
			var peak float64
			var core int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				store := st.open(b)
				run, err := evidence.OpenRun(ctx, store, sg, evidence.CaseInfo{ID: fmt.Sprintf("MEMBENCH-%d", i), Actor: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				debug.FreeOSMemory()
				testenv.ResetPeakRSS(b)
				b.StartTimer()
				res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak = max(peak, testenv.PeakRSSMiB(b))
				if len(res.Incomplete) > 0 {
					b.Fatalf("incomplete: %v", res.Incomplete)
				}
				for _, a := range res.Artifacts {
					if strings.HasSuffix(a.Key, ".core") {
						core = a.Size
					}
				}
				if core < 1<<30 {
					b.Fatalf("the core is %d bytes, less than the 1 GiB resident", core)
				}
				if _, err := run.Finish(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(peak, "peak-rss-MiB")
			b.ReportMetric(float64(core)/(1<<20), "core-MiB")
			b.SetBytes(core)
		})
	}
}

// rssKiB is a process's resident memory (VmRSS).
func rssKiB(b *testing.B, pid int) int64 {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
