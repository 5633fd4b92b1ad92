package collect_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"firebreak/collect"
	"firebreak/runtime/runtimetest"
)

func ids(a collect.Assessment) []string {
	var out []string
	for _, f := range a.Findings {
		out = append(out, f.ID)
	}
	return out
}

// TestTriageOneContainerPerFinding: every container is hardened but for one
// risky setting; each finding is reported for its container only, and the
// fully hardened one scores lowest. Containers are created, not started:
// configuration findings need no process (and a privileged container cannot
// start in this sandbox).
func TestTriageOneContainerPerFinding(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		sock := "/var/run/docker.sock"
		if h.Runtime().Name() == "containerd" {
			sock = "/run/containerd/containerd.sock"
		}
		base := func(s runtimetest.Spec) runtimetest.Spec {
			s.Hardened = true
			if s.User == "" {
				s.User = "1000:1000"
			}
			return s
		}
		cases := map[string]runtimetest.Spec{
			"privileged":         base(runtimetest.Spec{Privileged: true}),
			"engine-socket":      base(runtimetest.Spec{Binds: []string{sock + ":" + sock}}),
			"host-pid":           base(runtimetest.Spec{HostPID: true}),
			"cap-sys_admin":      base(runtimetest.Spec{CapAdd: []string{"SYS_ADMIN"}}),
			"host-mount-root":    base(runtimetest.Spec{Binds: []string{"/:/host:ro"}}),
			"seccomp-unconfined": base(runtimetest.Spec{SeccompUnconfined: true}),
			"root-user":          base(runtimetest.Spec{User: "0:0"}),
			"no-memory-limit":    base(runtimetest.Spec{NoLimits: true}),
			"":                   base(runtimetest.Spec{}), // hardened: none of the above
		}
		got := map[string]collect.Assessment{}
		for want, spec := range cases {
			d := h.Create(t, runtimetest.Name(t), spec)
			a, err := collect.Assess(ctx, h.Runtime(), "/proc", d.Container)
			if err != nil {
				t.Fatal(err)
			}
			got[want] = a
		}
		for want, a := range got {
			if want == "" {
				continue
			}
			if !slices.Contains(ids(a), want) {
				t.Errorf("container for %q: findings %v lack it", want, ids(a))
			}
			for other, b := range got {
				if other != want && other != "privileged" && slices.Contains(ids(b), want) {
					t.Errorf("finding %q reported for the %q container too: %v", want, other, ids(b))
				}
			}
		}
		for want, a := range got {
			t.Logf("%-20q score %3d %v", want, a.Score, ids(a))
		}
		hard := got[""]
		for want, a := range got {
			if want != "" && a.Score <= hard.Score {
				t.Errorf("%q container scores %d, not above the hardened one's %d (%v)", want, a.Score, hard.Score, ids(hard))
			}
		}
		for _, f := range got["privileged"].Findings {
			if f.Severity == "" || f.Evidence == "" || f.Why == "" || f.Remedy == "" {
				t.Errorf("finding %+v lacks severity, evidence, why or remedy", f)
			}
		}
		var all []collect.Assessment
		for _, a := range got {
			all = append(all, a)
		}
		collect.Rank(all)
		if all[len(all)-1].Container.ID != hard.Container.ID {
			t.Errorf("hardened container not ranked last")
		}
	})
}

// TestTriageLiveIndicator: a container with the host's PID namespace,
// CAP_SYS_ADMIN and no seccomp or AppArmor enters the mount namespace of a
// host process this test started; triage flags it as outside the container's
// namespaces.
func TestTriageLiveIndicator(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	// A file only the host sees, which the process in the host's mount
	// namespace holds open.
	marker, err := os.CreateTemp("/dev/shm", "fbt-triage-*")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	t.Cleanup(func() { os.Remove(marker.Name()) })
	d, _ := escapingContainer(t, h, "sh -c 'exec 3<"+marker.Name()+"; exec sleep 600'")
	var a collect.Assessment
	runtimetest.Eventually(t, 20e9, "live finding", func() bool {
		var err error
		a, err = collect.Assess(ctx, h.Runtime(), "/proc", d.Container)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(ids(a), "live-outside-namespaces") && slices.Contains(ids(a), "live-host-fd")
	})
	for _, f := range a.Findings {
		if f.ID == "live-outside-namespaces" && (f.Severity != collect.Critical || !strings.Contains(f.Evidence, "mnt namespace")) {
			t.Errorf("live finding %+v", f)
		}
		if f.ID == "live-host-fd" && !strings.Contains(f.Evidence, marker.Name()) {
			t.Errorf("host fd finding names %s, want %s", f.Evidence, marker.Name())
		}
	}
	for _, want := range []string{"host-pid", "cap-sys_admin", "cap-sys_ptrace", "seccomp-unconfined", "apparmor-unconfined"} {
		if !slices.Contains(ids(a), want) {
			t.Errorf("config finding %s missing: %v", want, ids(a))
		}
	}
}

// TestTriageNoLiveFindingsForAQuietContainer: files the container mounts
// (its image, and a file Docker binds from the host's disk) held open are
// not taken for escapes.
func TestTriageNoLiveFindingsForAQuietContainer(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "exec 3</etc/hosts 4</etc/passwd 5</bin; exec sleep 600"}})
	runtimetest.Eventually(t, 10e9, "files held open", func() bool {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(d.Pid) + "/fd/5")
		return l == "/bin"
	})
	a, err := collect.Assess(runtimetest.Context(t), h.Runtime(), "/proc", d.Container)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Findings {
		if f.Kind == "live" {
			t.Errorf("live finding on a quiet container: %+v", f)
		}
	}
}

// TestTriageWritesUnderHostMount: a file the container writes into a
// writable host mount after it started is a live finding, naming the path.
func TestTriageWritesUnderHostMount(t *testing.T) {
	h := runtimetest.Docker(t)
	dir := t.TempDir()
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{
		Binds: []string{dir + ":/hostdir"},
		Cmd:   []string{"sh", "-c", "sleep 1; echo planted > /hostdir/cron-job; exec sleep 600"},
	})
	var a collect.Assessment
	runtimetest.Eventually(t, 20e9, "write under the host mount found", func() bool {
		var err error
		a, err = collect.Assess(runtimetest.Context(t), h.Runtime(), "/proc", d.Container)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(ids(a), "live-host-mount-writes")
	})
	for _, f := range a.Findings {
		if f.ID == "live-host-mount-writes" && !strings.Contains(f.Evidence, dir+"/cron-job") {
			t.Errorf("finding does not name the file: %s", f.Evidence)
		}
	}
}

// TestCollectIndicators: the bundle holds the container's triage as
// indicators.json, and the result counts its findings: configuration ones on
// both engines for a container that never ran, and on Docker the live one of
// a process that entered a host mount namespace.
func TestCollectIndicators(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{CapAdd: []string{"SYS_ADMIN"}})
		store := fileStore(t)
		run, _ := newRun(t, store, "IND-1")
		res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, collect.Options{What: []collect.Collector{collect.WhatIndicators}})
		if err != nil {
			t.Fatal(err)
		}
		var a collect.Assessment
		getJSON(t, store, res.Prefix+"indicators.json", &a)
		if !slices.Contains(ids(a), "cap-sys_admin") || a.Container.ID != d.ID || !slices.Contains(a.Notes, "not running: configuration findings only") {
			t.Errorf("indicators.json: %+v; want cap-sys_admin for %s, noted as not running", a, d.ID)
		}
		if res.Indicators != len(a.Findings) || res.Highest != collect.Critical {
			t.Errorf("result counts %d indicators, highest %q; the file has %d, want critical", res.Indicators, res.Highest, len(a.Findings))
		}
	})
	t.Run("docker-live", func(t *testing.T) {
		h := runtimetest.Docker(t)
		d, _ := escapingContainer(t, h, "sleep 600")
		store := fileStore(t)
		run, _ := newRun(t, store, "IND-2")
		runtimetest.Eventually(t, 20*time.Second, "the nsentered process is an indicator", func() bool {
			res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, collect.Options{What: []collect.Collector{collect.WhatProcesses, collect.WhatIndicators}})
			if err != nil {
				t.Fatal(err)
			}
			var a collect.Assessment
			getJSON(t, store, res.Prefix+"indicators.json", &a)
			return slices.Contains(ids(a), "live-outside-namespaces") && res.Indicators == len(a.Findings)
		})
	})
}
