package collect

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"firebreak/runtime"
)

// dangerousCaps are capabilities outside Docker's default set that open a way
// out, with their severity.
var dangerousCaps = map[string]struct {
	sev Severity
	why string
}{
	"SYS_ADMIN":       {Critical, "mount, namespaces, BPF, cgroups release_agent: the classic escapes all start here"},
	"SYS_MODULE":      {Critical, "loads kernel modules: code in the host kernel"},
	"SYS_PTRACE":      {High, "traces and injects into processes it can see (all of the host's with a host PID namespace)"},
	"DAC_READ_SEARCH": {High, "open_by_handle_at reads any host file by handle (the shocker escape)"},
	"SYS_RAWIO":       {High, "raw I/O ports and /dev/mem access"},
	"BPF":             {High, "loads BPF programs that read kernel memory and other processes' data"},
	"NET_ADMIN":       {Medium, "reconfigures networking and undoes network containment from inside"},
	"SYS_BOOT":        {Medium, "reboots the host"},
	"SYS_TIME":        {Medium, "sets the host clock"},
	"PERFMON":         {Medium, "perf events reveal other processes' activity"},
	"MAC_ADMIN":       {High, "changes mandatory access control policy"},
	"SYSLOG":          {Low, "reads kernel logs with kernel addresses"},
}

var engineSockets = []string{"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "dockershim.sock", "cri-dockerd.sock", "kubelet.sock"}

var sensitivePaths = []string{"/", "/proc", "/sys", "/var/run", "/run", "/var/lib/docker", "/var/lib/containerd", "/var/lib/kubelet", "/etc", "/root", "/home", "/dev", "/boot", "/lib/modules", "/usr"}

// Configuration returns the configuration findings of a container: no
// running process is needed.
func Configuration(d runtime.Details) []Finding {
	s := d.Security
	var out []Finding
	add := func(id string, sev Severity, title, evidence, why, remedy string) {
		out = append(out, Finding{ID: id, Kind: KindConfig, Severity: sev, Title: title, Evidence: evidence, Why: why, Remedy: remedy})
	}
	if s.Privileged {
		add("privileged", Critical, "Privileged container", "privileged: true (every capability, all devices, no seccomp or AppArmor)",
			"a privileged container can mount the host's disks and load kernel modules: it is root on the host",
			"drop --privileged; add only the capabilities and devices the workload needs")
	} else {
		for _, c := range s.Capabilities {
			if dc, ok := dangerousCaps[c]; ok {
				add("cap-"+strings.ToLower(c), dc.sev, "Capability "+c+" granted", "capabilities include CAP_"+c, dc.why, "drop CAP_"+c+" (cap_drop / --cap-drop) unless the workload cannot run without it")
			}
		}
	}
	for _, m := range s.Mounts {
		base := filepath.Base(m.Source)
		if slices.Contains(engineSockets, base) || slices.Contains(engineSockets, filepath.Base(m.Destination)) {
			add("engine-socket", Critical, "Container engine socket mounted", fmt.Sprintf("%s mounted at %s", m.Source, m.Destination),
				"whoever reaches the engine's socket starts a privileged container and owns the host",
				"remove the socket mount; give the workload a narrow API proxy if it must talk to the engine")
			continue
		}
		src := filepath.Clean(m.Source)
		if m.Type == "bind" && slices.Contains(sensitivePaths, src) {
			sev, rw := Medium, "read-only"
			if m.RW {
				sev, rw = High, "writable"
				if src == "/" {
					sev = Critical
				}
			}
			id := "host-mount" + strings.ReplaceAll(src, "/", "-")
			if src == "/" {
				id = "host-mount-root"
			}
			add(id, sev, "Sensitive host path "+src+" mounted ("+rw+")",
				fmt.Sprintf("%s mounted at %s, %s", m.Source, m.Destination, rw),
				"host files under "+src+" are reachable from the container: credentials, sockets, devices or the host's own configuration",
				"mount only the specific files or directories needed, read-only")
		}
	}
	hostNS := map[string]struct {
		sev       Severity
		why, what string
	}{
		"pid":     {High, "sees and signals every host process; with SYS_PTRACE or nsenter it enters them", "--pid=host"},
		"network": {High, "binds host ports and reaches host-only services; network containment cannot cut it without cutting the host", "--network=host"},
		"ipc":     {Medium, "reads and writes the host's shared memory", "--ipc=host"},
		"uts":     {Low, "changes the host's hostname", "--uts=host"},
		"cgroup":  {Medium, "sees the host's cgroup tree (release_agent escapes)", "--cgroupns=host"},
	}
	for _, ns := range s.HostNamespaces {
		if h, ok := hostNS[ns]; ok {
			add("host-"+ns, h.sev, "Host "+ns+" namespace shared", h.what, h.why, "run it in its own "+ns+" namespace")
		}
	}
	if !s.UserNamespace {
		add("no-userns", Low, "No user namespace", "root in the container is root on the host (uid 0 unmapped)",
			"if anything breaks out, it does so as the host's root", "enable user namespace remapping (userns-remap, --userns)")
	}
	if s.Seccomp == "unconfined" && !s.Privileged {
		add("seccomp-unconfined", High, "Seccomp unconfined", "seccomp=unconfined", "every system call is open, including those behind most kernel escapes", "use the engine's default seccomp profile, or a stricter one")
	}
	if s.AppArmor == "unconfined" && !s.Privileged {
		add("apparmor-unconfined", Medium, "AppArmor unconfined", "apparmor=unconfined", "no mandatory access control limits what root in the container does", "use the engine's default AppArmor profile")
	}
	if !s.NoNewPrivileges {
		add("no-new-privileges-unset", Low, "no-new-privileges not set", "no-new-privileges: false", "setuid binaries in the image can raise privileges", "set --security-opt no-new-privileges")
	}
	if u := strings.SplitN(s.User, ":", 2)[0]; u == "" || u == "0" || u == "root" {
		add("root-user", Medium, "Runs as root", fmt.Sprintf("user %q", s.User), "root in the container holds every capability it was given", "run as a non-root user (USER in the image, --user)")
	}
	if !s.ReadonlyRootfs {
		add("writable-rootfs", Low, "Writable root filesystem", "readonly_rootfs: false", "an intruder can drop tools and persist in the container's filesystem", "use --read-only with tmpfs or volumes where writes are needed")
	}
	if s.MemoryLimit == 0 {
		add("no-memory-limit", Low, "No memory limit", "memory limit: none", "it can exhaust the host's memory", "set a memory limit")
	}
	if !s.CPULimited {
		add("no-cpu-limit", Low, "No CPU limit", "cpu quota: none", "it can take every CPU (and mine on all of them)", "set a CPU limit")
	}
	if s.PidsLimit == 0 {
		add("no-pids-limit", Low, "No PID limit", "pids limit: none", "a fork bomb takes the host down", "set a pids limit")
	}
	if len(s.Devices) > 0 && !s.Privileged {
		add("devices", High, "Host devices passed through", strings.Join(s.Devices, ", "), "raw access to host devices (disks, /dev/mem, GPUs) bypasses the filesystem", "pass no devices, or only the ones needed, read-only")
	}
	return out
}
