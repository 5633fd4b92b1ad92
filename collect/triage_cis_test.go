package collect_test

import (
	"slices"
	"testing"

	"firebreak/collect"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// cisCase is one check planted in a container: the CIS id, the finding and
// the setting that plants it.
type cisCase struct {
	cis, id string
	plant   func(s *runtimetest.Spec)
}

// TestTriageCISOnDocker plants each container check of the CIS Docker
// Benchmark's section 5 in a container of its own, hardened and
// CIS-clean but for that one setting, next to a fully hardened one, all
// created and not started (configuration findings need no process, and a
// privileged container cannot start in this sandbox). Each check is found
// on its container with its CIS id, through the real engine's inspect
// document; the hardened one scores 0 on the escape profile; hygiene weighs
// on the cis profile only; what holds for the whole engine is said once.
func TestTriageCISOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	net := h.UserNetwork(t, runtimetest.Name(t), false)
	shared := t.TempDir()
	clean := func() runtimetest.Spec {
		return runtimetest.Spec{
			User: "1000:1000", CapDrop: []string{"ALL"}, ReadonlyRootfs: true,
			SecurityOpt: []string{"no-new-privileges"},
			Memory:      64 << 20, NanoCPUs: 500_000_000, PidsLimit: 64,
			Network: net, Healthcheck: []string{"CMD", "true"}, Restart: "on-failure:5",
		}
	}
	cases := []cisCase{
		{"5.2", "apparmor-unconfined", func(s *runtimetest.Spec) { s.SecurityOpt = append(s.SecurityOpt, "apparmor=unconfined") }},
		{"5.3", "selinux-disabled", func(s *runtimetest.Spec) { s.SecurityOpt = append(s.SecurityOpt, "label=disable") }},
		{"5.4", "cap-sys_admin", func(s *runtimetest.Spec) { s.CapAdd = []string{"SYS_ADMIN"} }},
		{"5.5", "privileged", func(s *runtimetest.Spec) { s.Privileged = true }},
		{"5.6", "host-mount-etc", func(s *runtimetest.Spec) { s.Binds = []string{"/etc:/host-etc:ro"} }},
		{"5.7", "sshd", func(s *runtimetest.Spec) { s.Cmd = []string{"/usr/sbin/sshd", "-D"} }},
		{"5.8", "privileged-port", func(s *runtimetest.Spec) { s.Publish = []string{"127.0.0.1:80:80"} }},
		{"5.9", "open-ports", func(s *runtimetest.Spec) { s.Publish = []string{"127.0.0.1:18080:80"} }},
		{"5.10", "host-network", func(s *runtimetest.Spec) { s.Network, s.HostNetwork = "", true }},
		{"5.11", "no-memory-limit", func(s *runtimetest.Spec) { s.Memory = 0 }},
		{"5.12", "no-cpu-limit", func(s *runtimetest.Spec) { s.NanoCPUs = 0 }},
		{"5.13", "writable-rootfs", func(s *runtimetest.Spec) { s.ReadonlyRootfs = false }},
		{"5.14", "ports-all-interfaces", func(s *runtimetest.Spec) { s.Publish = []string{"18081:80"} }},
		{"5.15", "restart-policy", func(s *runtimetest.Spec) { s.Restart = "always" }},
		{"5.16", "host-pid", func(s *runtimetest.Spec) { s.HostPID = true }},
		{"5.17", "host-ipc", func(s *runtimetest.Spec) { s.HostIPC = true }},
		{"5.18", "devices", func(s *runtimetest.Spec) { s.Devices = []string{"/dev/null:/dev/xnull"} }},
		{"5.18", "device-cgroup-rule", func(s *runtimetest.Spec) { s.DeviceCgroupRules = []string{"c 189:* rwm"} }},
		{"5.19", "ulimit-override", func(s *runtimetest.Spec) { s.Ulimits = []string{"nofile=2048:4096"} }},
		{"5.20", "mount-propagation-shared", func(s *runtimetest.Spec) { s.Binds = []string{shared + ":/data:rshared"} }},
		{"5.21", "host-uts", func(s *runtimetest.Spec) { s.HostUTS = true }},
		{"5.22", "seccomp-unconfined", func(s *runtimetest.Spec) { s.SeccompUnconfined = true }},
		{"5.25", "cgroup-parent", func(s *runtimetest.Spec) { s.CgroupParent = "firebreak-test.slice" }},
		{"5.26", "no-new-privileges-unset", func(s *runtimetest.Spec) { s.SecurityOpt = nil }},
		{"5.27", "no-healthcheck", func(s *runtimetest.Spec) { s.Healthcheck = nil }}, // the test image has none
		{"5.29", "no-pids-limit", func(s *runtimetest.Spec) { s.PidsLimit = 0 }},
		{"5.30", "default-bridge", func(s *runtimetest.Spec) { s.Network = "" }},
		{"5.31", "no-userns", func(s *runtimetest.Spec) { s.HostUserns = true }},
		{"5.32", "engine-socket", func(s *runtimetest.Spec) { s.Binds = []string{"/var/run/docker.sock:/var/run/docker.sock"} }},
		{"", "systempaths-unconfined", func(s *runtimetest.Spec) { s.SystemPathsUnconfined = true }},
		{"4.1", "root-user", func(s *runtimetest.Spec) { s.User = "0:0" }},
	}
	hard := h.Create(t, runtimetest.Name(t), clean())
	targets := []runtime.Container{hard.Container}
	planted := map[string]int{} // container ID -> case
	for i, c := range cases {
		s := clean()
		c.plant(&s)
		d := h.Create(t, runtimetest.Name(t), s)
		planted[d.ID] = i
		targets = append(targets, d.Container)
	}
	// A host cgroup namespace is the container's own choice on cgroup v2
	// only; on v1 it is every container's default, said once for the host.
	if hard.Security.CgroupVersion == 2 {
		s := clean()
		s.HostCgroupns = true
		d := h.Create(t, runtimetest.Name(t), s)
		cases = append(cases, cisCase{"", "host-cgroup", nil})
		planted[d.ID] = len(cases) - 1
		targets = append(targets, d.Container)
	}

	as, err := collect.AssessAll(ctx, h.Runtime(), "/proc", targets, 8)
	if err != nil {
		t.Fatal(err)
	}
	cis := slices.Clone(as)
	collect.ProfileEscape.Apply(as)
	collect.ProfileCIS.Apply(cis)
	cisScore := map[string]int{}
	for _, a := range cis {
		cisScore[a.Container.ID] = a.Score
	}
	var hardened collect.Assessment
	var securities []runtime.Security
	for _, a := range as {
		securities = append(securities, runtimetest.Inspect(t, h, a.Container.ID).Security)
		if a.Container.ID == hard.ID {
			hardened = a
		}
	}
	// The hardened container: nothing but what depends on the host (no
	// AppArmor or SELinux on it), and that weighs nothing on escape.
	for _, f := range hardened.Findings {
		if f.Severity != collect.Info {
			t.Errorf("hardened container: %s (%s: %s)", f.ID, f.Severity, f.Evidence)
		}
	}
	if hardened.Score != 0 {
		t.Errorf("hardened container scores %d on the escape profile, want 0: %v", hardened.Score, ids(hardened))
	}
	for _, a := range as {
		i, ok := planted[a.Container.ID]
		if !ok {
			continue
		}
		c := cases[i]
		if !slices.Contains(ids(a), c.id) {
			t.Errorf("CIS %s: container %s lacks %s: %v", c.cis, a.Container.Name, c.id, ids(a))
		}
		if got := collect.CISOf(c.id); got != c.cis {
			t.Errorf("%s: CIS id %q, want %q", c.id, got, c.cis)
		}
		if slices.Contains(ids(hardened), c.id) {
			t.Errorf("%s found on the hardened container too", c.id)
		}
		var sev collect.Severity
		for _, f := range a.Findings {
			if f.ID == c.id {
				sev = f.Severity
			}
		}
		switch {
		case sev == collect.Info && (a.Score != 0 || cisScore[a.Container.ID] <= 0):
			t.Errorf("%s (hygiene): score %d on escape, %d on cis; want 0 and more", c.id, a.Score, cisScore[a.Container.ID])
		case sev != collect.Info && a.Score <= hardened.Score:
			t.Errorf("%s: score %d, not above the hardened container's %d", c.id, a.Score, hardened.Score)
		}
	}
	// Engine-wide conditions: once for the host, never per container.
	remap := slices.ContainsFunc(securities, func(s runtime.Security) bool { return s.UsernsRemap })
	var host []string
	for _, f := range collect.HostFindings(h.Runtime().Name(), securities) {
		host = append(host, f.ID)
	}
	if slices.Contains(host, "host-no-userns-remap") == remap {
		t.Errorf("host findings %v with userns-remap %v", host, remap)
	}
	if slices.Contains(host, "host-cgroup-v1") != (hard.Security.CgroupVersion == 1) {
		t.Errorf("host findings %v on cgroup v%d", host, hard.Security.CgroupVersion)
	}
}
