package main

import (
	"path/filepath"
	"strings"
	"testing"

	"firebreak/runtime/runtimetest"
)

// TestCLIVerifyNamesWhatOnlyTheSpoolHolds collects with MinIO down (all
// spooled), brings MinIO back and verifies before any sync: the case is
// whole only with the spool, so verify names the objects it read from the
// spool and exits 6, not 0. Then a swapped copy put straight into the
// bucket under one spooled key is what verify checks (the store's), so it
// names the difference and exits 5.
func TestCLIVerifyNamesWhatOnlyTheSpoolHolds(t *testing.T) {
	h := runtimetest.Docker(t)
	srv, st, flags := minioCLI(t, false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "echo x > /f; exec sleep 3600"}})
	srv.Stop()
	if r := cli(t, flags, "collect", "--case", "SPOOLV-1", d.Name); r.code != exitSpooled {
		t.Fatalf("collect with MinIO down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	srv.Start()
	spooled := spoolFiles(t, flagValue(flags, "--spool-dir"))
	if len(spooled) < 10 {
		t.Fatalf("spool holds %d files: %v", len(spooled), spooled)
	}
	r := cli(t, flags, "evidence", "verify", "SPOOLV-1")
	if r.code != exitSpooled || !strings.Contains(r.stdout, "OK only with the local spool") || !strings.Contains(r.stderr, "NOT whole in") {
		t.Fatalf("verify of a case only in the spool: exit %d, want %d\n%s%s", r.code, exitSpooled, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stdout, "read from the local spool: the store lacks it"); n != len(spooled) {
		t.Errorf("verify names %d objects read from the spool, the spool holds %d\n%s", n, len(spooled), r.stdout)
	}

	// The bucket gets other bytes under one key that also waits in the
	// spool: the store's copy is verified, and found not to match.
	var key string
	for _, p := range spooled {
		if strings.HasSuffix(p, "processes.json") {
			_, key, _ = strings.Cut(filepath.ToSlash(p), "/objects/")
		}
	}
	if key == "" {
		t.Fatalf("no processes.json among the spooled files %v", spooled)
	}
	putObject(t, st, key, []byte(`{"swapped":true}`+"\n"))
	r = cli(t, flags, "evidence", "verify", "SPOOLV-1")
	if r.code != exitUnverified || !strings.Contains(r.stdout, key+": the store's copy") || !strings.Contains(r.stdout, "differs from the spooled one") {
		t.Errorf("verify with a swapped store copy of a spooled key: exit %d, want %d\n%s%s", r.code, exitUnverified, r.stdout, r.stderr)
	}
}
