package collect

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"firebreak/runtime"
)

//go:embed data/escape-cves.json
var escapeCVEData []byte

// EscapeCVE is one known escape through an engine, a runtime or the kernel,
// by the upstream version that fixed it (data/escape-cves.json, with its
// sources).
type EscapeCVE struct {
	ID        string            `json:"id"`
	Component string            `json:"component"` // runc, containerd, kernel
	Fixed     string            `json:"fixed"`     // first fixed version of the main line
	Branches  map[string]string `json:"branches"`  // MAJOR.MINOR -> first fixed version on that branch
	Severity  Severity          `json:"severity"`
	What      string            `json:"what"`
	Source    string            `json:"source"`
}

// EscapeCVEs is the table, read from the embedded data file.
func EscapeCVEs() ([]EscapeCVE, error) {
	var doc struct {
		CVEs []EscapeCVE `json:"cves"`
	}
	if err := json.Unmarshal(escapeCVEData, &doc); err != nil {
		return nil, fmt.Errorf("the escape CVE table is damaged: %w", err)
	}
	return doc.CVEs, nil
}

// version is a release number read loosely: the leading dotted numbers
// (1.1.5 of "1.1.5+ds1", 6.1.0 of "6.1.0-18-amd64"), and an rc number for
// release candidates (1.0.0-rc6), which come before the release.
type version struct {
	nums []int
	rc   int // 0: a release
}

func parseVersion(s string) (version, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	var v version
	i := 0
	for len(v.nums) < 4 {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			break
		}
		n, _ := strconv.Atoi(s[i:j])
		v.nums = append(v.nums, n)
		i = j
		if i < len(s) && s[i] == '.' {
			i++
			continue
		}
		break
	}
	if len(v.nums) == 0 {
		return v, false
	}
	if rest := s[i:]; strings.HasPrefix(rest, "-rc") || strings.HasPrefix(rest, "-rc.") {
		n, err := strconv.Atoi(strings.TrimLeft(strings.TrimPrefix(rest, "-rc"), "."))
		if err == nil {
			v.rc = n
		}
	}
	return v, true
}

// less orders versions: numbers first, then a release candidate before its
// release.
func (v version) less(w version) bool {
	for i := 0; i < max(len(v.nums), len(w.nums)); i++ {
		a, b := at(v.nums, i), at(w.nums, i)
		if a != b {
			return a < b
		}
	}
	switch {
	case v.rc == w.rc:
		return false
	case v.rc == 0:
		return false
	case w.rc == 0:
		return true
	}
	return v.rc < w.rc
}

func at(n []int, i int) int {
	if i < len(n) {
		return n[i]
	}
	return 0
}

// Affected reports whether a component at version v is before the fix:
// on a branch with its own backport, before that; else before the main
// line's fix. An unreadable version is not judged.
func (c EscapeCVE) Affected(v string) bool {
	got, ok := parseVersion(v)
	if !ok {
		return false
	}
	fixed := c.Fixed
	if len(got.nums) >= 2 {
		if f, ok := c.Branches[fmt.Sprintf("%d.%d", got.nums[0], got.nums[1])]; ok {
			fixed = f
		}
	}
	want, ok := parseVersion(fixed)
	return ok && got.less(want)
}

// HostVersions are the versions of what runs containers on this host.
type HostVersions struct {
	Engine     string `json:"engine,omitempty"` // e.g. "docker 20.10.24"
	Runc       string `json:"runc,omitempty"`
	Containerd string `json:"containerd,omitempty"`
	Kernel     string `json:"kernel,omitempty"`
}

// HostFiles are where host triage reads and keeps what it compares: a seam
// for tests.
type HostFiles struct {
	ProcRoot  string   // /proc: modules, tainted
	Binaries  []string // runtime binaries whose digests are kept
	StateFile string   // digests and taint of the last run; "" keeps none

	// Backported says whether the installed package of a component
	// carries a CVE's fix in an older version number (VendorFixed reads
	// the package's changelog), naming the package; nil checks nothing
	// (as for an engine on another host, whose packages are not here).
	Backported func(q BackportQuery) (pkg string, ok bool)
}

// DefaultHostFiles are the host's; the state file lives in stateDir.
func DefaultHostFiles(stateDir string) HostFiles {
	h := HostFiles{ProcRoot: "/proc", Backported: func(q BackportQuery) (string, bool) {
		return VendorFixed(context.Background(), q)
	}}
	for _, name := range []string{"runc", "containerd-shim-runc-v2", "containerd-shim", "containerd", "dockerd", "docker-init", "docker-proxy"} {
		for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				h.Binaries = append(h.Binaries, p)
			}
		}
	}
	if stateDir != "" {
		h.StateFile = filepath.Join(stateDir, "triage", "host.json")
	}
	return h
}

// HostAssessment is triage of the host the containers run on.
type HostAssessment struct {
	Versions HostVersions      `json:"versions"`
	Binaries map[string]string `json:"binaries"` // path -> sha256
	Tainted  uint64            `json:"tainted"`  // /proc/sys/kernel/tainted
	Modules  []string          `json:"modules"`  // loaded, from /proc/modules
	Findings []Finding         `json:"findings"`
	Notes    []string          `json:"notes,omitempty"`
}

// hostState is what a run keeps for the next to compare with.
type hostState struct {
	Time     time.Time         `json:"time"`
	Binaries map[string]string `json:"binaries"`
	Tainted  uint64            `json:"tainted"`
	Modules  []string          `json:"modules"`
}

// loadedModules lists the loaded kernel modules, sorted.
func loadedModules(procRoot string) []string {
	b, err := os.ReadFile(filepath.Join(procRoot, "modules"))
	if err != nil {
		return nil
	}
	out := []string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[0])
		}
	}
	sort.Strings(out)
	return out
}

// AssessHost checks the host: the engine, runtime and kernel versions
// against the escape CVE table, runtime binaries changed since the last
// run, kernel modules loaded since the last run (worse when containers ran
// meanwhile), and the kernel's taint. oldest is the start of the oldest
// running container (zero when none runs).
func AssessHost(v HostVersions, f HostFiles, oldest time.Time) HostAssessment {
	h := HostAssessment{Versions: v, Binaries: map[string]string{}, Findings: []Finding{}}
	add := func(id string, sev Severity, title, evidence, why, remedy string) {
		h.Findings = append(h.Findings, Finding{ID: id, Kind: KindLive, Severity: sev, Title: title, Evidence: evidence, Why: why, Remedy: remedy})
	}
	cves, err := EscapeCVEs()
	if err != nil {
		h.Notes = append(h.Notes, err.Error())
	}
	for _, c := range cves {
		have := map[string]string{"runc": v.Runc, "containerd": v.Containerd, "kernel": v.Kernel}[c.Component]
		if have == "" {
			continue
		}
		if !c.Affected(have) {
			continue
		}
		// The table judges by upstream version; a distribution backports
		// the fix into an older number and says so in its changelog.
		if f.Backported != nil {
			if pkg, ok := f.Backported(BackportQuery{Component: c.Component, Version: have, CVE: c.ID}); ok {
				add("host-"+strings.ToLower(c.ID), Info, c.ID+": "+c.Component+" "+have+" is before the upstream fix by version, but the installed package backports it",
					fmt.Sprintf("the changelog of %s names %s; upstream fixed it in %s", pkg, c.ID, c.Fixed),
					c.What+" ("+c.Source+")", "none: the vendor's fix is installed")
				continue
			}
		}
		add("host-"+strings.ToLower(c.ID), c.Severity, c.ID+": "+c.Component+" "+have+" is before the fix",
			fmt.Sprintf("%s %s; fixed in %s%s", c.Component, have, c.Fixed, branchNote(c)),
			c.What+" (by version: distributions backport fixes, so check the vendor's advisory; "+c.Source+")",
			"update "+c.Component)
	}
	for _, b := range f.Binaries {
		if sum, err := FileSHA256(b); err == nil {
			h.Binaries[b] = sum
		} else {
			h.Notes = append(h.Notes, "not hashed: "+err.Error())
		}
	}
	h.Modules = loadedModules(f.ProcRoot)
	if b, err := os.ReadFile(filepath.Join(f.ProcRoot, "sys", "kernel", "tainted")); err == nil {
		h.Tainted, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	prev, havePrev := loadHostState(f.StateFile)
	if havePrev {
		for path, sum := range h.Binaries {
			if was, ok := prev.Binaries[path]; ok && was != sum {
				add("host-binary-changed", Critical, "Runtime binary changed since the last triage", fmt.Sprintf("%s: sha256 %.16s… was %.16s… at %s", path, sum, was, prev.Time.UTC().Format(time.RFC3339)),
					"an escape that overwrites the host's runc or shim (CVE-2019-5736) leaves a changed binary; so does an update",
					"compare the binary with the distribution's package (dpkg --verify, debsums); contain the containers if it was not updated")
			}
		}
		if h.Tainted != prev.Tainted {
			add("host-taint-changed", Medium, "Kernel taint changed since the last triage", fmt.Sprintf("tainted %d, was %d at %s", h.Tainted, prev.Tainted, prev.Time.UTC().Format(time.RFC3339)),
				"a new taint flag means an out-of-tree or unsigned module was loaded, or the kernel oopsed, since then", "read dmesg and /proc/modules")
		}
	} else if h.Tainted != 0 {
		h.Notes = append(h.Notes, fmt.Sprintf("kernel tainted %d (no earlier triage on this host to compare with)", h.Tainted))
	}
	if havePrev && prev.Modules != nil {
		var late []string
		for _, m := range h.Modules {
			if !slices.Contains(prev.Modules, m) {
				late = append(late, m)
			}
		}
		if len(late) > 0 {
			since := prev.Time.UTC().Format(time.RFC3339)
			sev := Medium
			if !oldest.IsZero() {
				sev = High // loaded while containers ran
				since += ", while containers ran (the oldest since " + oldest.UTC().Format(time.RFC3339) + ")"
			}
			add("host-modules-loaded", sev, "Kernel modules loaded since the last triage", strings.Join(late, ", ")+" (since "+since+")",
				"a container with CAP_SYS_MODULE, or one that reached the host, loads a module to run code in the kernel",
				"find who loaded them (journal, audit log); unload what is unexpected; contain the containers that hold SYS_MODULE")
		}
	}
	if f.StateFile != "" {
		if err := saveHostState(f.StateFile, hostState{Time: time.Now().UTC(), Binaries: h.Binaries, Tainted: h.Tainted, Modules: h.Modules}); err != nil {
			h.Notes = append(h.Notes, "the digests are not kept for the next run: "+err.Error())
		}
	}
	sortFindings(h.Findings)
	return h
}

func branchNote(c EscapeCVE) string {
	if len(c.Branches) == 0 {
		return ""
	}
	var b []string
	for k, v := range c.Branches {
		b = append(b, k+": "+v)
	}
	sort.Strings(b)
	return " (backports " + strings.Join(b, ", ") + ")"
}

// FileSHA256 is the hex SHA-256 of a file's content.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func loadHostState(p string) (hostState, bool) {
	var s hostState
	if p == "" {
		return s, false
	}
	b, err := os.ReadFile(p)
	if err != nil || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}

func saveHostState(p string, s hostState) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// TriageHost assesses the host the targets run on: the versions come from
// the engine (where it reports them), the kernel's from the host, and the
// oldest running target's start from its init in procRoot.
func TriageHost(ctx context.Context, rt runtime.Runtime, f HostFiles, procRoot string, targets []runtime.Container) HostAssessment {
	var v HostVersions
	var notes []string
	if hi, ok := rt.(runtime.HostInformer); ok {
		if hv, err := hi.HostVersions(ctx); err == nil {
			v = HostVersions{Engine: hv.Engine, Runc: hv.Runc, Containerd: hv.Containerd, Kernel: hv.Kernel}
		} else {
			notes = append(notes, "engine versions not read: "+err.Error())
		}
	}
	if v.Kernel == "" {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			v.Kernel = unix.ByteSliceToString(u.Release[:])
		}
	}
	if v.Runc == "" {
		notes = append(notes, "the engine does not report runc's version: runc's CVEs are not checked by version (its digest is still kept)")
	}
	var oldest time.Time
	var secs []runtime.Security
	pr := newProcReader(procRoot)
	for _, t := range targets {
		d, err := rt.Inspect(ctx, t.ID)
		if err != nil {
			continue
		}
		secs = append(secs, d.Security)
		if d.Pid <= 0 {
			continue
		}
		if p, err := pr.basic(d.Pid); err == nil && !p.Start.IsZero() && (oldest.IsZero() || p.Start.Before(oldest)) {
			oldest = p.Start
		}
	}
	h := AssessHost(v, f, oldest)
	// Conditions of the whole host (cgroup v1, no user namespace
	// remapping) are said here once, not on every container.
	h.Findings = append(h.Findings, HostFindings(rt.Name(), secs)...)
	for i := range h.Findings {
		h.Findings[i].CIS = CISOf(h.Findings[i].ID)
	}
	sortFindings(h.Findings)
	h.Notes = append(notes, h.Notes...)
	return h
}
