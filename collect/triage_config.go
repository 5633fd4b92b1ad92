package collect

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"firebreak/runtime"
)

// Info ranks below Low: a CIS hygiene check that opens no way out by itself
// (restart policy, health check, published ports, ...). Info findings weigh
// nothing on the escape profile.
const Info Severity = "info"

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

// defaultCaps is the set Docker and containerd both give a container unless
// told otherwise.
var defaultCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

var engineSockets = []string{"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "dockershim.sock", "cri-dockerd.sock", "kubelet.sock"}

// hostPath is a host path whose bind mount exposes the host, with the
// severity of a writable and of a read-only bind ("" for none).
type hostPath struct {
	path   string
	rw, ro Severity
	// whole: what lies under it is as sensitive as itself. A bind of a path
	// under a rule that is not whole is judged one severity lower.
	whole bool
	// socket: it is or holds an engine's API socket (finding engine-socket).
	socket bool
	why    string
}

const (
	whyRun     = "the engines' sockets (docker.sock, containerd/containerd.sock): whoever reaches one starts a privileged container (read-only does not help)"
	whySocket  = "an engine's API socket: whoever reaches it starts a privileged container and owns the host (read-only does not help: connecting to a socket is no write to the filesystem)"
	whyBinary  = "host binaries and libraries that root on the host runs: one replaced file runs the container's code as host root"
	whyEtcFile = "a host file root on the host trusts: one write gives root (a cron job, a user, a preloaded library, sudo)"
	whyCerts   = "files the host trusts: a planted CA or resolver redirects the host's traffic"
)

// hostPaths are judged by the closest rule: the exact path, else the
// nearest rule above it (one level lower unless whole), and a bind of a
// directory above rules is as bad as the worst rule it holds.
var hostPaths = []hostPath{
	{path: "/", rw: Critical, ro: Critical, why: "the host's whole filesystem: credentials, the engine's socket under /run, and with write access every binary root runs"},
	{path: "/run", rw: Critical, ro: Critical, why: whyRun},
	{path: "/var/run", rw: Critical, ro: Critical, why: whyRun},
	{path: "/run/docker.sock", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/cri-dockerd.sock", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/dockershim.sock", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/containerd", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/docker", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/crio", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/podman", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/run/k3s/containerd", rw: Critical, ro: Critical, whole: true, socket: true, why: whySocket},
	{path: "/proc", rw: Critical, ro: Critical, why: "the host's processes: /proc/1/root is the host's filesystem, /proc/sys and /proc/sysrq-trigger the kernel's controls"},
	{path: "/proc/sys", rw: Critical, ro: Medium, whole: true, why: "kernel.core_pattern and kernel.modprobe name programs the kernel runs as host root: one write away"},
	{path: "/proc/sysrq-trigger", rw: High, ro: Low, whole: true, why: "one write crashes or reboots the host"},
	{path: "/sys", rw: Critical, ro: Medium, why: "the kernel's controls: uevent_helper, the cgroup release_agent, firmware and devices"},
	{path: "/sys/kernel", rw: Critical, ro: Medium, whole: true, why: "uevent_helper names a program the kernel runs as host root on a device event; debug and security interfaces"},
	{path: "/sys/fs/cgroup", rw: Critical, ro: Medium, whole: true, why: "cgroup v1 release_agent runs a program as host root; every container's limits and freezer"},
	{path: "/dev", rw: High, ro: Medium, why: "the host's device nodes: disks and memory wherever the device cgroup lets them open"},
	{path: "/boot", rw: High, ro: Medium, why: "the kernel and initrd the host boots next"},
	{path: "/lib/modules", rw: High, ro: Low, why: "kernel modules loaded by name when the host asks for them"},
	{path: "/lib", rw: Critical, ro: Low, why: whyBinary},
	{path: "/lib64", rw: Critical, ro: Low, why: whyBinary},
	{path: "/bin", rw: Critical, ro: Low, why: whyBinary},
	{path: "/sbin", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/lib", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/lib64", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/bin", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/sbin", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/local/bin", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/local/sbin", rw: Critical, ro: Low, why: whyBinary},
	{path: "/usr/share/zoneinfo", rw: Medium, whole: true, why: "time zone files the host reads"},
	{path: "/etc", rw: Critical, ro: Medium, why: "the host's configuration: cron, users, sudoers, preloaded libraries, and secrets"},
	{path: "/etc/shadow", rw: Critical, ro: High, whole: true, why: "the host's password hashes; writable, any account's password"},
	{path: "/etc/gshadow", rw: Critical, ro: High, whole: true, why: "the host's group password hashes"},
	{path: "/etc/passwd", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/group", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/sudoers", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/sudoers.d", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/crontab", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/cron.d", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/ld.so.preload", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/systemd", rw: Critical, ro: Low, whole: true, why: whyEtcFile},
	{path: "/etc/ssh", rw: Critical, ro: High, whole: true, why: "the host's SSH keys and sshd's configuration"},
	{path: "/etc/kubernetes", rw: Critical, ro: High, whole: true, why: "the cluster's admin kubeconfig and PKI"},
	{path: "/etc/ssl/certs", rw: Medium, whole: true, why: whyCerts},
	{path: "/etc/ca-certificates", rw: Medium, whole: true, why: whyCerts},
	{path: "/etc/pki/ca-trust", rw: Medium, whole: true, why: whyCerts},
	{path: "/etc/resolv.conf", rw: Medium, whole: true, why: whyCerts},
	{path: "/etc/hosts", rw: Medium, whole: true, why: whyCerts},
	{path: "/etc/localtime", rw: Medium, whole: true, why: "the host's time zone"},
	{path: "/etc/timezone", rw: Medium, whole: true, why: "the host's time zone"},
	{path: "/etc/machine-id", rw: Medium, whole: true, why: "the host's identity"},
	{path: "/root", rw: Critical, ro: High, why: "root's SSH keys, kubeconfig and shell startup files"},
	{path: "/home", rw: High, ro: Medium, why: "users' SSH keys, credentials and shell startup files"},
	{path: "/var/lib/docker", rw: Critical, ro: High, why: "every container's files, volumes and secrets, and the engine's state"},
	{path: "/var/lib/containerd", rw: Critical, ro: High, why: "every container's snapshots and the engine's state"},
	{path: "/var/lib/kubelet", rw: Critical, ro: High, why: "pods' secrets and service account tokens, the kubelet's keys and sockets"},
	{path: "/var/log", rw: High, ro: Low, why: "the kubelet follows symlinks under /var/log/pods: a link planted there reads any host file as root through `kubectl logs`"},
}

// criManaged reports whether a mount's source is one the CRI plugin or the
// kubelet made for a pod itself: the sandbox's hostname, hosts,
// resolv.conf and /dev/shm in the plugin's state or root directory, and
// the pod's volumes, etc-hosts and termination logs under the kubelet's
// pod directory. A hostPath volume is mounted from anywhere else.
func criManaged(src string) bool {
	src = filepath.Clean(src)
	for _, dir := range []string{"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/", "/var/run/containerd/io.containerd.grpc.v1.cri/sandboxes/",
		"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/", "/var/lib/kubelet/pods/"} {
		if strings.HasPrefix(src, dir) && !strings.Contains(src[len(dir):], "/../") {
			return true
		}
	}
	return false
}

// under reports whether p lies strictly below dir.
func under(p, dir string) bool {
	return dir != p && strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// lower is one severity below (Low stays Low: an exposed host path stays
// worth a look).
func lower(s Severity) Severity {
	switch s {
	case Critical:
		return High
	case High:
		return Medium
	case Medium:
		return Low
	}
	return s
}

// judgeHostPath judges a bind of the host path src: the rule that decides,
// the severity, and the path the finding is named after ("" when the bind
// exposes nothing sensitive).
func judgeHostPath(src string, rw bool) (hostPath, Severity, string) {
	src = filepath.Clean(src)
	orig := src
	if rest, ok := strings.CutPrefix(src, "/var/run/"); ok {
		src = "/run/" + rest // /var/run is a link to /run
	}
	sevOf := func(h hostPath) Severity {
		if rw {
			return h.rw
		}
		return h.ro
	}
	var rule hostPath
	var sev Severity
	name := ""
	found := false
	for _, h := range hostPaths {
		switch {
		case h.path == src:
			rule, sev, name, found = h, sevOf(h), orig, true
		case h.path != "/" && under(src, h.path) && !found && len(h.path) > len(name):
			s := sevOf(h)
			if !h.whole {
				s = lower(s)
			}
			rule, sev, name = h, s, h.path
		}
	}
	// A directory above rules holds what they guard.
	for _, h := range hostPaths {
		if under(h.path, src) && sevOf(h).Rank() > sev.Rank() {
			sev = sevOf(h)
			rule = hostPath{path: h.path, socket: h.socket, why: "it holds " + h.path + ": " + h.why}
			name = orig
		}
	}
	if sev == "" {
		return hostPath{}, "", ""
	}
	return rule, sev, name
}

// deviceRule reads a device cgroup rule in Docker's form ("b *:* rwm"):
// whether it reaches block devices (or every device) for reading or
// writing, and character devices of every major number.
func deviceRule(r string) (blockRW, charAll bool) {
	f := strings.Fields(r)
	if len(f) < 2 {
		return false, false
	}
	access := f[len(f)-1]
	rw := strings.ContainsAny(access, "rw")
	switch f[0] {
	case "a":
		return rw, rw
	case "b":
		return rw, false
	case "c":
		return false, rw && len(f) == 3 && strings.HasPrefix(f[1], "*:")
	}
	return false, false
}

// selinuxUnconfined says SELinux label options ("disable",
// "type:spc_t,level:s0", ...) turn confinement off.
func selinuxUnconfined(labels string) bool {
	for _, l := range strings.Split(labels, ",") {
		if l == "disable" || l == "type:spc_t" || l == "type:unconfined_t" || strings.Contains(l, ":spc_t:") || strings.Contains(l, ":unconfined_t:") {
			return true
		}
	}
	return false
}

// Configuration returns the configuration findings of a container: no
// running process is needed. Conditions that hold for the whole host (no
// user namespace remapping, cgroup v1) are not repeated here: see
// HostFindings.
func Configuration(d runtime.Details) []Finding {
	s := d.Security
	var out []Finding
	add := func(id string, sev Severity, title, evidence, why, remedy string) {
		out = append(out, Finding{ID: id, Kind: KindConfig, Severity: sev, Title: title, Evidence: evidence, Why: why, Remedy: remedy})
	}
	hasCap := func(c string) bool { return slices.Contains(s.Capabilities, c) }
	root := isRoot(s.User)
	if s.Privileged {
		add("privileged", Critical, "Privileged container", "privileged: true (every capability, all devices, no seccomp or AppArmor, /proc and /sys writable)",
			"a privileged container can mount the host's disks and load kernel modules: it is root on the host",
			"drop --privileged; add only the capabilities and devices the workload needs")
	} else {
		var other []string
		for _, c := range s.Capabilities {
			if dc, ok := dangerousCaps[c]; ok {
				add("cap-"+strings.ToLower(c), dc.sev, "Capability "+c+" granted", "capabilities include CAP_"+c, dc.why, "drop CAP_"+c+" (cap_drop / --cap-drop) unless the workload cannot run without it")
			} else if !slices.Contains(defaultCaps, c) {
				other = append(other, c)
			}
		}
		if len(other) > 0 {
			add("caps-added", Info, "Capabilities added beyond the default set", "capabilities include "+strings.Join(other, ", "),
				"each added capability widens what root in the container may do", "drop what the workload does not need (--cap-drop ALL, then --cap-add the few it does)")
		}
	}

	// Combinations: each opens an escape that neither part does alone.
	if hasCap("SYS_PTRACE") && slices.Contains(s.HostNamespaces, "pid") {
		sev, why := Critical, "with the host's PID namespace, SYS_PTRACE injects code into any host process (PID 1 included) and runs as host root"
		if s.AppArmor != "" && s.AppArmor != "unconfined" {
			sev, why = High, why+"; only the AppArmor profile "+s.AppArmor+" (which refuses ptrace of processes outside it) stands in the way"
		}
		add("combo-ptrace-host-pid", sev, "SYS_PTRACE with the host's PID namespace", "CAP_SYS_PTRACE and --pid=host", why,
			"drop CAP_SYS_PTRACE or run in the container's own PID namespace")
	}
	if hasCap("SYS_ADMIN") && s.CgroupVersion == 1 && !s.UserNamespace && (s.AppArmor == "unconfined" || (s.AppArmor == "" && (s.SELinux == "" || selinuxUnconfined(s.SELinux)))) {
		add("combo-sys_admin-cgroup-v1", Critical, "SYS_ADMIN without AppArmor on cgroup v1", "CAP_SYS_ADMIN, AppArmor "+orNone(s.AppArmor)+", cgroup v1",
			"it mounts a cgroup v1 hierarchy and sets release_agent: the kernel runs the container's program as host root (CVE-2022-0492's path)",
			"drop CAP_SYS_ADMIN; keep the engine's AppArmor profile; move the host to cgroup v2")
	}
	if hasCap("DAC_READ_SEARCH") {
		for _, m := range s.Mounts {
			if m.Type == "bind" || m.Type == "volume" {
				add("combo-dac_read_search-host-bind", Critical, "DAC_READ_SEARCH with a host mount", fmt.Sprintf("CAP_DAC_READ_SEARCH and %s mounted at %s", m.Source, m.Destination),
					"open_by_handle_at from any file of a host filesystem opens any other file on it, /etc/shadow included (the shocker escape)",
					"drop CAP_DAC_READ_SEARCH")
				break
			}
		}
	}

	for _, m := range s.Mounts {
		if criManaged(m.Source) {
			continue // the pod's own files, made by the CRI plugin or the kubelet (PodFindings judges a pod's volumes)
		}
		rwWord := "read-only"
		if m.RW {
			rwWord = "writable"
		}
		if slices.Contains(engineSockets, filepath.Base(m.Source)) || slices.Contains(engineSockets, filepath.Base(m.Destination)) {
			add("engine-socket", Critical, "Container engine socket mounted", fmt.Sprintf("%s mounted at %s", m.Source, m.Destination),
				"whoever reaches the engine's socket starts a privileged container and owns the host (read-only does not help)",
				"remove the socket mount; give the workload a narrow API proxy if it must talk to the engine")
			continue
		}
		if m.Type == "bind" {
			if rule, sev, name := judgeHostPath(m.Source, m.RW); sev != "" {
				evidence := fmt.Sprintf("%s mounted at %s, %s", m.Source, m.Destination, rwWord)
				if filepath.Clean(m.Source) != name {
					evidence += " (under " + name + ")"
				}
				switch {
				case rule.socket:
					add("engine-socket", Critical, "Container engine socket mounted", evidence, rule.why,
						"remove the mount; give the workload a narrow API proxy if it must talk to the engine")
				default:
					id := "host-mount" + strings.ReplaceAll(name, "/", "-")
					if name == "/" {
						id = "host-mount-root"
					}
					add(id, sev, "Sensitive host path "+name+" mounted ("+rwWord+")", evidence, rule.why,
						"mount only the specific files or directories needed, read-only")
				}
			}
		}
		if p := m.Propagation; p == "shared" || p == "rshared" {
			add("mount-propagation-shared", Info, "Mount with shared propagation", fmt.Sprintf("%s mounted at %s, propagation %s", m.Source, m.Destination, p),
				"mounts made under it in the container appear on the host, and the host's in the container",
				"use the default private propagation (drop :shared / bind-propagation=shared)")
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
		if ns == "cgroup" && s.CgroupVersion == 1 {
			// On cgroup v1 every container shares it by default: said
			// once for the host (host-cgroup-v1).
			continue
		}
		if h, ok := hostNS[ns]; ok {
			add("host-"+ns, h.sev, "Host "+ns+" namespace shared", h.what, h.why, "run it in its own "+ns+" namespace")
		}
	}
	switch {
	case s.HostUserns:
		add("no-userns", Low, "Host user namespace asked for", "--userns=host: root in the container is root on the host",
			"if anything breaks out, it does so as the host's root", "drop --userns=host")
	case s.UsernsRemap && !s.UserNamespace:
		add("no-userns", Low, "No user namespace", "the engine remaps user namespaces, but not this container's",
			"if anything breaks out, it does so as the host's root", "run it in a user namespace like the others")
	}
	if s.Seccomp == "unconfined" && !s.Privileged {
		add("seccomp-unconfined", High, "Seccomp unconfined", "seccomp=unconfined", "every system call is open, including those behind most kernel escapes", "use the engine's default seccomp profile, or a stricter one")
	}
	if !s.Privileged {
		switch {
		case s.AppArmor == "unconfined":
			add("apparmor-unconfined", Medium, "AppArmor unconfined", "apparmor=unconfined", "no mandatory access control limits what root in the container does", "use the engine's default AppArmor profile")
		case s.AppArmor == "" && s.SELinux == "":
			add("no-apparmor", Info, "No AppArmor profile", "apparmor: none", "no AppArmor profile confines the container (the host may not have AppArmor)", "run with an AppArmor profile where the host has AppArmor")
		}
		switch {
		case selinuxUnconfined(s.SELinux):
			add("selinux-disabled", Medium, "SELinux confinement turned off", "label="+s.SELinux, "SELinux no longer keeps root in the container from the host's files", "drop label=disable (or the unconfined type)")
		case s.SELinux == "" && s.AppArmor == "":
			add("no-selinux", Info, "No SELinux options", "label: none", "no SELinux label confines the container (the host may not have SELinux)", "run with SELinux labels where the host has SELinux")
		}
		if s.SystemPathsUnconfined {
			sev := High
			if root && !s.UserNamespace {
				sev = Critical
			}
			add("systempaths-unconfined", sev, "/proc/sys writable", "systempaths=unconfined: /proc/sys, /proc/sysrq-trigger and the masked paths are open",
				"kernel.core_pattern and kernel.modprobe are one write away: the kernel runs the program they name as host root",
				"drop --security-opt systempaths=unconfined")
		}
		for _, r := range s.DeviceCgroupRules {
			blockRW, charAll := deviceRule(r)
			sev := Medium
			if blockRW || charAll {
				sev = High
			}
			add("device-cgroup-rule", sev, "Device access allowed by cgroup rule", "device cgroup rule "+strconv.Quote(r),
				"the container may create and open host devices the rule names, whatever /dev it was given", "remove the rule, or narrow it to the one device needed")
			if blockRW && hasCap("MKNOD") && !s.UserNamespace {
				add("combo-mknod-block-devices", Critical, "MKNOD with block devices allowed", "CAP_MKNOD and device cgroup rule "+strconv.Quote(r),
					"it makes a node for the host's disk and reads or writes it raw, below every filesystem permission", "remove the rule; drop CAP_MKNOD")
			}
		}
	}
	if !s.NoNewPrivileges {
		add("no-new-privileges-unset", Low, "no-new-privileges not set", "no-new-privileges: false", "setuid binaries in the image can raise privileges", "set --security-opt no-new-privileges")
	}
	if root {
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
	return append(out, hygiene(s)...)
}

// hygiene returns the CIS checks that open no way out by themselves: Info.
func hygiene(s runtime.Security) []Finding {
	var out []Finding
	add := func(id, title, evidence, why, remedy string) {
		out = append(out, Finding{ID: id, Kind: KindConfig, Severity: Info, Title: title, Evidence: evidence, Why: why, Remedy: remedy})
	}
	if hasSSHD(s.Command) {
		add("sshd", "sshd runs in the container", "command: "+strconv.Quote(strings.Join(s.Command, " ")),
			"an SSH daemon is one more service to patch and another way in, outside the engine's exec and its audit", "use docker exec (or the engine's equivalent); remove sshd")
	}
	var all, low, open []string
	for _, p := range s.Ports {
		hp := strconv.Itoa(p.HostPort)
		if p.HostPort == 0 {
			hp = "(any)"
		}
		desc := fmt.Sprintf("%s:%s->%d/%s", orAll(p.HostIP), hp, p.ContainerPort, p.Protocol)
		open = append(open, desc)
		if p.HostIP == "" || p.HostIP == "0.0.0.0" || p.HostIP == "::" {
			all = append(all, desc)
		}
		if p.HostPort > 0 && p.HostPort < 1024 {
			low = append(low, desc)
		}
	}
	if len(open) > 0 {
		add("open-ports", "Ports published on the host", strings.Join(open, ", "),
			"each published port is a way in from the network; only the needed ones should be", "publish only the ports the service needs")
	}
	if len(all) > 0 {
		add("ports-all-interfaces", "Ports published on every host interface", strings.Join(all, ", "),
			"a port bound to 0.0.0.0 is reachable on every network the host is on", "bind published ports to one host address (-p 127.0.0.1:8080:80)")
	}
	if len(low) > 0 {
		add("privileged-port", "Privileged host port published", strings.Join(low, ", "),
			"host ports below 1024 are meant for the host's own services", "publish on a host port of 1024 or above")
	}
	switch {
	case s.RestartPolicy == "always" || s.RestartPolicy == "unless-stopped":
		add("restart-policy", "Restart policy "+s.RestartPolicy, "restart: "+s.RestartPolicy,
			"a container restarted forever hides why it dies, and a crash loop ties up the host", "use --restart on-failure:5")
	case s.RestartPolicy == "on-failure" && (s.RestartRetries == 0 || s.RestartRetries > 5):
		n := strconv.Itoa(s.RestartRetries)
		if s.RestartRetries == 0 {
			n = "no limit"
		}
		add("restart-policy", "Restart policy without a low retry limit", "restart: on-failure, retries "+n,
			"a container restarted forever hides why it dies, and a crash loop ties up the host", "use --restart on-failure:5")
	}
	if s.Healthcheck == "none" {
		add("no-healthcheck", "No health check", "healthcheck: none", "nothing notices when the service stops working while the process lives", "add a HEALTHCHECK (or --health-cmd)")
	}
	if s.CgroupParent != "" {
		add("cgroup-parent", "Cgroup parent set", "cgroup parent "+strconv.Quote(s.CgroupParent),
			"a cgroup chosen at run time may carry other limits (or none) than the engine's", "confirm the parent cgroup is meant; drop --cgroup-parent otherwise")
	}
	if len(s.Ulimits) > 0 {
		add("ulimit-override", "Default ulimits overridden", strings.Join(s.Ulimits, ", "),
			"limits raised for one container loosen what the engine's defaults hold back", "keep the engine's default ulimits unless the workload needs others")
	}
	if s.DefaultBridge {
		add("default-bridge", "On the default bridge network", "network: bridge (docker0)",
			"every container on the default bridge reaches every other; user-defined networks keep them apart", "attach it to a user-defined network")
	}
	return out
}

// hasSSHD says whether a command starts an SSH daemon (also inside a shell
// command line).
func hasSSHD(cmd []string) bool {
	for _, a := range cmd {
		for _, w := range strings.FieldsFunc(a, func(r rune) bool { return strings.ContainsRune(" \t\n;&|()'\"", r) }) {
			if filepath.Base(w) == "sshd" || filepath.Base(w) == "dropbear" {
				return true
			}
		}
	}
	return false
}

func isRoot(user string) bool {
	u := strings.SplitN(user, ":", 2)[0]
	return u == "" || u == "0" || u == "root"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orAll(ip string) string {
	if ip == "" {
		return "0.0.0.0"
	}
	return ip
}

// HostFindings returns, once for the host, the conditions that hold for
// every container of the engine rather than for one: the engine gives
// containers no user namespace of their own (Docker without userns-remap,
// containerd unless the container asks), and cgroup v1, where containers
// share the host's cgroup namespace by default. engine names the engine;
// the settings are its containers'. Configuration leaves these out.
func HostFindings(engine string, ss []runtime.Security) []Finding {
	var out []Finding
	shared, v1 := 0, false
	remap := false
	for _, s := range ss {
		remap = remap || s.UsernsRemap
		v1 = v1 || s.CgroupVersion == 1
		if !s.UserNamespace && !s.HostUserns {
			shared++
		}
	}
	if !remap && shared > 0 {
		how := "the engine runs without userns-remap"
		if engine == "containerd" {
			how = "containerd gives a container a user namespace only when its spec asks"
		}
		out = append(out, Finding{ID: "host-no-userns-remap", Kind: KindConfig, Severity: Low, Title: "Containers share the host's user namespace",
			Evidence: fmt.Sprintf("%s: %d of %d containers run in the host's user namespace", how, shared, len(ss)),
			Why:      "root in those containers is root on the host: whatever breaks out does so as the host's root",
			Remedy:   "enable user namespace remapping (dockerd --userns-remap=default; user namespaces in the pod or container spec)"})
	}
	if v1 {
		out = append(out, Finding{ID: "host-cgroup-v1", Kind: KindConfig, Severity: Medium, Title: "Host on cgroup v1",
			Evidence: "cgroup v1: containers share the host's cgroup namespace unless asked otherwise",
			Why:      "cgroup v1's release_agent runs a program as host root: a container with SYS_ADMIN and no AppArmor reaches it (CVE-2022-0492)",
			Remedy:   "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"})
	}
	return out
}

// cisIDs are the CIS Docker Benchmark (v1.6.0) recommendations the rules
// check; capability and host-path rules are matched by prefix in CISOf.
var cisIDs = map[string]string{
	"apparmor-unconfined":             "5.2",
	"no-apparmor":                     "5.2",
	"selinux-disabled":                "5.3",
	"no-selinux":                      "5.3",
	"caps-added":                      "5.4",
	"combo-ptrace-host-pid":           "5.4",
	"combo-sys_admin-cgroup-v1":       "5.4",
	"combo-dac_read_search-host-bind": "5.4",
	"privileged":                      "5.5",
	"sshd":                            "5.7",
	"privileged-port":                 "5.8",
	"open-ports":                      "5.9",
	"host-network":                    "5.10",
	"no-memory-limit":                 "5.11",
	"no-cpu-limit":                    "5.12",
	"writable-rootfs":                 "5.13",
	"ports-all-interfaces":            "5.14",
	"restart-policy":                  "5.15",
	"host-pid":                        "5.16",
	"host-ipc":                        "5.17",
	"devices":                         "5.18",
	"device-cgroup-rule":              "5.18",
	"combo-mknod-block-devices":       "5.18",
	"ulimit-override":                 "5.19",
	"mount-propagation-shared":        "5.20",
	"host-uts":                        "5.21",
	"seccomp-unconfined":              "5.22",
	"cgroup-parent":                   "5.25",
	"no-new-privileges-unset":         "5.26",
	"no-healthcheck":                  "5.27",
	"no-pids-limit":                   "5.29",
	"default-bridge":                  "5.30",
	"no-userns":                       "5.31",
	"host-no-userns-remap":            "5.31",
	"engine-socket":                   "5.32",
	"root-user":                       "4.1",
}

// CISOf is the CIS Docker Benchmark recommendation a rule checks, e.g.
// "5.4"; "" for rules the benchmark has no recommendation for (live signs,
// /proc/sys writable, the host's cgroup namespace).
func CISOf(ruleID string) string {
	if c, ok := cisIDs[ruleID]; ok {
		return c
	}
	switch {
	case strings.HasPrefix(ruleID, "cap-"):
		return "5.4"
	case strings.HasPrefix(ruleID, "host-mount-"):
		return "5.6"
	}
	return ""
}

// Profile chooses what a container's score counts.
type Profile string

const (
	// ProfileEscape scores the ways out; hygiene (Info) is shown but
	// weighs nothing. The default.
	ProfileEscape Profile = "escape"
	// ProfileCIS scores every CIS finding, hygiene included.
	ProfileCIS Profile = "cis"
)

// ParseProfile reads a profile name ("" is the default, escape).
func ParseProfile(s string) (Profile, error) {
	switch Profile(s) {
	case "", ProfileEscape:
		return ProfileEscape, nil
	case ProfileCIS:
		return ProfileCIS, nil
	}
	return "", fmt.Errorf("profile %q: use escape or cis", s)
}

const (
	// capsWeight is the most a container's capability findings weigh
	// together, a critical and a high: fifteen dangerous capabilities are
	// not fifteen ways out more than the worst two.
	capsWeight = 40 + 15
	// privilegedWeight is more than every capability together (capsWeight)
	// plus what privileged implies and is not reported apart: every device
	// (high 15), no seccomp (high 15), no AppArmor (medium 5), /proc/sys
	// writable (critical 40). So privileged ranks above any capability set.
	privilegedWeight = capsWeight + 15 + 15 + 5 + 40
)

// Weight is what one finding adds to a container's score under the
// profile (capability findings are capped together: see Score).
func (p Profile) Weight(f Finding) int {
	switch {
	case f.Severity == Info:
		if p == ProfileCIS {
			return 1
		}
		return 0
	case f.ID == "privileged" || f.ID == "pod-privileged":
		return privilegedWeight
	}
	return severityWeight[f.Severity]
}

// Score is a container's score: the weights of its findings, the
// capability findings together at most capsWeight.
func (p Profile) Score(fs []Finding) int {
	total, caps := 0, 0
	for _, f := range fs {
		if strings.HasPrefix(f.ID, "cap-") || strings.HasPrefix(f.ID, "pod-cap-") {
			caps += p.Weight(f)
			continue
		}
		total += p.Weight(f)
	}
	return total + min(caps, capsWeight)
}

// Apply scores each assessment under the profile and ranks them again.
func (p Profile) Apply(as []Assessment) {
	for i := range as {
		as[i].Score = p.Score(as[i].Findings)
	}
	Rank(as)
}
