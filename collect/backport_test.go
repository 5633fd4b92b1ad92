package collect

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestChangelogFixesACVE: a distribution's backport is read from the
// package's changelog: the CVE named as a whole word, not as a prefix of
// another, and not on a line that says it came back.
func TestChangelogFixesACVE(t *testing.T) {
	cl := `runc (1.1.5+ds1-1+deb12u1) bookworm-security; urgency=medium

  * CVE-2024-21626: several container breakouts
  * Fix a regression (re-introduced CVE-2019-19921)

 -- Debian Go Packaging Team  Thu, 01 Feb 2024 12:00:00 +0000
`
	for cve, want := range map[string]bool{
		"CVE-2024-21626": true,
		"CVE-2024-2162":  false, // a prefix of the one named
		"CVE-2019-1992":  false,
		"CVE-2019-19921": false, // named as re-introduced
		"CVE-2019-5736":  false,
	} {
		if got := changelogFixes(strings.NewReader(cl), cve); got != want {
			t.Errorf("changelogFixes(%s) = %v, want %v", cve, got, want)
		}
	}
}

func TestDebianUpstream(t *testing.T) {
	for v, want := range map[string]string{"1.1.5+ds1-1+deb12u1": "1.1.5+ds1", "1:2.3-4": "2.3", "1.7.24~ds1-1": "1.7.24~ds1", "1.0": "1.0"} {
		if got := debianUpstream(v); got != want {
			t.Errorf("debianUpstream(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestHostBackportIsInfo: a runc before the upstream fix by version whose
// package backports it is an info finding naming the package, asked with
// the version the engine reported; without the backport it stays high.
func TestHostBackportIsInfo(t *testing.T) {
	v := HostVersions{Runc: "1.1.5+ds1"}
	var asked []BackportQuery
	f := HostFiles{ProcRoot: t.TempDir(), Backported: func(q BackportQuery) (string, bool) {
		asked = append(asked, q)
		return "runc 1.1.5+ds1-1+deb12u1", q.CVE == "CVE-2024-21626"
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
	for _, q := range asked {
		if q.Component == "runc" && q.Version != "1.1.5+ds1" {
			t.Errorf("asked %+v, want the engine's version", q)
		}
	}
	h = AssessHost(v, HostFiles{ProcRoot: t.TempDir()}, time.Time{})
	for _, x := range h.Findings {
		if x.ID == "host-cve-2024-21626" && x.Severity.Rank() < High.Rank() {
			t.Errorf("without a backport: %+v, want high or above", x)
		}
	}
}

// TestVendorFixedWantsTheReportedVersion on this host's own packages: the
// installed runc's package is asked only for the version it installed; a
// runc the engine reports at another version is not excused by it.
func TestVendorFixedWantsTheReportedVersion(t *testing.T) {
	if _, ok := VendorFixed(t.Context(), BackportQuery{Component: "runc", Version: "1.0.0-rc6", CVE: "CVE-2024-21626"}); ok {
		t.Error("runc 1.0.0-rc6 (as reported) excused by the installed package of another version")
	}
}
