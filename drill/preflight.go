package drill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"firebreak/collect"
	"firebreak/runtime"
	"firebreak/runtime/docker"
)

// Preflight is what a live drill checks before it makes anything: that
// the engine answers, that the host's runtime and kernel are not before
// the fix of a known container-escape CVE (a decoy on a host an escape
// works on is no drill), that there is memory and disk to spare, and that
// the decoy image is on the engine (drills never pull) or, with none
// given, that the host's busybox-static is there to build one from.
type Preflight struct {
	Engine      string               `json:"engine"`
	Versions    collect.HostVersions `json:"versions"`
	Vulnerable  []collect.Finding    `json:"vulnerable,omitempty"` // known escape CVEs by version: the drill stops
	Notes       []string             `json:"notes,omitempty"`      // other host findings, said but not stopping
	MemAvailMiB uint64               `json:"mem_available_mib"`
	DiskFreeMiB uint64               `json:"disk_free_mib"`
	Image       string               `json:"image,omitempty"`      // the image given
	Busybox     string               `json:"build_from,omitempty"` // none given: the busybox the drill builds its image from
	Took        time.Duration        `json:"took_ns"`
}

// Resources a drill needs free before it starts.
const (
	MinMemoryMiB = 256
	MinDiskMiB   = 256
)

// VulnerableHostError stops a drill on a host whose runtime or kernel is
// before the fix of a known container-escape CVE.
type VulnerableHostError struct{ Findings []collect.Finding }

func (e *VulnerableHostError) Error() string {
	var b strings.Builder
	b.WriteString("this host is vulnerable to a known container escape; a live drill would put real escape paths beside its decoys, so it stops here:")
	for _, f := range e.Findings {
		fmt.Fprintf(&b, "\n  %s (%s): %s; %s", f.Title, f.Severity, f.Evidence, f.Remedy)
	}
	b.WriteString("\nupdate the named components, then run the drill again (`firebreak triage --host` shows the same)")
	return b.String()
}

// PreflightError is a check a drill cannot start without, with what to do.
type PreflightError struct{ What, Fix string }

func (e *PreflightError) Error() string { return e.What + " (" + e.Fix + ")" }

// hostVersionsFunc reads the versions of the host's container stack; a
// seam for tests of a vulnerable host.
type hostVersionsFunc func(ctx context.Context) (collect.HostVersions, error)

// vendorFixedFunc says whether the installed package backported a CVE's
// fix (vendorFixed); a seam for tests.
type vendorFixedFunc func(ctx context.Context, q collect.BackportQuery) (string, bool)

// runPreflight checks the engine, the host and the image (or, image "",
// the busybox to build one from). A host before an escape CVE's fix is a
// *VulnerableHostError; a missing resource, image or busybox a
// *PreflightError.
func runPreflight(ctx context.Context, d *docker.Docker, stateDir, image, busybox string, versions hostVersionsFunc, vendor vendorFixedFunc) (*Preflight, error) {
	if vendor == nil {
		vendor = collect.VendorFixed
	}
	start := time.Now()
	p := &Preflight{Engine: d.Name(), Image: image}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Ping(pctx); err != nil {
		return p, &PreflightError{What: "the engine does not answer: " + err.Error(), Fix: "is dockerd running? set -H or DOCKER_HOST"}
	}
	var v collect.HostVersions
	var err error
	if versions != nil {
		v, err = versions(ctx)
	} else {
		var hv runtime.HostVersions
		hv, err = d.HostVersions(pctx)
		v = collect.HostVersions{Engine: hv.Engine, Runc: hv.Runc, Containerd: hv.Containerd, Kernel: hv.Kernel}
	}
	if err != nil {
		p.Notes = append(p.Notes, "engine versions not read: "+err.Error())
	}
	if v.Kernel == "" {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			v.Kernel = unix.ByteSliceToString(u.Release[:])
		}
	}
	p.Versions = v
	if v.Runc == "" {
		p.Notes = append(p.Notes, "the engine does not report runc's version: runc's escape CVEs are not checked")
	}
	// No state file: a drill must not move the digests `triage --host`
	// compares against (a changed runtime binary would go unseen).
	// A backported fix (the package's changelog names the CVE) is a note,
	// not a vulnerable host: AssessHost reads it through vendor.
	backported := func(q collect.BackportQuery) (string, bool) { return vendor(ctx, q) }
	h := collect.AssessHost(v, collect.HostFiles{ProcRoot: "/proc", Backported: backported}, time.Time{})
	for _, f := range h.Findings {
		if !strings.HasPrefix(f.ID, "host-cve-") {
			continue
		}
		switch {
		case f.Severity == collect.Info:
			p.Notes = append(p.Notes, f.Title+" ("+f.Evidence+")")
		case f.Severity.Rank() >= collect.High.Rank():
			p.Vulnerable = append(p.Vulnerable, f)
		default:
			p.Notes = append(p.Notes, f.Title)
		}
	}
	p.MemAvailMiB = memAvailable()
	p.DiskFreeMiB = diskFree(stateDir)
	p.Took = time.Since(start)
	if len(p.Vulnerable) > 0 {
		return p, &VulnerableHostError{Findings: p.Vulnerable}
	}
	if p.MemAvailMiB > 0 && p.MemAvailMiB < MinMemoryMiB {
		return p, &PreflightError{What: fmt.Sprintf("only %d MiB of memory available, a drill needs %d", p.MemAvailMiB, MinMemoryMiB), Fix: "free memory first"}
	}
	if p.DiskFreeMiB > 0 && p.DiskFreeMiB < MinDiskMiB {
		return p, &PreflightError{What: fmt.Sprintf("only %d MiB free under %s, a drill needs %d", p.DiskFreeMiB, stateDir, MinDiskMiB), Fix: "free disk space, or give another --state-dir"}
	}
	if image == "" {
		p.Busybox = busybox
		if err := CheckBusybox(busybox); err != nil {
			return p, err
		}
	} else if _, err := d.API().ImageInspect(pctx, image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return p, &PreflightError{What: "the decoy image " + image + " is not on this engine, and drills never pull", Fix: "leave out --image and the drill builds its own from Debian's busybox-static, or name a local image"}
		}
		return p, fmt.Errorf("inspecting the decoy image %s: %w", image, err)
	}
	p.Took = time.Since(start)
	return p, nil
}

// memAvailable is MemAvailable from /proc/meminfo in MiB (0: unknown).
func memAvailable() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb / 1024
		}
	}
	return 0
}

// diskFree is the space free to unprivileged users on the filesystem of
// dir (or of its nearest existing parent), in MiB (0: unknown).
func diskFree(dir string) uint64 {
	for d := dir; ; d = filepath.Dir(d) {
		var st syscall.Statfs_t
		err := syscall.Statfs(d, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize) / (1 << 20)
		}
		if !errors.Is(err, os.ErrNotExist) || d == filepath.Dir(d) {
			return 0
		}
	}
}
