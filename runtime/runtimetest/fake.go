package runtimetest

import (
	"slices"
	"strings"
	"testing"

	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// FakeHarness makes test containers on the in-process fake engine
// (runtime/fake), for tests of pure logic. Its containers have no processes:
// it says so through Capabilities, so the subtests that need one skip, and a
// spec that asks for a command or a network namespace skips the test.
type FakeHarness struct {
	e *fake.Engine
}

var _ Capabilities = (*FakeHarness)(nil)

// Fake returns a harness on a new fake engine of the test's own.
func Fake(t testing.TB) *FakeHarness {
	t.Helper()
	return &FakeHarness{e: fake.New()}
}

func (h *FakeHarness) Runtime() runtime.Runtime { return h.e }

// Engine is the fake itself, for fault injection and call counts.
func (h *FakeHarness) Engine() *fake.Engine { return h.e }

// Processes is false: the fake's containers are records in memory.
func (h *FakeHarness) Processes() bool { return false }

// Create records a container as the spec describes it. The spec's security
// settings are recorded as given, not as an engine would compute them (no
// default capabilities, for one): a test of how an engine reports security
// runs against Docker or containerd.
func (h *FakeHarness) Create(t testing.TB, name string, spec Spec) runtime.Details {
	t.Helper()
	if len(spec.Cmd) > 0 || spec.NetNS != "" {
		t.Skip("fake engine has no processes: a spec with a command or a network namespace needs a real engine")
	}
	labels := map[string]string{Label: t.Name()}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	opts := []fake.Option{fake.WithImage(Image()), fake.WithLabels(labels), fake.WithSecurity(fakeSecurity(spec))}
	if spec.HostNetwork {
		opts = append(opts, fake.WithNetworkMode(runtime.NetworkMode{Kind: "host"}))
	}
	if spec.Network != "" {
		opts = append(opts, fake.WithNetwork(spec.Network, spec.Aliases...))
	}
	d := h.e.Create(name, opts...)
	t.Cleanup(func() { h.Remove(t, d.ID) })
	return d
}

func (h *FakeHarness) Run(t testing.TB, name string, spec Spec) runtime.Details {
	t.Helper()
	d := h.Create(t, name, spec)
	h.e.Start(d.ID)
	return Inspect(t, h, d.ID)
}

func (h *FakeHarness) Remove(t testing.TB, id string) { h.e.Remove(id) }

// Network puts victim and peer on a network of the fake's, as the Docker
// harness does; their addresses there are data only and reach nothing, so
// addr skips the test that asks for one.
func (h *FakeHarness) Network(t testing.TB) (Spec, Spec, func(runtime.Details) string) {
	net := h.e.AddNetwork(Name(t), false).Name
	addr := func(d runtime.Details) string {
		t.Helper()
		t.Skipf("fake engine has no processes: the address of %s on %s reaches nothing", d.Name, net)
		return ""
	}
	return Spec{Network: net, Aliases: []string{"victim"}}, Spec{Network: net, Aliases: []string{"peer"}}, addr
}

func fakeSecurity(spec Spec) runtime.Security {
	s := runtime.Security{
		Privileged:   spec.Privileged,
		Capabilities: slices.Sorted(slices.Values(spec.CapAdd)),
		Seccomp:      "default",
		User:         spec.User,
	}
	if spec.HostPID {
		s.HostNamespaces = append(s.HostNamespaces, "pid")
	}
	for _, o := range spec.SecurityOpt {
		k, v, _ := strings.Cut(o, "=")
		switch {
		case k == "seccomp" && v == "unconfined":
			s.Seccomp = "unconfined"
		case k == "seccomp":
			s.Seccomp = "custom"
		case k == "apparmor":
			s.AppArmor = v
		case k == "no-new-privileges":
			s.NoNewPrivileges = v == "" || v == "true"
		}
	}
	if spec.SeccompUnconfined || spec.Privileged {
		s.Seccomp = "unconfined"
	}
	if spec.Hardened {
		s.ReadonlyRootfs, s.NoNewPrivileges = true, true
		if !spec.NoLimits {
			s.MemoryLimit, s.CPULimited, s.PidsLimit = 64<<20, true, 64
		}
	}
	for _, b := range spec.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		s.Mounts = append(s.Mounts, runtime.Mount{Type: "bind", Source: parts[0], Destination: parts[1], RW: len(parts) < 3 || parts[2] != "ro"})
	}
	return s
}
