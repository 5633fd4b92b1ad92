package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"firebreak/runtime"
	"firebreak/runtime/containerd"
)

// ContainerdHarness makes test containers on the real containerd.
type ContainerdHarness struct {
	rt  *containerd.Containerd
	img client.Image
}

// Containerd connects to the daemon or skips (fails in CI).
func Containerd(t testing.TB) *ContainerdHarness {
	t.Helper()
	RequireRoot(t)
	rt, err := containerd.New(envOr("CONTAINERD_ADDRESS", containerd.DefaultAddress), ContainerdNamespace())
	if err != nil {
		SkipOrFail(t, "containerd: %v", err)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ContainerdNamespace()), 30*time.Second)
	defer cancel()
	if _, err := rt.Client().Version(ctx); err != nil {
		rt.Close()
		SkipOrFail(t, "containerd: %v", err)
	}
	img, err := rt.Client().GetImage(ctx, Image())
	if err != nil {
		rt.Close()
		SkipOrFail(t, "containerd test image %s in namespace %s: %v", Image(), ContainerdNamespace(), err)
	}
	if ok, err := img.IsUnpacked(ctx, "overlayfs"); err != nil || !ok {
		if err := img.Unpack(ctx, "overlayfs"); err != nil {
			rt.Close()
			t.Fatalf("unpacking %s: %v", Image(), err)
		}
	}
	t.Cleanup(func() { rt.Close() })
	return &ContainerdHarness{rt: rt, img: img}
}

func (h *ContainerdHarness) Runtime() runtime.Runtime { return h.rt }

// Containerd is the adapter itself.
func (h *ContainerdHarness) Containerd() *containerd.Containerd { return h.rt }

func (h *ContainerdHarness) ctx(t testing.TB) context.Context {
	return namespaces.WithNamespace(Context(t), h.rt.Namespace())
}

func (h *ContainerdHarness) Create(t testing.TB, name string, spec Spec) runtime.Details {
	t.Helper()
	d, _ := h.create(t, name, spec)
	return d
}

func (h *ContainerdHarness) create(t testing.TB, name string, spec Spec) (runtime.Details, client.Container) {
	t.Helper()
	ctx := h.ctx(t)
	labels := map[string]string{Label: t.Name(), containerd.NameLabel: name}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	specOpts := []oci.SpecOpts{oci.WithImageConfig(h.img), oci.WithProcessArgs(sleepCmd(spec)...)}
	if !spec.SeccompUnconfined && !spec.Privileged {
		specOpts = append(specOpts, seccomp.WithDefaultProfile())
	}
	if spec.Privileged {
		specOpts = append(specOpts, oci.WithPrivileged)
	}
	if spec.HostPID {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if len(spec.CapAdd) > 0 {
		var caps []string
		for _, c := range spec.CapAdd {
			caps = append(caps, "CAP_"+c)
		}
		specOpts = append(specOpts, oci.WithAddedCapabilities(caps))
	}
	for _, b := range spec.Binds {
		parts := strings.Split(b, ":")
		opts := []string{"rbind", "rw"}
		if len(parts) > 2 && parts[2] == "ro" {
			opts = []string{"rbind", "ro"}
		}
		specOpts = append(specOpts, oci.WithMounts([]specs.Mount{{Type: "bind", Source: parts[0], Destination: parts[1], Options: opts}}))
	}
	if spec.User != "" {
		specOpts = append(specOpts, oci.WithUser(spec.User))
	}
	if spec.Hardened {
		specOpts = append(specOpts, oci.WithRootFSReadonly(), oci.WithNoNewPrivileges)
		if len(spec.CapAdd) == 0 && !spec.Privileged {
			specOpts = append(specOpts, oci.WithCapabilities(nil))
		}
		if !spec.NoLimits {
			specOpts = append(specOpts, oci.WithMemoryLimit(64<<20), oci.WithPidsLimit(64), oci.WithCPUCFS(50000, 100000))
		}
	}
	switch {
	case spec.HostNetwork:
		specOpts = append(specOpts, oci.WithHostNamespace(specs.NetworkNamespace))
	case spec.NetNS != "":
		specOpts = append(specOpts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNS}))
	}
	// The ID is the name, as nerdctl users often make it; names are unique.
	ctr, err := h.rt.Client().NewContainer(ctx, name,
		client.WithImage(h.img),
		client.WithNewSnapshot(name+"-snapshot", h.img),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(labels),
	)
	if err != nil {
		t.Fatalf("creating test container %s: %v", name, err)
	}
	t.Cleanup(func() { h.Remove(t, name) })
	d, err := h.rt.Inspect(ctx, ctr.ID())
	if err != nil {
		t.Fatal(err)
	}
	return d, ctr
}

func (h *ContainerdHarness) Run(t testing.TB, name string, spec Spec) runtime.Details {
	t.Helper()
	_, ctr := h.create(t, name, spec)
	ctx := h.ctx(t)
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatalf("creating task of %s: %v", name, err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("starting task of %s: %v", name, err)
	}
	d, err := h.rt.Inspect(ctx, name)
	if err != nil || d.State != runtime.StateRunning {
		t.Fatalf("%s not running after start: %v %v", name, d.State, err)
	}
	return d
}

func (h *ContainerdHarness) Remove(t testing.TB, id string) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), h.rt.Namespace()), time.Minute)
	defer cancel()
	ctr, err := h.rt.Client().LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		_ = task.Resume(ctx)
		wait, werr := task.Wait(ctx)
		_ = task.Kill(ctx, syscall.SIGKILL)
		if werr == nil {
			select {
			case <-wait:
			case <-ctx.Done():
			}
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
			t.Logf("deleting task of %s: %v", id, err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		t.Logf("deleting test container %s: %v", id, err)
	}
}

var netSeq atomic.Int32

// Network makes two network namespaces joined by a veth pair, with a /30
// between them, as a CNI plugin would; the victim runs in one, the peer in the
// other. Both are deleted when the test ends.
func (h *ContainerdHarness) Network(t testing.TB) (Spec, Spec, func(runtime.Details) string) {
	t.Helper()
	n := int(netSeq.Add(1))%250 + 1
	rnd := make([]byte, 4)
	_, _ = rand.Read(rnd)
	tag := hex.EncodeToString(rnd) // interface names stay under 16 bytes
	vns, pns := "fbv"+tag, "fbp"+tag
	vip, pip := fmt.Sprintf("10.213.%d.1", n), fmt.Sprintf("10.213.%d.2", n)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", vns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", vns).Run() })
	ip("netns", "add", pns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", pns).Run() })
	ip("link", "add", "fbv"+tag, "type", "veth", "peer", "name", "fbp"+tag)
	ip("link", "set", "fbv"+tag, "netns", vns)
	ip("link", "set", "fbp"+tag, "netns", pns)
	ip("-n", vns, "addr", "add", vip+"/30", "dev", "fbv"+tag)
	ip("-n", pns, "addr", "add", pip+"/30", "dev", "fbp"+tag)
	for _, ns := range []string{vns, pns} {
		ip("-n", ns, "link", "set", "lo", "up")
	}
	ip("-n", vns, "link", "set", "fbv"+tag, "up")
	ip("-n", pns, "link", "set", "fbp"+tag, "up")
	addrs := map[string]string{"/var/run/netns/" + vns: vip, "/var/run/netns/" + pns: pip}
	addr := func(d runtime.Details) string { return addrs[d.NetNSPath] }
	return Spec{NetNS: "/var/run/netns/" + vns}, Spec{NetNS: "/var/run/netns/" + pns}, addr
}
