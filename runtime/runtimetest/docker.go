package runtimetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"

	"firebreak/runtime"
	"firebreak/runtime/docker"
)

// DockerHarness makes test containers on the real Docker Engine.
type DockerHarness struct {
	rt *docker.Docker
}

// Docker connects to the engine or skips (fails in CI).
func Docker(t testing.TB) *DockerHarness {
	t.Helper()
	RequireRoot(t)
	rt, err := docker.New("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.Ping(ctx); err != nil {
		rt.Close()
		SkipOrFail(t, "docker: %v", err)
	}
	if _, err := rt.API().ImageInspect(ctx, Image()); err != nil {
		rt.Close()
		SkipOrFail(t, "docker test image %s: %v", Image(), err)
	}
	t.Cleanup(func() { rt.Close() })
	return &DockerHarness{rt: rt}
}

func (h *DockerHarness) Runtime() runtime.Runtime { return h.rt }

// Docker is the adapter itself.
func (h *DockerHarness) Docker() *docker.Docker { return h.rt }

func (h *DockerHarness) Create(t testing.TB, name string, spec Spec) runtime.Details {
	t.Helper()
	ctx := Context(t)
	labels := map[string]string{Label: t.Name()}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	hc := &container.HostConfig{}
	nc := &network.NetworkingConfig{}
	if spec.HostNetwork {
		hc.NetworkMode = "host"
	}
	if spec.HostPID {
		hc.PidMode = "host"
	}
	hc.CapAdd, hc.SecurityOpt = spec.CapAdd, spec.SecurityOpt
	hc.Privileged, hc.Binds = spec.Privileged, spec.Binds
	if spec.SeccompUnconfined {
		hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined")
	}
	if spec.Hardened {
		hc.ReadonlyRootfs = true
		hc.CapDrop = []string{"ALL"}
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges")
		if !spec.NoLimits {
			pids := int64(64)
			hc.Resources = container.Resources{Memory: 64 << 20, NanoCPUs: 500_000_000, PidsLimit: &pids}
		}
	}
	cfg := &container.Config{Image: Image(), Cmd: sleepCmd(spec), Labels: labels, User: spec.User}
	if err := dockerExtras(spec, cfg, hc); err != nil {
		t.Fatalf("test container %s: %v", name, err)
	}
	hc.Links = spec.Links
	if spec.JoinNetNS != "" {
		hc.NetworkMode = container.NetworkMode("container:" + spec.JoinNetNS)
	}
	if spec.Network != "" {
		hc.NetworkMode = container.NetworkMode(spec.Network)
		es := &network.EndpointSettings{Aliases: spec.Aliases}
		if spec.IPv4 != "" {
			es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: spec.IPv4}
		}
		nc.EndpointsConfig = map[string]*network.EndpointSettings{spec.Network: es}
	}
	resp, err := h.rt.API().ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil {
		t.Fatalf("creating test container %s: %v", name, err)
	}
	t.Cleanup(func() { h.Remove(t, resp.ID) })
	d, err := h.rt.Inspect(ctx, resp.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dockerExtras maps the Docker-only fields of a Spec onto the container's
// configuration, as the docker CLI would.
func dockerExtras(spec Spec, cfg *container.Config, hc *container.HostConfig) error {
	hc.CapDrop = append(hc.CapDrop, spec.CapDrop...)
	hc.ReadonlyRootfs = hc.ReadonlyRootfs || spec.ReadonlyRootfs
	if spec.Memory > 0 {
		hc.Memory = spec.Memory
	}
	if spec.NanoCPUs > 0 {
		hc.NanoCPUs = spec.NanoCPUs
	}
	if spec.PidsLimit > 0 {
		hc.PidsLimit = &spec.PidsLimit
	}
	if spec.HostIPC {
		hc.IpcMode = "host"
	}
	if spec.HostUTS {
		hc.UTSMode = "host"
	}
	if spec.HostCgroupns {
		hc.CgroupnsMode = container.CgroupnsModeHost
	}
	if spec.HostUserns {
		hc.UsernsMode = "host"
	}
	if spec.SystemPathsUnconfined {
		hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{} // what the CLI sends
	}
	for _, d := range spec.Devices {
		parts := strings.Split(d, ":")
		m := container.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
		if len(parts) > 1 {
			m.PathInContainer = parts[1]
		}
		if len(parts) > 2 {
			m.CgroupPermissions = parts[2]
		}
		hc.Devices = append(hc.Devices, m)
	}
	hc.DeviceCgroupRules = spec.DeviceCgroupRules
	if len(spec.Publish) > 0 {
		exposed, bindings, err := nat.ParsePortSpecs(spec.Publish)
		if err != nil {
			return fmt.Errorf("ports %v: %w", spec.Publish, err)
		}
		cfg.ExposedPorts, hc.PortBindings = exposed, bindings
	}
	if spec.Restart != "" {
		name, n, _ := strings.Cut(spec.Restart, ":")
		hc.RestartPolicy.Name = container.RestartPolicyMode(name)
		if n != "" {
			retries, err := strconv.Atoi(n)
			if err != nil {
				return fmt.Errorf("restart %q: %w", spec.Restart, err)
			}
			hc.RestartPolicy.MaximumRetryCount = retries
		}
	}
	if len(spec.Healthcheck) > 0 {
		iv := spec.HealthInterval
		if iv == 0 {
			iv = 30 * time.Second
		}
		cfg.Healthcheck = &container.HealthConfig{Test: spec.Healthcheck, Interval: iv, Retries: 2}
	}
	hc.CgroupParent = spec.CgroupParent
	for _, u := range spec.Ulimits {
		name, limits, _ := strings.Cut(u, "=")
		soft, hard, _ := strings.Cut(limits, ":")
		s, err1 := strconv.ParseInt(soft, 10, 64)
		h, err2 := strconv.ParseInt(hard, 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("ulimit %q: want name=soft:hard", u)
		}
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: name, Soft: s, Hard: h})
	}
	cfg.Entrypoint = spec.Entrypoint
	return nil
}

func (h *DockerHarness) Run(t testing.TB, name string, spec Spec) runtime.Details {
	t.Helper()
	d := h.Create(t, name, spec)
	ctx := Context(t)
	if err := h.rt.API().ContainerStart(ctx, d.ID, container.StartOptions{}); err != nil {
		t.Fatalf("starting test container %s: %v", name, err)
	}
	var err error
	Eventually(t, 30*time.Second, name+" running", func() bool {
		d, err = h.rt.Inspect(ctx, d.ID)
		return err == nil && d.State == runtime.StateRunning
	})
	return d
}

func (h *DockerHarness) Remove(t testing.TB, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = h.rt.API().ContainerUnpause(ctx, id)
	err := h.rt.API().ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Logf("removing test container %s: %v", id, err)
	}
}

// Volume creates a named volume, removed when the test ends, and returns
// its directory on the host.
func (h *DockerHarness) Volume(t testing.TB, name string) string {
	t.Helper()
	ctx := Context(t)
	v, err := h.rt.API().VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: map[string]string{Label: t.Name()}})
	if err != nil {
		t.Fatalf("creating test volume %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.rt.API().VolumeRemove(ctx, name, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("removing test volume %s: %v", name, err)
		}
	})
	return v.Mountpoint
}

// RemoveByLabel removes, when the test ends, every container and volume
// labelled key=value (what a recover made under a case).
func (h *DockerHarness) RemoveByLabel(t testing.TB, key, value string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", key+"="+value))
		if cs, err := h.rt.API().ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err == nil {
			for _, c := range cs {
				h.Remove(t, c.ID)
			}
		}
		if vs, err := h.rt.API().VolumeList(ctx, volume.ListOptions{Filters: f}); err == nil {
			for _, v := range vs.Volumes {
				_ = h.rt.API().VolumeRemove(ctx, v.Name, true)
			}
		}
	})
}

// UserNetwork creates a user-defined bridge network removed when the test ends.
func (h *DockerHarness) UserNetwork(t testing.TB, name string, internal bool) string {
	t.Helper()
	ctx := Context(t)
	_, err := h.rt.API().NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Internal: internal, Labels: map[string]string{Label: t.Name()}})
	if err != nil {
		t.Fatalf("creating test network %s: %v", name, err)
	}
	h.removeNetworkAtEnd(t, name)
	return name
}

// removeNetworkAtEnd removes a test network when the test ends.
func (h *DockerHarness) removeNetworkAtEnd(t testing.TB, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.rt.API().NetworkRemove(ctx, name); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("removing test network %s: %v", name, err)
		}
	})
}

// SubnetNetwork makes a user network with a configured IPv4 /24 (so static
// addresses can be asked for), removed when the test ends. It returns the
// network's name and the subnet's first three octets ("172.31.7").
func (h *DockerHarness) SubnetNetwork(t testing.TB, name string) (string, string) {
	t.Helper()
	for try := 0; try < 20; try++ {
		b := make([]byte, 1)
		_, _ = rand.Read(b)
		prefix := fmt.Sprintf("172.31.%d", 100+int(b[0])%150)
		_, err := h.rt.API().NetworkCreate(Context(t), name, network.CreateOptions{
			Driver: "bridge", Labels: map[string]string{Label: t.Name()},
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: prefix + ".0/24", Gateway: prefix + ".1"}}},
		})
		if err == nil {
			h.removeNetworkAtEnd(t, name)
			return name, prefix
		}
		if !strings.Contains(err.Error(), "overlap") {
			t.Fatalf("creating test network %s: %v", name, err)
		}
	}
	t.Fatalf("creating test network %s: no free 172.31.x.0/24", name)
	return "", ""
}

// IPv6Network makes a user network with IPv4 and a random unique-local
// IPv6 /64, removed when the test ends.
func (h *DockerHarness) IPv6Network(t testing.TB, name string) string {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	subnet := fmt.Sprintf("fd%02x:%02x%02x:%02x%02x::/64", b[0], b[1], b[2], b[3], b[4])
	v6 := true
	_, err := h.rt.API().NetworkCreate(Context(t), name, network.CreateOptions{
		Driver: "bridge", EnableIPv6: &v6, Labels: map[string]string{Label: t.Name()},
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}},
	})
	if err != nil {
		t.Fatalf("creating IPv6 test network %s (%s): %v", name, subnet, err)
	}
	h.removeNetworkAtEnd(t, name)
	return name
}

func (h *DockerHarness) Network(t testing.TB) (Spec, Spec, func(runtime.Details) string) {
	net := h.UserNetwork(t, Name(t), false)
	addr := func(d runtime.Details) string {
		for _, a := range d.Networks {
			if a.Network == net {
				return a.IPv4Address
			}
		}
		t.Fatalf("%s is not attached to %s", d.Name, net)
		return ""
	}
	return Spec{Network: net, Aliases: []string{"victim"}}, Spec{Network: net, Aliases: []string{"peer"}}, addr
}
