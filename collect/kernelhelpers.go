package collect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"firebreak/runtime"
)

// HelperFiles are the host settings through which the kernel runs a
// program as root in the host's namespaces on an event (usermode helpers):
// the classic escapes write one of them to point at a file the container
// controls, and leave no process tied to the container behind. Tests point
// them at files of their own; nothing here writes.
type HelperFiles struct {
	CorePattern  string // /proc/sys/kernel/core_pattern ("|program" runs on a crash)
	Modprobe     string // /proc/sys/kernel/modprobe (runs on an unknown binary format or module)
	UeventHelper string // /sys/kernel/uevent_helper (runs on a device event)
	CgroupRoot   string // /sys/fs/cgroup: cgroup v1 release_agent per hierarchy, notify_on_release per cgroup
}

// DefaultHelperFiles are the host's own.
func DefaultHelperFiles() HelperFiles {
	return HelperFiles{
		CorePattern:  "/proc/sys/kernel/core_pattern",
		Modprobe:     "/proc/sys/kernel/modprobe",
		UeventHelper: "/sys/kernel/uevent_helper",
		CgroupRoot:   "/sys/fs/cgroup",
	}
}

// helper is one usermode helper setting as read.
type helper struct {
	name, file, program string
}

// read returns every helper that names a program.
func (h HelperFiles) read() []helper {
	var out []helper
	one := func(name, file string, pipeOnly bool) {
		b, err := os.ReadFile(file)
		if err != nil {
			return
		}
		v := strings.TrimSpace(string(b))
		if pipeOnly {
			prog, ok := strings.CutPrefix(v, "|")
			if !ok {
				return // a core file name, not a program
			}
			v = strings.TrimSpace(prog)
		}
		if f := strings.Fields(v); len(f) > 0 {
			out = append(out, helper{name: name, file: file, program: f[0]})
		}
	}
	one("core_pattern", h.CorePattern, true)
	one("modprobe", h.Modprobe, false)
	one("uevent_helper", h.UeventHelper, false)
	if ents, err := os.ReadDir(h.CgroupRoot); err == nil {
		for _, e := range ents {
			one("release_agent", filepath.Join(h.CgroupRoot, e.Name(), "release_agent"), false)
		}
	}
	return out
}

// containerFS is where a container's files are seen from the host.
type containerFS struct {
	c      runtime.Container
	dirs   []string // writable layer (upper) and its merged view
	pids   []int    // its processes: /proc/PID/root is its root from the host
	cgroup []string // its init's /proc/PID/cgroup lines
}

var procRootPath = regexp.MustCompile(`^/proc/(\d+)/root(/|$)`)

// owns reports whether program lies in the container's filesystem.
func (fs containerFS) owns(program string) bool {
	p := filepath.Clean(program)
	for _, d := range fs.dirs {
		if d != "" && (p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/")) {
			return true
		}
	}
	if m := procRootPath.FindStringSubmatch(p); m != nil {
		pid, _ := strconv.Atoi(m[1])
		for _, q := range fs.pids {
			if q == pid {
				return true
			}
		}
	}
	return false
}

// kernelHelperFindings flags, per container, every host usermode helper
// that points into its filesystem, and a cgroup v1 notify_on_release set on
// one of its cgroups (with a release_agent, the kernel runs that agent as
// root when the cgroup empties).
func kernelHelperFindings(h HelperFiles, helpers []helper, fss []containerFS) map[string][]Finding {
	out := map[string][]Finding{}
	for _, fs := range fss {
		for _, hp := range helpers {
			if !fs.owns(hp.program) {
				continue
			}
			out[fs.c.ID] = append(out[fs.c.ID], Finding{
				ID: "live-kernel-helper-" + hp.name, Kind: KindLive, Severity: Critical,
				Title:    "Host " + hp.name + " runs a program from this container",
				Evidence: fmt.Sprintf("%s = %s, inside %s's filesystem", hp.file, strconv.Quote(hp.program), fs.c.Name),
				Why:      "the kernel runs it as root in the host's namespaces (a " + hp.name + " escape): no process of the container is left to see",
				Remedy:   "contain the container now, restore " + hp.file + " to its default, and capture the program's file as evidence",
			})
		}
		for _, line := range fs.cgroup {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || parts[1] == "" {
				continue // cgroup v2 has no notify_on_release
			}
			ctrl := strings.TrimPrefix(strings.Split(parts[1], ",")[0], "name=")
			f := filepath.Join(h.CgroupRoot, strings.ReplaceAll(parts[1], "name=", ""), parts[2], "notify_on_release")
			if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "1" {
				out[fs.c.ID] = append(out[fs.c.ID], Finding{
					ID: "live-notify-on-release", Kind: KindLive, Severity: High,
					Title:    "notify_on_release set on the container's " + ctrl + " cgroup",
					Evidence: f + " = 1",
					Why:      "with a release_agent set, the kernel runs that agent as root on the host when the cgroup empties (the cgroup v1 release_agent escape)",
					Remedy:   "contain the container; check the hierarchy's release_agent; set notify_on_release to 0",
				})
			}
		}
	}
	return out
}

// hostPrograms are where a host's own helpers live: a helper there needs
// no look at the containers' layers.
var hostPrograms = []string{"/sbin/", "/bin/", "/usr/sbin/", "/usr/bin/", "/usr/lib/", "/usr/libexec/", "/usr/share/", "/lib/"}

// suspicious reports whether any helper names a program outside the host's
// own directories (where a container's files would be).
func suspicious(helpers []helper) bool {
	for _, hp := range helpers {
		p := filepath.Clean(hp.program)
		if !slices.ContainsFunc(hostPrograms, func(dir string) bool { return strings.HasPrefix(p, dir) }) {
			return true
		}
	}
	return false
}

// layerDirs are the container's writable layer and its merged view on the
// host, where the engine says (overlay: the upper dir and, beside it, the
// merged mount point).
func layerDirs(ctx context.Context, rt runtime.Runtime, id string) []string {
	lr, ok := rt.(runtime.LayerReader)
	if !ok {
		return nil
	}
	l, err := lr.WritableLayer(ctx, id)
	if err != nil || l.Upper == "" {
		return nil
	}
	dirs := []string{l.Upper}
	if filepath.Base(l.Upper) == "diff" {
		dirs = append(dirs, filepath.Join(filepath.Dir(l.Upper), "merged"))
	}
	return dirs
}
