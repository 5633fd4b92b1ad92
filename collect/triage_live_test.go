package collect_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"

	"firebreak/collect"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// execDetached starts cmd in the container the way `docker exec -d` does.
func execDetached(t *testing.T, h *runtimetest.DockerHarness, id string, cmd ...string) {
	t.Helper()
	ctx := runtimetest.Context(t)
	api := h.Docker().API()
	ex, err := api.ContainerExecCreate(ctx, id, dcontainer.ExecOptions{Cmd: cmd})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.ContainerExecStart(ctx, ex.ID, dcontainer.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
}

// hostPIDOf finds the host PID of the process whose command line is args.
func hostPIDOf(t *testing.T, args ...string) int {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	pid := 0
	runtimetest.Eventually(t, 10*time.Second, "process "+strings.Join(args, " "), func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			n, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && string(b) == want {
				pid = n
				return true
			}
		}
		return false
	})
	return pid
}

func liveIDs(a collect.Assessment) []string {
	var out []string
	for _, f := range a.Findings {
		if f.Kind == collect.KindLive {
			out = append(out, f.ID+": "+f.Evidence)
		}
	}
	return out
}

// TestTriageZombieIsNoEscape: a zombie left in a container whose init does
// not reap has no namespace links to read; it was reported as a process
// outside the container's namespaces (critical). It is listed, not judged.
func TestTriageZombieIsNoEscape(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{}) // sleep as PID 1: it reaps nothing
	execDetached(t, h, d.ID, "sh", "-c", "(sleep 0.2 &)")
	runtimetest.Eventually(t, 10*time.Second, "a zombie under the container's init", func() bool {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i > 0 {
				f := strings.Fields(s[i+1:])
				if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(d.Pid) {
					return true
				}
			}
		}
		return false
	})
	a, err := collect.Assess(runtimetest.Context(t), h.Runtime(), "/proc", d.Container)
	if err != nil {
		t.Fatal(err)
	}
	if live := liveIDs(a); len(live) > 0 {
		t.Errorf("live findings for a zombie: %v", live)
	}
}

// TestTriageHostMountWritesNeedEvidence: writable mounts of the host's /,
// /proc, /dev and /sys/fs/cgroup, where the host itself writes all the
// time, gave live-host-mount-writes with no write by the container; one
// real write under a host directory gives exactly that file.
func TestTriageHostMountWritesNeedEvidence(t *testing.T) {
	h := runtimetest.Docker(t)
	quiet := h.Run(t, runtimetest.Name(t)+"-quiet", runtimetest.Spec{
		Binds: []string{"/:/host", "/proc:/hostproc", "/dev:/hostdev", "/sys/fs/cgroup:/hostcg"},
	})
	// The host writes meanwhile, as it always does.
	if err := os.WriteFile(filepath.Join(t.TempDir(), "host-activity"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // mtimes have a second's resolution on some filesystems
	a, err := collect.Assess(runtimetest.Context(t), h.Runtime(), "/proc", quiet.Container)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range liveIDs(a) {
		if strings.HasPrefix(l, "live-host-mount-writes") {
			t.Errorf("host activity reported as the container's writes: %s", l)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("before"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A start time read from /proc is as coarse as the boot time (a second).
	time.Sleep(2100 * time.Millisecond)
	writer := h.Run(t, runtimetest.Name(t)+"-writer", runtimetest.Spec{Binds: []string{dir + ":/data"}})
	time.Sleep(1100 * time.Millisecond)
	execDetached(t, h, writer.ID, "sh", "-c", "echo planted > /data/planted")
	var found []string
	runtimetest.Eventually(t, 10*time.Second, "the write found", func() bool {
		a, err := collect.Assess(runtimetest.Context(t), h.Runtime(), "/proc", writer.Container)
		if err != nil {
			t.Fatal(err)
		}
		found = nil
		for _, l := range liveIDs(a) {
			if strings.HasPrefix(l, "live-host-mount-writes") {
				found = append(found, l)
			}
		}
		return len(found) > 0
	})
	if len(found) != 1 || !strings.Contains(found[0], "1 entries under "+dir) || !strings.Contains(found[0], dir+"/planted") {
		t.Errorf("findings %q, want exactly the one planted file", found)
	}
}

// TestTriageFindsExecThatLeftTheCgroup: a `docker exec`'d process is the
// shim's child, not the init's; one that moved to another cgroup, in a
// container sharing the host's PID namespace, was tied to the container by
// nothing and found by nothing. The test moves it from the host side.
func TestTriageFindsExecThatLeftTheCgroup(t *testing.T) {
	runtimetest.RequireRoot(t)
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{HostPID: true})
	execDetached(t, h, d.ID, "sleep", "3601")
	pid := hostPIDOf(t, "sleep", "3601")
	t.Cleanup(func() { _ = syscallKill(pid) })
	moved := 0
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	for _, procs := range hierarchies {
		if os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0o644) == nil {
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("could not move pid %d to a root cgroup (%v)", pid, hierarchies)
	}
	a, err := collect.Assess(runtimetest.Context(t), h.Runtime(), "/proc", d.Container)
	if err != nil {
		t.Fatal(err)
	}
	want := "pid " + strconv.Itoa(pid) + " "
	if !slices.ContainsFunc(liveIDs(a), func(l string) bool {
		return strings.HasPrefix(l, "live-outside-namespaces") && strings.Contains(l, want)
	}) {
		t.Errorf("the exec'd process that left the cgroup is not flagged: %v", liveIDs(a))
	}
}

// TestTriageKernelHelperIntoContainer: a host core_pattern (here a file the
// test wrote, never the host's setting) that runs a program from a
// container's writable layer is flagged on that container, by name, and on
// no other.
func TestTriageKernelHelperIntoContainer(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	victim := h.Run(t, runtimetest.Name(t)+"-victim", runtimetest.Spec{})
	other := h.Run(t, runtimetest.Name(t)+"-other", runtimetest.Spec{})
	layer, err := h.Docker().WritableLayer(ctx, victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	core := filepath.Join(dir, "core_pattern")
	if err := os.WriteFile(core, []byte("|"+layer.Upper+"/tmp/payload %p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join(dir, "cgroup")
	o := collect.DefaultAssessOptions()
	o.Helpers = collect.HelperFiles{CorePattern: core, Modprobe: filepath.Join(dir, "none"), UeventHelper: filepath.Join(dir, "none"), CgroupRoot: cg}
	as, err := collect.AssessWith(ctx, h.Runtime(), []runtime.Container{victim.Container, other.Container}, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		var got []collect.Finding
		for _, f := range a.Findings {
			if f.ID == "live-kernel-helper-core_pattern" {
				got = append(got, f)
			}
		}
		switch a.Container.ID {
		case victim.ID:
			if len(got) != 1 || got[0].Severity != collect.Critical || !strings.Contains(got[0].Evidence, victim.Name) {
				t.Errorf("victim: %+v, want one critical core_pattern finding naming it", got)
			}
		case other.ID:
			if len(got) != 0 {
				t.Errorf("the other container is blamed: %+v", got)
			}
		}
	}
}

func syscallKill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// TestTriageHostOnDocker: the engine reports its runc and containerd
// versions, the kernel's is read, the runtime binaries are hashed and kept
// for the next run.
func TestTriageHostOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	f := collect.DefaultHostFiles(t.TempDir())
	a := collect.TriageHost(runtimetest.Context(t), h.Runtime(), f, "/proc", []runtime.Container{d.Container})
	if a.Versions.Engine == "" || a.Versions.Runc == "" || a.Versions.Containerd == "" || a.Versions.Kernel == "" {
		t.Errorf("versions %+v, want engine, runc, containerd and kernel", a.Versions)
	}
	if len(a.Binaries) == 0 {
		t.Errorf("no runtime binary hashed (%v)", f.Binaries)
	}
	if _, err := os.Stat(f.StateFile); err != nil {
		t.Errorf("the digests are not kept: %v", err)
	}
	if again := collect.TriageHost(runtimetest.Context(t), h.Runtime(), f, "/proc", nil); slices.ContainsFunc(again.Findings, func(x collect.Finding) bool { return x.ID == "host-binary-changed" }) {
		t.Errorf("an unchanged binary is reported changed: %+v", again.Findings)
	}
}

// TestTriageSensitivePathsOnDocker: each sensitive host path, bound
// read-only into a created container on the real engine, is flagged on its
// container (matched as a path: sub-paths of /proc/sys and /sys/fs/cgroup,
// files such as /etc/shadow, directories above the engine socket); and a
// privileged container scores at least as high as one with every
// capability added.
func TestTriageSensitivePathsOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	base := func(bind string) runtimetest.Spec {
		return runtimetest.Spec{Hardened: true, User: "1000:1000", Binds: []string{bind}}
	}
	cases := map[string]string{
		"/proc/sys:/x:ro":             "host-mount-proc-sys",
		"/sys/fs/cgroup/memory:/x:ro": "host-mount-sys-fs-cgroup",
		"/lib:/x:ro":                  "host-mount-lib",
		"/usr/lib:/x:ro":              "host-mount-usr-lib",
		"/bin:/x:ro":                  "host-mount-bin",
		"/sbin:/x:ro":                 "host-mount-sbin",
		"/etc/shadow:/x:ro":           "host-mount-etc-shadow",
		"/var/log:/x:ro":              "host-mount-var-log",
		"/run/containerd:/x:ro":       "engine-socket",
		"/var/run:/x:ro":              "host-mount-var-run",
	}
	for bind, want := range cases {
		d := h.Create(t, runtimetest.Name(t), base(bind))
		a, err := collect.Assess(ctx, h.Runtime(), "/proc", d.Container)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(a.Findings, func(f collect.Finding) bool { return f.ID == want }) {
			t.Errorf("bind %s: findings %v lack %s", bind, ids(a), want)
		}
	}
	priv := h.Create(t, runtimetest.Name(t)+"-priv", runtimetest.Spec{Privileged: true})
	all := h.Create(t, runtimetest.Name(t)+"-all", runtimetest.Spec{CapAdd: []string{"ALL"}})
	as, err := collect.AssessWith(ctx, h.Runtime(), []runtime.Container{priv.Container, all.Container}, collect.DefaultAssessOptions())
	if err != nil {
		t.Fatal(err)
	}
	score := map[string]int{}
	for _, a := range as {
		score[a.Container.ID] = a.Score
	}
	if score[priv.ID] < score[all.ID] {
		t.Errorf("privileged scores %d, below --cap-add ALL's %d", score[priv.ID], score[all.ID])
	}
}
