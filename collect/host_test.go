package collect

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestEscapeCVEVersions(t *testing.T) {
	cves, err := EscapeCVEs()
	if err != nil || len(cves) < 4 {
		t.Fatalf("EscapeCVEs = %d, %v", len(cves), err)
	}
	byID := map[string]EscapeCVE{}
	for _, c := range cves {
		if c.Source == "" || c.What == "" {
			t.Errorf("%s has no source or description", c.ID)
		}
		byID[c.ID] = c
	}
	for _, tc := range []struct {
		cve, version string
		affected     bool
	}{
		{"CVE-2019-5736", "1.0.0-rc6", true},
		{"CVE-2019-5736", "1.0.0-rc7", false},
		{"CVE-2019-5736", "1.0.0-rc93", false},
		{"CVE-2019-5736", "1.1.5+ds1", false},
		{"CVE-2024-21626", "1.1.5+ds1", true}, // Debian 12's number, before its backport is judged by the vendor
		{"CVE-2024-21626", "1.1.12", false},
		{"CVE-2024-21626", "v1.2.0", false},
		{"CVE-2020-15257", "1.3.8", true},
		{"CVE-2020-15257", "1.4.2", true},
		{"CVE-2020-15257", "1.4.3", false},
		{"CVE-2020-15257", "1.6.20~ds1", false},
		{"CVE-2022-0492", "5.10.96", true},
		{"CVE-2022-0492", "5.10.97", false},
		{"CVE-2022-0492", "5.16.5", true},
		{"CVE-2022-0492", "6.1.0-18-amd64", false},
		{"CVE-2022-0492", "not a version", false},
	} {
		if got := byID[tc.cve].Affected(tc.version); got != tc.affected {
			t.Errorf("%s at %s: affected %v, want %v", tc.cve, tc.version, got, tc.affected)
		}
	}
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// TestAssessHostRemembers: a runtime binary that changed between two
// triages, a module loaded between them while containers ran, and a new
// taint are each found; an unchanged host gives nothing.
func TestAssessHostRemembers(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "proc")
	if err := os.MkdirAll(filepath.Join(proc, "sys", "kernel"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runc := filepath.Join(dir, "runc")
	write(runc, "runc v1")
	write(filepath.Join(proc, "modules"), "overlay 151552 1 - Live 0x0\nbridge 311296 0 - Live 0x0\n")
	write(filepath.Join(proc, "sys", "kernel", "tainted"), "0\n")
	f := HostFiles{ProcRoot: proc, Binaries: []string{runc}, StateFile: filepath.Join(dir, "state", "host.json")}
	v := HostVersions{Runc: "1.1.12", Containerd: "1.6.20", Kernel: "6.1.0"}
	started := time.Now().Add(-time.Hour)

	first := AssessHost(v, f, started)
	if len(first.Findings) != 0 {
		t.Fatalf("first triage of a clean host: %v", ids(first.Findings))
	}
	if again := AssessHost(v, f, started); len(again.Findings) != 0 {
		t.Fatalf("unchanged host: %v", ids(again.Findings))
	}
	write(runc, "runc v1, overwritten by a container")
	write(filepath.Join(proc, "modules"), "overlay 151552 1 - Live 0x0\nbridge 311296 0 - Live 0x0\nevil 16384 0 - Live 0x0 (OE)\n")
	write(filepath.Join(proc, "sys", "kernel", "tainted"), "12288\n")
	later := AssessHost(v, f, started)
	for _, want := range []string{"host-binary-changed", "host-modules-loaded", "host-taint-changed"} {
		if !slices.Contains(ids(later.Findings), want) {
			t.Errorf("findings %v lack %s", ids(later.Findings), want)
		}
	}
	old := AssessHost(HostVersions{Runc: "1.0.0-rc6", Containerd: "1.4.2", Kernel: "5.10.96"}, HostFiles{ProcRoot: proc}, time.Time{})
	for _, want := range []string{"host-cve-2019-5736", "host-cve-2024-21626", "host-cve-2020-15257", "host-cve-2022-0492"} {
		if !slices.Contains(ids(old.Findings), want) {
			t.Errorf("old versions: findings %v lack %s", ids(old.Findings), want)
		}
	}
}
