package collect

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"firebreak/evidence/storetest"
	"firebreak/internal/testenv"
)

// TestFrozen reads the freezer of a process's cgroup: cgroup v1's
// freezer.state, or cgroup v2's cgroup.events (at the root of a v2 host, or
// under unified/ on a hybrid one).
func TestFrozen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cgroup string            // /proc/PID/cgroup
		files  map[string]string // under the cgroup root
		want   bool
		how    string // in how, or in the error when err
		err    bool
	}{
		{"V1Frozen", "6:freezer:/docker/abc\n0::/system.slice/docker-abc.scope\n", map[string]string{"freezer/docker/abc/freezer.state": "FROZEN\n"}, true, "freezer.state: FROZEN", false},
		{"V1Freezing", "6:freezer:/docker/abc\n", map[string]string{"freezer/docker/abc/freezer.state": "FREEZING\n"}, false, "FREEZING", false},
		{"V1Thawed", "3:cpu,freezer:/docker/abc\n", map[string]string{"freezer/docker/abc/freezer.state": "THAWED\n"}, false, "THAWED", false},
		{"V1Unreadable", "6:freezer:/docker/gone\n", nil, false, "freezer state", true},
		{"V2Frozen", "0::/system.slice/docker-abc.scope\n", map[string]string{"system.slice/docker-abc.scope/cgroup.events": "populated 1\nfrozen 1\n"}, true, "frozen 1", false},
		{"V2Thawed", "0::/kubepods/pod1/abc\n", map[string]string{"kubepods/pod1/abc/cgroup.events": "populated 1\nfrozen 0\n"}, false, "frozen 0", false},
		{"V2Hybrid", "0::/docker/abc\n1:name=systemd:/docker/abc\n", map[string]string{"unified/docker/abc/cgroup.events": "populated 1\nfrozen 1\n"}, true, "unified", false},
		{"V2NoFrozenLine", "0::/old\n", map[string]string{"old/cgroup.events": "populated 1\n"}, false, "no frozen line", true},
		{"Climbing", "6:freezer:/../../../etc\n", map[string]string{"freezer/etc/freezer.state": "FROZEN\n"}, true, "freezer/etc", false},
		{"None", "1:name=systemd:/x\n", nil, false, "no freezer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, cg := t.TempDir(), t.TempDir()
			write(t, filepath.Join(proc, "42/cgroup"), tc.cgroup)
			for name, text := range tc.files {
				write(t, filepath.Join(cg, name), text)
			}
			got, how, err := frozen(proc, cg, 42)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), tc.how) {
					t.Errorf("frozen = %v, %q, %v; want an error saying %q", got, how, err, tc.how)
				}
				return
			}
			if err != nil || got != tc.want || !strings.Contains(how, tc.how) || !strings.HasPrefix(how, cg) {
				t.Errorf("frozen = %v, %q, %v; want %v and %q, under the cgroup root", got, how, err, tc.want, tc.how)
			}
		})
	}
	if _, _, err := frozen(t.TempDir(), t.TempDir(), 42); err == nil {
		t.Error("no error for a process without a cgroup file")
	}
}

func write(t *testing.T, p, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCoreProcessOf(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "stat"), statText(7, "a) (b", "S", 1, 99)+"\n")
	p := &Process{PID: 7, PPID: 1, Comm: "a) (b", Cmdline: []string{"sh", "-c", "x"}, UIDs: []int{1000, 0, 0, 0}, GIDs: []int{50}}
	cp, err := coreProcessOf(dir, p)
	if err != nil {
		t.Fatal(err)
	}
	// statText: pgrp and session are the PID; nice is 0.
	if cp != (coreProcess{PID: 7, PPID: 1, PGRP: 7, SID: 7, UID: 1000, GID: 50, State: 'S', Comm: "a) (b", Args: "sh -c x"}) {
		t.Errorf("coreProcessOf = %+v", cp)
	}
	write(t, filepath.Join(dir, "stat"), "7 (x) S 1")
	if _, err := coreProcessOf(dir, p); err == nil {
		t.Error("a short stat accepted")
	}
}

// TestCoreOfAStoppedProcessInGDB writes the core of a host shell that holds
// a marker built at run time (so in its heap, not its arguments) and reads
// it back with gdb.
func TestCoreOfAStoppedProcessInGDB(t *testing.T) {
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		testenv.SkipOrFail(t, "gdb is not installed (apt-get install gdb)")
	}
	cmd := exec.Command("/bin/sh", "-c", `m=FB; m="${m}MARK$((6*7))XYZ"; sleep 1000; echo "$m"`)
	// A group of its own, killed whole at the end: the shell's sleep must
	// not outlive the test (it would hold every descriptor the test
	// inherited, a lock among them).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	waitFor(t, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		return len(b) > 0
	})
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	c, store := testCollection(t, pid)
	// Only the shell: the processes of this test's cgroup are not its own.
	pr := newProcReader("/proc")
	p, err := pr.basic(pid)
	if err != nil {
		t.Fatal(err)
	}
	pr.details(p)
	arch, err := hostArch()
	if err != nil {
		t.Skip(err)
	}
	left := int64(1 << 40)
	mc, err := c.core(p, arch, 1<<30, &left)
	if err != nil || mc.Core == "" {
		t.Fatalf("core: %v %+v", err, mc)
	}
	core := filepath.Join(t.TempDir(), "core")
	b := storetest.Read(t, store, c.res.Prefix+mc.Core)
	if err := os.WriteFile(core, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("FBMARK42XYZ")) {
		t.Error("the shell's variable is not in its core")
	}
	if mc.Captured == 0 || mc.Captured > uint64(len(b)) || mc.Size != int64(len(b)) || mc.Mappings == 0 || len(mc.Threads) != 1 || mc.Truncated {
		t.Errorf("core summary %+v", mc)
	}
	out, err := exec.Command(gdb, "-batch", "-nx", "-c", core, "/proc/"+strconv.Itoa(pid)+"/exe", "-ex", "info proc mappings").CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	t.Logf("gdb:\n%s", out)
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if !strings.Contains(string(out), exe) || !strings.Contains(string(out), "Start Addr") {
		t.Errorf("gdb does not list the executable's mappings:\n%s", out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}
