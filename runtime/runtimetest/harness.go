package runtimetest

import (
	"testing"
	"time"

	"firebreak/runtime"
)

// Spec describes a test container.
type Spec struct {
	Cmd         []string // default: sleep for an hour
	HostNetwork bool
	Network     string   // Docker: user network to attach (created by the test)
	Aliases     []string // Docker: aliases on Network
	IPv4        string   // Docker: a static address on Network (it needs a configured subnet: SubnetNetwork)
	Links       []string // Docker: legacy links, "name:alias"
	JoinNetNS   string   // Docker: run in this container's network namespace (--network container:X)
	NetNS       string   // containerd: path of a network namespace to join
	Labels      map[string]string
	HostPID     bool     // share the host's PID namespace
	CapAdd      []string // capabilities to add, e.g. SYS_ADMIN
	SecurityOpt []string // Docker: e.g. seccomp=unconfined
	Privileged  bool
	Binds       []string // "source:destination[:ro]"
	User        string   // e.g. "1000:1000"
	// Hardened: read-only root, memory/CPU/PID limits, no-new-privileges,
	// every capability dropped, the engine's default seccomp profile.
	Hardened bool
	NoLimits bool // with Hardened: leave out the limits
	// SeccompUnconfined: containerd: no seccomp filter (Docker: SecurityOpt).
	SeccompUnconfined bool

	// Docker only (the CIS fleet test): the other harnesses ignore these.
	// The hardening pieces one at a time, for a container hardened but
	// for one of them (Hardened sets them all).
	CapDrop        []string // e.g. ALL
	ReadonlyRootfs bool
	Memory         int64 // bytes
	NanoCPUs       int64
	PidsLimit      int64
	HostIPC        bool
	HostUTS        bool
	HostCgroupns   bool // --cgroupns=host
	HostUserns     bool // --userns=host
	// SystemPathsUnconfined: nothing masked or read-only under /proc and
	// /sys (--security-opt systempaths=unconfined).
	SystemPathsUnconfined bool
	Devices               []string      // "/dev/host[:/dev/container[:rwm]]"
	DeviceCgroupRules     []string      // "b *:* rwm"
	Publish               []string      // "[hostIP:]hostPort:containerPort[/proto]"
	Restart               string        // "always", "on-failure:5"
	Healthcheck           []string      // e.g. {"CMD", "true"}
	HealthInterval        time.Duration // default 30s
	CgroupParent          string
	Ulimits               []string // "nofile=1024:2048"
	Entrypoint            []string
}

// Harness makes test containers on one engine.
type Harness interface {
	// Runtime is the adapter under test.
	Runtime() runtime.Runtime
	// Run creates and starts a container and waits until it runs. It is
	// removed when the test ends.
	Run(t testing.TB, name string, spec Spec) runtime.Details
	// Create creates a container without starting it.
	Create(t testing.TB, name string, spec Spec) runtime.Details
	// Remove deletes a container at once, running or not.
	Remove(t testing.TB, id string)
	// Network gives a running container a peer it can reach: for Docker a
	// user network both join, for containerd a veth pair between two
	// namespaces made for the test. It returns the specs to run the victim
	// and the peer with, and a function giving a container's address once
	// it runs.
	Network(t testing.TB) (victim, peer Spec, addr func(d runtime.Details) string)
}

// Capabilities is implemented by a harness whose engine lacks part of what a
// real engine has. A harness that does not implement it has everything, and
// every subtest runs against it in full.
type Capabilities interface {
	// Processes reports whether the engine's containers are processes on
	// this host, with PIDs, network namespaces and reachable addresses.
	Processes() bool
}

// RequireProcesses skips the rest of a test whose harness says its engine
// has no processes (the fake); against a real engine it does nothing.
func RequireProcesses(t testing.TB, h Harness) {
	t.Helper()
	if c, ok := h.(Capabilities); ok && !c.Processes() {
		t.Skipf("%s engine has no processes: nothing here to check PIDs, namespaces or addresses against", h.Runtime().Name())
	}
}

func sleepCmd(s Spec) []string {
	if len(s.Cmd) > 0 {
		return s.Cmd
	}
	return []string{"sleep", "3600"}
}

// Inspect is the engine's view of a test container, failing the test if it
// cannot be read.
func Inspect(t testing.TB, h Harness, id string) runtime.Details {
	t.Helper()
	d, err := h.Runtime().Inspect(Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
