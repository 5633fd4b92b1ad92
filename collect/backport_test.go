package collect

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestChangelogNamesACVE: a distribution's backport is read from the
// package's gzip'd changelog.
func TestChangelogNamesACVE(t *testing.T) {
	p := filepath.Join(t.TempDir(), "changelog.Debian.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte("runc (1.1.5+ds1-1+deb12u1) bookworm-security; urgency=medium\n\n  * CVE-2024-21626: several container breakouts\n"))
	_ = zw.Close()
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if !changelogNames(p, "CVE-2024-21626") {
		t.Error("the CVE in the changelog was not found")
	}
	if changelogNames(p, "CVE-2019-5736") || changelogNames(filepath.Join(t.TempDir(), "none.gz"), "CVE-2024-21626") {
		t.Error("a CVE not in the changelog, or no changelog, counted as fixed")
	}
}

// TestHostBackportIsInfo: a runc before the upstream fix by version whose
// package backports it is an info finding naming the package, not a high
// one; without the backport it stays high.
func TestHostBackportIsInfo(t *testing.T) {
	v := HostVersions{Runc: "1.1.5+ds1"}
	var asked []string
	f := HostFiles{ProcRoot: t.TempDir(), Backported: func(component, kernel, cve string) (string, bool) {
		asked = append(asked, component+" "+cve)
		return "runc 1.1.5+ds1-1+deb12u1", cve == "CVE-2024-21626"
	}}
	h := AssessHost(v, f, time.Time{})
	var found bool
	for _, x := range h.Findings {
		if x.ID != "host-cve-2024-21626" {
			continue
		}
		found = true
		if x.Severity != Info || !bytes.Contains([]byte(x.Evidence), []byte("runc 1.1.5+ds1-1+deb12u1")) {
			t.Errorf("backported CVE: %+v, want info naming the package", x)
		}
	}
	if !found || len(asked) == 0 {
		t.Fatalf("no finding for CVE-2024-21626 (asked %v): %+v", asked, h.Findings)
	}
	h = AssessHost(v, HostFiles{ProcRoot: t.TempDir()}, time.Time{})
	for _, x := range h.Findings {
		if x.ID == "host-cve-2024-21626" && x.Severity.Rank() < High.Rank() {
			t.Errorf("without a backport: %+v, want high or above", x)
		}
	}
}
