package containerd

// What a container's OCI spec and labels say of its isolation, restart
// policy, published ports and devices.

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"firebreak/runtime"
)

// securityOf reads isolation settings from the OCI spec and, for what the
// spec does not hold, the labels nerdctl and containerd's restart monitor
// write. containerd has no "privileged" flag; a spec with every capability
// and no seccomp filter is what nerdctl and ctr make of --privileged.
//
// Left empty because containerd cannot tell: a health check (containerd
// has none; Kubernetes probes live in the kubelet), an explicit host user
// namespace as opposed to the default (HostUserns), engine-wide user
// namespace remapping (there is none), the cgroup parent (clients always
// write a full cgroups path, so a non-default parent cannot be told), and
// published ports, the network and the restart policy of containers not
// made by nerdctl (CNI and the kubelet keep those).
func securityOf(spec *specs.Spec, labels map[string]string) runtime.Security {
	s := runtime.Security{Seccomp: "unconfined", CgroupVersion: hostCgroupVersion()}
	s.RestartPolicy, s.RestartRetries = restartOf(labels)
	s.Ports = portsOf(labels)
	var nets []string
	if json.Unmarshal([]byte(labels[nerdctlNetworksLabel]), &nets) == nil {
		s.DefaultBridge = slices.Contains(nets, "bridge")
	}
	if spec == nil {
		return s
	}
	if p := spec.Process; p != nil {
		if p.Capabilities != nil {
			for _, c := range p.Capabilities.Effective {
				s.Capabilities = append(s.Capabilities, strings.TrimPrefix(c, "CAP_"))
			}
			sort.Strings(s.Capabilities)
		}
		s.AppArmor = p.ApparmorProfile
		s.SELinux = p.SelinuxLabel
		s.NoNewPrivileges = p.NoNewPrivileges
		s.User = strconv.FormatUint(uint64(p.User.UID), 10)
		s.Command = slices.Clone(p.Args)
		for _, r := range p.Rlimits {
			if r.Type == "RLIMIT_NOFILE" && r.Soft == 1024 && r.Hard == 1024 {
				continue // containerd's default spec
			}
			s.Ulimits = append(s.Ulimits, fmt.Sprintf("%s=%d:%d", strings.ToLower(strings.TrimPrefix(r.Type, "RLIMIT_")), r.Soft, r.Hard))
		}
	}
	if spec.Root != nil {
		s.ReadonlyRootfs = spec.Root.Readonly
	}
	if l := spec.Linux; l != nil {
		present := map[specs.LinuxNamespaceType]bool{}
		for _, ns := range l.Namespaces {
			present[ns.Type] = true
		}
		for _, n := range []struct {
			t    specs.LinuxNamespaceType
			name string
		}{{specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "network"}, {specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.CgroupNamespace, "cgroup"}} {
			if !present[n.t] {
				s.HostNamespaces = append(s.HostNamespaces, n.name)
			}
		}
		s.UserNamespace = present[specs.UserNamespace]
		if l.Seccomp != nil {
			s.Seccomp = "custom"
			if l.Seccomp.DefaultAction == specs.ActErrno && len(l.Seccomp.Syscalls) > 100 {
				s.Seccomp = "default"
			}
		}
		if r := l.Resources; r != nil {
			if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit > 0 {
				s.MemoryLimit = *r.Memory.Limit
			}
			if r.CPU != nil && r.CPU.Quota != nil && *r.CPU.Quota > 0 {
				s.CPULimited = true
			}
			if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit > 0 {
				s.PidsLimit = *r.Pids.Limit
			}
			s.DeviceCgroupRules = deviceRulesOf(r.Devices)
		}
		for _, dv := range l.Devices {
			s.Devices = append(s.Devices, dv.Path)
		}
		s.SystemPathsUnconfined = !slices.Contains(l.ReadonlyPaths, "/proc/sys")
	}
	s.Privileged = len(s.Capabilities) >= 38 && s.Seccomp == "unconfined"
	if s.Privileged {
		s.SystemPathsUnconfined = false // said by privileged
	}
	for _, m := range spec.Mounts {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if !bind {
			continue
		}
		mt := runtime.Mount{Type: "bind", Source: m.Source, Destination: m.Destination, RW: !slices.Contains(m.Options, "ro")}
		for _, o := range m.Options {
			switch o {
			case "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
				mt.Propagation = o
			}
		}
		s.Mounts = append(s.Mounts, mt)
	}
	return s
}

// The labels nerdctl and containerd's restart monitor keep on a container.
const (
	nerdctlPortsLabel    = "nerdctl/ports"    // JSON []gocni.PortMapping
	nerdctlNetworksLabel = "nerdctl/networks" // JSON []string, "bridge" the default network
	restartStatusLabel   = "containerd.io/restart.status"
	restartPolicyLabel   = "containerd.io/restart.policy" // "always", "on-failure:3", "unless-stopped", "no"
)

// restartOf reads the restart monitor's policy ("" when the container is
// not under it): a status label without a policy means always.
func restartOf(labels map[string]string) (string, int) {
	p := labels[restartPolicyLabel]
	if p == "" {
		if labels[restartStatusLabel] == "" {
			return "", 0
		}
		p = "always"
	}
	name, n, _ := strings.Cut(p, ":")
	retries, _ := strconv.Atoi(n)
	return name, retries
}

// portsOf reads the ports nerdctl published.
func portsOf(labels map[string]string) []runtime.PublishedPort {
	var pm []struct {
		HostPort      int
		ContainerPort int
		Protocol      string
		HostIP        string
	}
	if json.Unmarshal([]byte(labels[nerdctlPortsLabel]), &pm) != nil {
		return nil
	}
	var out []runtime.PublishedPort
	for _, p := range pm {
		out = append(out, runtime.PublishedPort{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: strings.ToLower(p.Protocol)})
	}
	return out
}

// deviceRulesOf returns, in Docker's form, the device cgroup rules that
// allow reading or writing block devices, or character devices of every
// major number. The spec mixes the default character devices (null, zero,
// tty, ...) with added ones; a specific added device shows in Devices.
func deviceRulesOf(rules []specs.LinuxDeviceCgroup) []string {
	var out []string
	for _, r := range rules {
		if !r.Allow || !strings.ContainsAny(r.Access, "rw") {
			continue
		}
		typ := r.Type
		if typ == "" {
			typ = "a"
		}
		if typ == "c" && r.Major != nil {
			continue
		}
		num := func(p *int64) string {
			if p == nil {
				return "*"
			}
			return strconv.FormatInt(*p, 10)
		}
		out = append(out, fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), r.Access))
	}
	return out
}

// hostCgroupVersion is the cgroup version of the host containerd runs on
// (containerd is local: its socket is a file here): 2 when /sys/fs/cgroup
// is cgroup2, 1 when it is another filesystem, 0 when it cannot be read.
var hostCgroupVersion = sync.OnceValue(func() int {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return 0
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return 2
	}
	return 1
})
