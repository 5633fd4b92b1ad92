package docker_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"firebreak/runtime"
	"firebreak/runtime/docker"
	"firebreak/runtime/runtimetest"
)

// TestRecreateHardened recreates a privileged, unconfined container with
// hardening and reads the result back from the engine: inspect has every
// setting, the adapter's security reading agrees, the container runs (the
// privileged original cannot start on this host), and inside it the root is
// read-only, /tmp writable and no-new-privileges set. A hardening that
// would not harden is refused before anything is made.
func TestRecreateHardened(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Docker()
	ctx := runtimetest.Context(t)
	base := recreateName()
	vol := makeVolume(t, d, base+"-data")
	resp, err := d.API().ContainerCreate(ctx,
		&container.Config{Image: runtimetest.Image(), Cmd: []string{"sleep", "600"}, Labels: map[string]string{runtimetest.Label: t.Name()}},
		&container.HostConfig{
			Privileged: true, CapAdd: []string{"SYS_ADMIN"}, SecurityOpt: []string{"seccomp=unconfined"},
			Binds: []string{vol + ":/data"}, MaskedPaths: []string{}, ReadonlyPaths: []string{},
		}, nil, nil, base+"-orig")
	if err != nil {
		t.Fatalf("creating the original: %v", err)
	}
	removeAtEnd(t, d, resp.ID)
	_, raw := inspectRaw(t, d, resp.ID)

	_, err = d.Recreate(ctx, runtime.RecreateSpec{Config: raw, Name: base + "-refused", Harden: &runtime.Hardening{User: "root"}})
	if err == nil || !strings.Contains(err.Error(), "is root") {
		t.Errorf("Recreate hardened to root = %v, want a refusal", err)
	}
	notExists(t, d, base+"-refused")

	hd := runtime.Hardening{Tmpfs: []string{"/tmp", "/data"}, KeepCaps: []string{"NET_BIND_SERVICE", "CHOWN"}, User: "1000:1000", PidsLimit: 128}
	changes, err := docker.HardeningChanges(raw, hd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hardening changes:\n  %s", strings.Join(changes, "\n  "))
	if len(changes) != 10 {
		t.Errorf("%d changes, want 10 (privileged, caps, nnp, seccomp, system paths, root fs, user, memory, CPU, PIDs):\n  %s", len(changes), strings.Join(changes, "\n  "))
	}
	id, err := d.Recreate(ctx, runtime.RecreateSpec{Config: raw, Name: base + "-hard", Harden: &hd})
	if err != nil {
		t.Fatalf("Recreate hardened: %v", err)
	}
	removeAtEnd(t, d, id)
	got, gotRaw := inspectRaw(t, d, id)
	hc := got.HostConfig
	_, tmp := hc.Tmpfs["/tmp"]
	_, data := hc.Tmpfs["/data"]
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"not privileged", !hc.Privileged},
		{"read-only root filesystem", hc.ReadonlyRootfs},
		{"tmpfs at /tmp", tmp},
		{"/data keeps its volume, no tmpfs", !data && mountAt(got, "/data").Name == vol},
		{"capabilities dropped: CapDrop [ALL]", slices.Equal(hc.CapDrop, []string{"ALL"})},
		{"capabilities kept: CapAdd [CAP_CHOWN CAP_NET_BIND_SERVICE]", slices.Equal(slices.Sorted(slices.Values(hc.CapAdd)), []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"})},
		{"no-new-privileges", slices.Contains(hc.SecurityOpt, "no-new-privileges")},
		{"no seccomp=unconfined", !slices.Contains(hc.SecurityOpt, "seccomp=unconfined")},
		{"the engine's masked paths", len(hc.MaskedPaths) > 0 && len(hc.ReadonlyPaths) > 0},
		{"user 1000:1000", got.Config.User == "1000:1000"},
		{"memory 512 MiB", hc.Memory == runtime.DefaultHardenMemory},
		{"one CPU", hc.NanoCPUs == runtime.DefaultHardenNanoCPUs},
		{"128 PIDs", hc.PidsLimit != nil && *hc.PidsLimit == 128},
	} {
		if !c.ok {
			t.Errorf("hardened container: not %s (HostConfig %+v)", c.what, *hc)
		}
	}
	again, err := docker.HardeningChanges(gotRaw, hd)
	if err != nil || len(again) != 0 {
		t.Errorf("hardening the hardened container again changes %q, %v; want nothing", again, err)
	}
	det, err := d.Inspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s := det.Security; s.Privileged || s.Seccomp != "default" || !s.NoNewPrivileges || !s.ReadonlyRootfs ||
		!slices.Equal(s.Capabilities, []string{"CHOWN", "NET_BIND_SERVICE"}) {
		t.Errorf("the adapter reads the hardened container as %+v", s)
	}

	startRunning(t, d, id)
	for _, c := range []struct {
		cmd  []string
		want int
	}{
		{[]string{"touch", "/rootfile"}, 1},
		{[]string{"touch", "/tmp/ok"}, 0},
		{[]string{"grep", "-q", "^NoNewPrivs:[[:space:]]*1", "/proc/self/status"}, 0},
		{[]string{"sh", "-c", `[ "$(id -u)" = 1000 ]`}, 0},
	} {
		if code := execCode(t, d, id, c.cmd...); code != c.want {
			t.Errorf("%q in the hardened container exited %d, want %d", c.cmd, code, c.want)
		}
	}
}

// execCode runs a command in a running container and returns its exit code.
func execCode(t *testing.T, d *docker.Docker, id string, cmd ...string) int {
	t.Helper()
	ctx := runtimetest.Context(t)
	e, err := d.API().ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	if err := d.API().ContainerExecStart(ctx, e.ID, container.ExecStartOptions{Detach: true}); err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	var st container.ExecInspect
	runtimetest.Eventually(t, 30*time.Second, strings.Join(cmd, " ")+" done", func() bool {
		st, err = d.API().ContainerExecInspect(ctx, e.ID)
		return err == nil && !st.Running && st.Pid != 0
	})
	return st.ExitCode
}
