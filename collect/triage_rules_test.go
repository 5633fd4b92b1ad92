package collect_test

import (
	"context"
	"slices"
	"sort"
	"testing"

	"firebreak/collect"
	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// hardened is a configuration with none of the risks triage rates and
// every CIS hygiene check passed.
func hardened() runtime.Security {
	return runtime.Security{
		Capabilities: []string{}, UserNamespace: true, Seccomp: "default", AppArmor: "docker-default",
		NoNewPrivileges: true, User: "1000:1000", ReadonlyRootfs: true,
		MemoryLimit: 256 << 20, CPULimited: true, PidsLimit: 100,
		RestartPolicy: "on-failure", RestartRetries: 5, Healthcheck: "CMD true", CgroupVersion: 2,
	}
}

// allCaps is every capability the kernel knows.
var allCaps = []string{"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM"}

func bind(src string, rw bool) runtime.Mount {
	return runtime.Mount{Type: "bind", Source: src, Destination: "/mnt" + src, RW: rw}
}

// ruleCase is one container: a change to the hardened configuration and
// the findings it must give, no more, no fewer.
type ruleCase struct {
	name   string
	change func(*runtime.Security)
	want   []string
}

var ruleCases = []ruleCase{
	{"hardened", func(*runtime.Security) {}, nil},
	{"privileged", func(s *runtime.Security) {
		s.Privileged, s.Capabilities, s.Seccomp, s.AppArmor = true, allCaps, "unconfined", "unconfined"
	}, []string{"privileged"}},
	{"cap-sys_admin", func(s *runtime.Security) { s.Capabilities = []string{"SYS_ADMIN"} }, []string{"cap-sys_admin"}},
	{"caps-added", func(s *runtime.Security) { s.Capabilities = []string{"CHOWN", "SYS_NICE"} }, []string{"caps-added"}},
	{"host-pid", func(s *runtime.Security) { s.HostNamespaces = []string{"pid"} }, []string{"host-pid"}},
	{"host-network", func(s *runtime.Security) { s.HostNamespaces = []string{"network"} }, []string{"host-network"}},
	{"host-ipc", func(s *runtime.Security) { s.HostNamespaces = []string{"ipc"} }, []string{"host-ipc"}},
	{"host-uts", func(s *runtime.Security) { s.HostNamespaces = []string{"uts"} }, []string{"host-uts"}},
	{"host-cgroup on cgroup v2", func(s *runtime.Security) { s.HostNamespaces = []string{"cgroup"} }, []string{"host-cgroup"}},
	{"host cgroupns on cgroup v1 (said once for the host)", func(s *runtime.Security) {
		s.HostNamespaces, s.CgroupVersion = []string{"cgroup"}, 1
	}, nil},
	{"seccomp-unconfined", func(s *runtime.Security) { s.Seccomp = "unconfined" }, []string{"seccomp-unconfined"}},
	{"apparmor-unconfined", func(s *runtime.Security) { s.AppArmor = "unconfined" }, []string{"apparmor-unconfined"}},
	{"no AppArmor and no SELinux", func(s *runtime.Security) { s.AppArmor = "" }, []string{"no-apparmor", "no-selinux"}},
	{"SELinux instead of AppArmor", func(s *runtime.Security) { s.AppArmor, s.SELinux = "", "system_u:system_r:container_t:s0:c1,c2" }, nil},
	{"selinux-disabled", func(s *runtime.Security) { s.SELinux = "disable" }, []string{"selinux-disabled"}},
	{"root-user", func(s *runtime.Security) { s.User = "0" }, []string{"root-user"}},
	{"writable-rootfs", func(s *runtime.Security) { s.ReadonlyRootfs = false }, []string{"writable-rootfs"}},
	{"no-new-privileges-unset", func(s *runtime.Security) { s.NoNewPrivileges = false }, []string{"no-new-privileges-unset"}},
	{"no-memory-limit", func(s *runtime.Security) { s.MemoryLimit = 0 }, []string{"no-memory-limit"}},
	{"no-cpu-limit", func(s *runtime.Security) { s.CPULimited = false }, []string{"no-cpu-limit"}},
	{"no-pids-limit", func(s *runtime.Security) { s.PidsLimit = 0 }, []string{"no-pids-limit"}},
	{"devices", func(s *runtime.Security) { s.Devices = []string{"/dev/sda"} }, []string{"devices"}},
	{"no-userns: --userns=host", func(s *runtime.Security) { s.UserNamespace, s.HostUserns = false, true }, []string{"no-userns"}},
	{"no-userns: opted out of the engine's remapping", func(s *runtime.Security) { s.UserNamespace, s.UsernsRemap = false, true }, []string{"no-userns"}},
	{"no user namespace, engine without remapping (said once for the host)", func(s *runtime.Security) { s.UserNamespace = false }, nil},
	{"engine-socket", func(s *runtime.Security) {
		s.Mounts = []runtime.Mount{{Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", RW: true}}
	}, []string{"engine-socket"}},
	{"host-mount-etc", func(s *runtime.Security) { s.Mounts = []runtime.Mount{bind("/etc", false)} }, []string{"host-mount-etc"}},
	// A pod's own files made by the CRI plugin and the kubelet are no host
	// mount (PodFindings judges a pod's volumes).
	{"CRI sandbox files and kubelet volumes", func(s *runtime.Security) {
		s.Mounts = []runtime.Mount{
			bind("/run/containerd/io.containerd.grpc.v1.cri/sandboxes/4f1d/shm", true),
			bind("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/4f1d/hosts", false),
			bind("/var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/cache", true),
		}
	}, nil},
	{"the containerd socket beside them", func(s *runtime.Security) {
		s.Mounts = []runtime.Mount{bind("/run/containerd/io.containerd.grpc.v1.cri/sandboxes/4f1d/shm", true), bind("/run/containerd/containerd.sock", false)}
	}, []string{"engine-socket"}},
	{"systempaths-unconfined", func(s *runtime.Security) { s.SystemPathsUnconfined = true }, []string{"systempaths-unconfined"}},
	{"device-cgroup-rule", func(s *runtime.Security) { s.DeviceCgroupRules = []string{"c 189:* rwm"} }, []string{"device-cgroup-rule"}},
	{"combo-mknod-block-devices", func(s *runtime.Security) {
		s.Capabilities, s.DeviceCgroupRules, s.UserNamespace = []string{"MKNOD"}, []string{"b *:* rwm"}, false
	}, []string{"device-cgroup-rule", "combo-mknod-block-devices"}},
	{"combo-ptrace-host-pid", func(s *runtime.Security) {
		s.Capabilities, s.HostNamespaces, s.AppArmor = []string{"SYS_PTRACE"}, []string{"pid"}, "unconfined"
	}, []string{"cap-sys_ptrace", "host-pid", "apparmor-unconfined", "combo-ptrace-host-pid"}},
	{"combo-sys_admin-cgroup-v1", func(s *runtime.Security) {
		s.Capabilities, s.AppArmor, s.CgroupVersion, s.UserNamespace = []string{"SYS_ADMIN"}, "unconfined", 1, false
	}, []string{"cap-sys_admin", "apparmor-unconfined", "combo-sys_admin-cgroup-v1"}},
	{"SYS_ADMIN under AppArmor on cgroup v1", func(s *runtime.Security) {
		s.Capabilities, s.CgroupVersion, s.UserNamespace = []string{"SYS_ADMIN"}, 1, false
	}, []string{"cap-sys_admin"}},
	{"combo-dac_read_search-host-bind", func(s *runtime.Security) {
		s.Capabilities, s.Mounts = []string{"DAC_READ_SEARCH"}, []runtime.Mount{bind("/srv/data", false)}
	}, []string{"cap-dac_read_search", "combo-dac_read_search-host-bind"}},
	{"mount-propagation-shared", func(s *runtime.Security) {
		s.Mounts = []runtime.Mount{{Type: "bind", Source: "/srv/data", Destination: "/data", Propagation: "rshared"}}
	}, []string{"mount-propagation-shared"}},
	{"sshd", func(s *runtime.Security) { s.Command = []string{"sh", "-c", "nginx; /usr/sbin/sshd -D"} }, []string{"sshd"}},
	{"open-ports", func(s *runtime.Security) {
		s.Ports = []runtime.PublishedPort{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	}, []string{"open-ports"}},
	{"ports-all-interfaces", func(s *runtime.Security) {
		s.Ports = []runtime.PublishedPort{{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	}, []string{"open-ports", "ports-all-interfaces"}},
	{"privileged-port", func(s *runtime.Security) {
		s.Ports = []runtime.PublishedPort{{HostIP: "127.0.0.1", HostPort: 443, ContainerPort: 443, Protocol: "tcp"}}
	}, []string{"open-ports", "privileged-port"}},
	{"restart-policy always", func(s *runtime.Security) { s.RestartPolicy = "always" }, []string{"restart-policy"}},
	{"restart-policy on-failure:10", func(s *runtime.Security) { s.RestartRetries = 10 }, []string{"restart-policy"}},
	{"no restart policy", func(s *runtime.Security) { s.RestartPolicy, s.RestartRetries = "no", 0 }, nil},
	{"no-healthcheck", func(s *runtime.Security) { s.Healthcheck = "none" }, []string{"no-healthcheck"}},
	{"health check unknown (containerd)", func(s *runtime.Security) { s.Healthcheck = "" }, nil},
	{"cgroup-parent", func(s *runtime.Security) { s.CgroupParent = "custom.slice" }, []string{"cgroup-parent"}},
	{"ulimit-override", func(s *runtime.Security) { s.Ulimits = []string{"nofile=1048576:1048576"} }, []string{"ulimit-override"}},
	{"default-bridge", func(s *runtime.Security) { s.DefaultBridge = true }, []string{"default-bridge"}},
}

// assessFake triages each case's container on the fake engine (the
// settings as the adapters report them; how an engine reports them is
// tested on Docker and containerd) under the profile, by case name.
func assessFake(t *testing.T, cases []ruleCase, p collect.Profile) ([]collect.Assessment, map[string]collect.Assessment) {
	t.Helper()
	e := fake.New()
	byID := map[string]string{}
	var targets []runtime.Container
	for i, c := range cases {
		s := hardened()
		c.change(&s)
		d := e.Create("risk-"+string(rune('a'+i/26))+string(rune('a'+i%26)), fake.WithSecurity(s))
		byID[d.ID] = c.name
		targets = append(targets, d.Container)
	}
	as, err := collect.AssessAll(context.Background(), e, "/proc", targets, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(cases) {
		t.Fatalf("%d assessments for %d containers", len(as), len(cases))
	}
	p.Apply(as)
	byName := map[string]collect.Assessment{}
	for _, a := range as {
		byName[byID[a.Container.ID]] = a
	}
	return as, byName
}

// TestTriageRulesOneRiskEach: each risky setting gives its findings on its
// container alone, the hardened container has none, scores 0 and ranks
// last, and every finding says what, why and how to fix it.
func TestTriageRulesOneRiskEach(t *testing.T) {
	as, got := assessFake(t, ruleCases, collect.ProfileEscape)
	for _, c := range ruleCases {
		a := got[c.name]
		want := slices.Clone(c.want)
		sort.Strings(want)
		have := ids(a)
		sort.Strings(have)
		if !slices.Equal(have, want) {
			t.Errorf("%s: findings %v, want %v", c.name, have, want)
		}
		for _, f := range a.Findings {
			if f.Severity == "" || f.Title == "" || f.Evidence == "" || f.Why == "" || f.Remedy == "" {
				t.Errorf("%s: finding %+v lacks severity, title, evidence, why or remedy", c.name, f)
			}
		}
	}
	if h, last := got["hardened"], as[len(as)-1]; h.Score != 0 || last.Score != 0 {
		t.Errorf("hardened container scores %d, the last ranked %d; want 0 (ties rank by name)", h.Score, last.Score)
	}
	for i := 1; i < len(as); i++ {
		if as[i-1].Score < as[i].Score {
			t.Errorf("ranking: %s (score %d) before %s (score %d)", as[i-1].Container.Name, as[i-1].Score, as[i].Container.Name, as[i].Score)
		}
	}
}

// TestTriageRulesCISCoverage: every container check of the CIS Docker
// Benchmark's section 5 (but for docker exec and image freshness, which
// configuration does not show) has a finding that names it.
func TestTriageRulesCISCoverage(t *testing.T) {
	_, got := assessFake(t, ruleCases, collect.ProfileCIS)
	seen := map[string]bool{}
	for _, a := range got {
		for _, f := range a.Findings {
			seen[collect.CISOf(f.ID)] = true
		}
	}
	for _, id := range []string{"5.2", "5.3", "5.4", "5.5", "5.6", "5.7", "5.8", "5.9", "5.10", "5.11", "5.12", "5.13", "5.14", "5.15", "5.16", "5.17", "5.18", "5.19", "5.20", "5.21", "5.22", "5.25", "5.26", "5.27", "5.29", "5.30", "5.31", "5.32"} {
		if !seen[id] {
			t.Errorf("CIS %s: no finding names it", id)
		}
	}
	for id, want := range map[string]string{"cap-sys_admin": "5.4", "privileged": "5.5", "host-mount-etc": "5.6", "host-mount-root": "5.6", "engine-socket": "5.32", "no-healthcheck": "5.27", "live-memfd-exe": ""} {
		if got := collect.CISOf(id); got != want {
			t.Errorf("CISOf(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestTriageRulesHostPaths: a bind is judged by the closest rule: the path
// itself, else the nearest sensitive directory above it (one severity
// lower unless everything under it is as sensitive), and a directory above
// a socket directory is as bad as the socket.
func TestTriageRulesHostPaths(t *testing.T) {
	cases := []struct {
		src  string
		rw   bool
		id   string
		sev  collect.Severity
		none bool
	}{
		{src: "/", id: "host-mount-root", sev: collect.Critical},
		{src: "/proc/sys", rw: true, id: "host-mount-proc-sys", sev: collect.Critical},
		{src: "/proc/sys/kernel", rw: true, id: "host-mount-proc-sys", sev: collect.Critical},
		{src: "/sys/fs/cgroup", rw: true, id: "host-mount-sys-fs-cgroup", sev: collect.Critical},
		{src: "/sys/fs/cgroup/memory", rw: true, id: "host-mount-sys-fs-cgroup", sev: collect.Critical},
		{src: "/sys/fs", rw: true, id: "host-mount-sys-fs", sev: collect.Critical},
		{src: "/sys/kernel", id: "host-mount-sys-kernel", sev: collect.Medium},
		{src: "/sys/class/net", id: "host-mount-sys", sev: collect.Low},
		{src: "/lib", rw: true, id: "host-mount-lib", sev: collect.Critical},
		{src: "/lib64", id: "host-mount-lib64", sev: collect.Low},
		{src: "/usr/lib/x86_64-linux-gnu", rw: true, id: "host-mount-usr-lib", sev: collect.High},
		{src: "/bin", rw: true, id: "host-mount-bin", sev: collect.Critical},
		{src: "/sbin/", rw: true, id: "host-mount-sbin", sev: collect.Critical},
		{src: "/etc/shadow", id: "host-mount-etc-shadow", sev: collect.High},
		{src: "/etc/ssl", id: "host-mount-etc", sev: collect.Low},
		{src: "/etc/ssl", rw: true, id: "host-mount-etc", sev: collect.High},
		{src: "/etc", rw: true, id: "host-mount-etc", sev: collect.Critical},
		{src: "/etc/localtime", none: true},
		{src: "/etc/ssl/certs", none: true},
		{src: "/etc/ssl/certs", rw: true, id: "host-mount-etc-ssl-certs", sev: collect.Medium},
		{src: "/var/log", rw: true, id: "host-mount-var-log", sev: collect.High},
		{src: "/var/log/pods", rw: true, id: "host-mount-var-log", sev: collect.Medium},
		{src: "/var/lib/kubelet", id: "host-mount-var-lib-kubelet", sev: collect.High},
		{src: "/var/lib/kubelet/pods", rw: true, id: "host-mount-var-lib-kubelet", sev: collect.High},
		{src: "/run/containerd", id: "engine-socket", sev: collect.Critical},
		{src: "/var/run/containerd", id: "engine-socket", sev: collect.Critical},
		{src: "/run/k3s", id: "engine-socket", sev: collect.Critical},
		{src: "/run", id: "host-mount-run", sev: collect.Critical},
		{src: "/var/run", id: "host-mount-var-run", sev: collect.Critical},
		{src: "/var", id: "host-mount-var", sev: collect.Critical},
		{src: "/home/alice", rw: true, id: "host-mount-home", sev: collect.Medium},
		{src: "/srv/data", rw: true, none: true},
		{src: "/etcetera", rw: true, none: true},
	}
	var rc []ruleCase
	for _, c := range cases {
		m := bind(c.src, c.rw)
		rc = append(rc, ruleCase{name: c.src + map[bool]string{true: " rw", false: " ro"}[c.rw], change: func(s *runtime.Security) { s.Mounts = []runtime.Mount{m} }})
	}
	_, got := assessFake(t, rc, collect.ProfileEscape)
	for i, c := range cases {
		a := got[rc[i].name]
		if c.none {
			if len(a.Findings) != 0 {
				t.Errorf("%s: findings %v, want none", rc[i].name, ids(a))
			}
			continue
		}
		if len(a.Findings) != 1 || a.Findings[0].ID != c.id || a.Findings[0].Severity != c.sev {
			t.Errorf("%s: findings %+v, want one %s %s", rc[i].name, a.Findings, c.sev, c.id)
		}
	}
}

// TestTriageRulesPrivilegedOutranksEveryCapability: --privileged ranks at
// least as high as every capability granted without it, though fifteen
// dangerous capabilities give fifteen findings.
func TestTriageRulesPrivilegedOutranksEveryCapability(t *testing.T) {
	cases := []ruleCase{
		{"privileged", func(s *runtime.Security) {
			s.Privileged, s.Capabilities, s.Seccomp, s.AppArmor = true, allCaps, "unconfined", "unconfined"
		}, nil},
		{"cap-add ALL", func(s *runtime.Security) { s.Capabilities = allCaps }, nil},
		{"cap-add SYS_ADMIN", func(s *runtime.Security) { s.Capabilities = []string{"SYS_ADMIN"} }, nil},
	}
	for _, p := range []collect.Profile{collect.ProfileEscape, collect.ProfileCIS} {
		as, got := assessFake(t, cases, p)
		priv, all, one := got["privileged"], got["cap-add ALL"], got["cap-add SYS_ADMIN"]
		if n := len(ids(all)); n < 10 {
			t.Fatalf("cap-add ALL gives %d findings: %v", n, ids(all))
		}
		if priv.Score < all.Score || as[0].Container.ID != priv.Container.ID {
			t.Errorf("%s: privileged scores %d, cap-add ALL %d (%v); want privileged first", p, priv.Score, all.Score, ids(all))
		}
		if all.Score <= one.Score {
			t.Errorf("%s: cap-add ALL scores %d, not above SYS_ADMIN alone (%d)", p, all.Score, one.Score)
		}
	}
}

// TestTriageRulesProfiles: hygiene findings are shown on both profiles but
// weigh 0 on escape and count on cis; the hardened container of the issue
// (read-only, non-root, every capability dropped, no-new-privileges,
// limits) scores 0 on escape whatever its hygiene.
func TestTriageRulesProfiles(t *testing.T) {
	issueHardened := func(s *runtime.Security) {
		*s = runtime.Security{Capabilities: []string{}, Seccomp: "default", AppArmor: "docker-default", NoNewPrivileges: true, User: "1000:1000",
			ReadonlyRootfs: true, MemoryLimit: 64 << 20, CPULimited: true, PidsLimit: 64,
			RestartPolicy: "no", Healthcheck: "none", DefaultBridge: true, CgroupVersion: 2}
	}
	cases := []ruleCase{
		{"hardened", issueHardened, []string{"no-healthcheck", "default-bridge"}},
		{"hygiene", func(s *runtime.Security) {
			s.RestartPolicy, s.Healthcheck, s.CgroupParent = "always", "none", "x.slice"
			s.Ports = []runtime.PublishedPort{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}}
			s.Command = []string{"/usr/sbin/sshd", "-D"}
		}, nil},
	}
	_, escape := assessFake(t, cases, collect.ProfileEscape)
	_, cis := assessFake(t, cases, collect.ProfileCIS)
	for _, name := range []string{"hardened", "hygiene"} {
		if n := len(escape[name].Findings); n == 0 || n != len(cis[name].Findings) {
			t.Errorf("%s: %d findings on escape, %d on cis; want the same, some", name, n, len(cis[name].Findings))
		}
		for _, f := range escape[name].Findings {
			if f.Severity != collect.Info {
				t.Errorf("%s: %s is %s, want info", name, f.ID, f.Severity)
			}
		}
		if escape[name].Score != 0 || cis[name].Score <= 0 {
			t.Errorf("%s: score %d on escape, %d on cis; want 0 and more", name, escape[name].Score, cis[name].Score)
		}
	}
	if _, err := collect.ParseProfile("pci"); err == nil {
		t.Error("ParseProfile(pci) accepted")
	}
	if p, err := collect.ParseProfile(""); err != nil || p != collect.ProfileEscape {
		t.Errorf("ParseProfile(\"\") = %q, %v; want escape", p, err)
	}
}

// TestTriageRulesHostFindings: a host-wide condition is said once for the host:
// no user namespace remapping (not when the engine remaps), cgroup v1.
func TestTriageRulesHostFindings(t *testing.T) {
	plain, remapped, v1 := hardened(), hardened(), hardened()
	plain.UserNamespace = false
	remapped.UsernsRemap = true
	v1.CgroupVersion, v1.UserNamespace, v1.UsernsRemap = 1, true, true
	optedOut := remapped
	optedOut.UserNamespace, optedOut.HostUserns = false, true
	for _, c := range []struct {
		name string
		ss   []runtime.Security
		want []string
	}{
		{"docker without userns-remap", []runtime.Security{plain, plain}, []string{"host-no-userns-remap"}},
		{"docker with userns-remap, one opted out", []runtime.Security{remapped, optedOut}, nil},
		{"cgroup v1", []runtime.Security{v1}, []string{"host-cgroup-v1"}},
		{"no containers", nil, nil},
	} {
		var got []string
		for _, f := range collect.HostFindings("docker", c.ss) {
			got = append(got, f.ID)
			if f.Evidence == "" || f.Why == "" || f.Remedy == "" {
				t.Errorf("%s: %+v lacks evidence, why or remedy", c.name, f)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: host findings %v, want %v", c.name, got, c.want)
		}
	}
}
