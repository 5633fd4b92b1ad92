package collect_test

import (
	"sync"
	"testing"

	"firebreak/collect"
	"firebreak/internal/progress"
	"firebreak/runtime/runtimetest"
)

// TestCollectProgressHasTheLayersTotal captures a writable layer of a
// known size (20 MiB of random bytes and three small files) on each real
// engine. Every report carries the pre-count's totals; with nothing
// written during the capture the totals are the capture's own: the bytes
// total equals the bytes captured exactly (the bound is 0, not a
// tolerance) and lies within 64 KiB above the 20 MiB written (the small
// files and what the image's shell leaves); reports come within the large
// file too; and the last report is the total.
func TestCollectProgressHasTheLayersTotal(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c",
			"mkdir -p /data && dd if=/dev/urandom of=/data/big bs=1048576 count=20 2>/dev/null; " +
				"echo a > /data/a; echo b > /data/b; ln /data/a /data/a-link; touch /done; exec sleep 600"}})
		waitForFile(t, h, d.ID, "done")
		store := fileStore(t)
		run, _ := newRun(t, store, "PROG-1")
		var (
			mu      sync.Mutex
			reports []progress.Count
		)
		o := collect.Options{What: []collect.Collector{collect.WhatFSDiff}, Limits: collect.DefaultLimits(), Progress: func(n progress.Count) {
			mu.Lock()
			reports = append(reports, n)
			mu.Unlock()
		}}
		res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.FS == nil || len(reports) == 0 {
			t.Fatalf("fs stats %v, %d reports", res.FS, len(reports))
		}
		total := reports[0]
		for i, r := range reports {
			if r.BytesTotal != total.BytesTotal || r.FilesTotal != total.FilesTotal {
				t.Fatalf("report %d has totals %d bytes, %d files; the first had %d, %d", i, r.BytesTotal, r.FilesTotal, total.BytesTotal, total.FilesTotal)
			}
			if i > 0 && r.Bytes < reports[i-1].Bytes {
				t.Fatalf("report %d went back: %d after %d bytes", i, r.Bytes, reports[i-1].Bytes)
			}
		}
		const written = 20 << 20
		if total.BytesTotal != res.FS.Bytes || total.FilesTotal != res.FS.Files {
			t.Errorf("totals %d bytes, %d files; the capture took %d bytes, %d files", total.BytesTotal, total.FilesTotal, res.FS.Bytes, res.FS.Files)
		}
		if total.BytesTotal < written || total.BytesTotal > written+64<<10 {
			t.Errorf("bytes total %d, want within 64 KiB above the %d written", total.BytesTotal, written)
		}
		if len(reports) < 20 {
			t.Errorf("%d reports for a 20 MiB file read a MiB at a time: none within it", len(reports))
		}
		if last := reports[len(reports)-1]; last.Bytes != last.BytesTotal || last.Files != last.FilesTotal {
			t.Errorf("last report %+v, want its totals reached", last)
		}
	})
}
