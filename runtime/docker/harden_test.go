package docker

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"firebreak/runtime"
)

// inspectDoc is a minimal inspect document of a container made with
// docker's defaults, changed by mod.
func inspectDoc(t *testing.T, mod func(c *container.InspectResponse)) []byte {
	t.Helper()
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef", Image: "sha256:aa",
			HostConfig: &container.HostConfig{NetworkMode: "default"},
		},
		Config: &container.Config{Image: "app:1", Cmd: []string{"serve"}},
	}
	if mod != nil {
		mod(&c)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestHardeningChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		orig func(c *container.InspectResponse)
		h    runtime.Hardening
		want []string
	}{{
		name: "Defaults",
		h:    runtime.Hardening{Tmpfs: []string{"/tmp", "/run/app/"}, KeepCaps: []string{"net_bind_service", "CAP_CHOWN"}, User: "1000:1000"},
		want: []string{
			"capabilities: drop ALL, keep CHOWN, NET_BIND_SERVICE (was: the default set)",
			"no-new-privileges (was: setuid binaries could raise privileges)",
			"read-only root filesystem (was writable), tmpfs at /tmp, /run/app",
			"user 1000:1000 (was root, the image's default)",
			"memory limit 512 MiB (was none)",
			"CPU limit 1 CPU (was none)",
			"PID limit 256 (was none)",
		},
	}, {
		name: "PrivilegedUnconfined",
		orig: func(c *container.InspectResponse) {
			hc := c.HostConfig
			hc.Privileged, hc.CapAdd = true, []string{"SYS_ADMIN"}
			hc.SecurityOpt = []string{"seccomp=unconfined", "apparmor:unconfined", "no-new-privileges=false", "label=level:s0"}
			hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{}
			c.Config.User = "app"
		},
		h: runtime.Hardening{KeepCaps: []string{"SYS_ADMIN"}, Memory: 1 << 30, NanoCPUs: 1_500_000_000, PidsLimit: 100},
		want: []string{
			"not privileged (was privileged: every capability, every host device)",
			"capabilities: drop ALL, keep SYS_ADMIN (was: every capability, privileged)",
			"no-new-privileges (was: setuid binaries could raise privileges)",
			"seccomp: the engine's default profile (was unconfined)",
			"AppArmor: the engine's default profile (was unconfined)",
			"masked and read-only /proc and /sys paths: the engine's defaults (was unconfined)",
			"read-only root filesystem (was writable)",
			"memory limit 1 GiB (was none)",
			"CPU limit 1.5 CPUs (was none)",
			"PID limit 100 (was none)",
		},
	}, {
		name: "AlreadyHardened",
		orig: func(c *container.InspectResponse) {
			hc := c.HostConfig
			pids := int64(50)
			hc.CapDrop, hc.CapAdd = []string{"ALL"}, []string{"CAP_NET_BIND_SERVICE"}
			hc.SecurityOpt = []string{"no-new-privileges:true"}
			hc.ReadonlyRootfs, hc.Tmpfs = true, map[string]string{"/tmp": "size=1m"}
			hc.Memory, hc.CPUQuota, hc.CPUPeriod, hc.PidsLimit = 64<<20, 50000, 100000, &pids
			c.Config.User = "1000"
		},
		h:    runtime.Hardening{Tmpfs: []string{"/tmp"}, KeepCaps: []string{"NET_BIND_SERVICE"}, User: "1000"},
		want: nil,
	}, {
		name: "MountsKept",
		orig: func(c *container.InspectResponse) {
			c.HostConfig.Binds = []string{"data:/data:rw"}
			c.HostConfig.Tmpfs = map[string]string{"/run": ""}
			c.HostConfig.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/srv", Target: "/srv"}}
			c.Config.Volumes = map[string]struct{}{"/cache": {}}
			c.Mounts = []container.MountPoint{{Type: mount.TypeVolume, Name: "anon", Destination: "/cache", RW: true}}
		},
		h: runtime.Hardening{Tmpfs: []string{"/data", "/cache/", "/run", "/srv", "/tmp", "/tmp"}, KeepCaps: []string{"CHOWN"}},
		want: []string{
			"capabilities: drop ALL, keep CHOWN (was: the default set)",
			"no-new-privileges (was: setuid binaries could raise privileges)",
			"read-only root filesystem (was writable), tmpfs at /tmp; /data, /cache, /srv keep their mounts",
			"memory limit 512 MiB (was none)",
			"CPU limit 1 CPU (was none)",
			"PID limit 256 (was none)",
		},
	}, {
		name: "CapsNamedByDifference",
		orig: func(c *container.InspectResponse) {
			c.HostConfig.CapAdd, c.HostConfig.CapDrop = []string{"CAP_NET_ADMIN"}, []string{"CAP_MKNOD"}
			c.HostConfig.SecurityOpt = []string{"no-new-privileges", "seccomp=unconfined"}
			c.HostConfig.ReadonlyRootfs, c.HostConfig.Memory, c.HostConfig.NanoCPUs = true, 1<<20, 1
			pids := int64(10)
			c.HostConfig.PidsLimit = &pids
		},
		h: runtime.Hardening{KeepCaps: []string{"NET_ADMIN"}},
		want: []string{
			"capabilities: drop ALL, keep NET_ADMIN (was: the default set and NET_ADMIN without MKNOD)",
			"seccomp: the engine's default profile (was unconfined)",
		},
	}, {
		name: "FewCapsNamedOneByOne",
		orig: func(c *container.InspectResponse) {
			c.HostConfig.CapAdd, c.HostConfig.CapDrop = []string{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}, []string{"ALL"}
			c.HostConfig.SecurityOpt = []string{"no-new-privileges"}
			c.HostConfig.ReadonlyRootfs, c.HostConfig.Memory, c.HostConfig.NanoCPUs = true, 1<<20, 1
			pids := int64(10)
			c.HostConfig.PidsLimit = &pids
		},
		h:    runtime.Hardening{KeepCaps: []string{"CHOWN"}},
		want: []string{"capabilities: drop ALL, keep CHOWN (was: CHOWN, NET_BIND_SERVICE)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HardeningChanges(inspectDoc(t, tc.orig), tc.h)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestHardenSettings: what harden writes into the new configuration, and
// that it writes nothing into the original's.
func TestHardenSettings(t *testing.T) {
	orig, err := parseInspect(inspectDoc(t, func(c *container.InspectResponse) {
		c.HostConfig.Privileged = true
		c.HostConfig.SecurityOpt = []string{"seccomp=unconfined", "label=level:s0", "no-new-privileges=false"}
		c.HostConfig.Tmpfs = map[string]string{"/run": ""}
		c.HostConfig.MaskedPaths, c.HostConfig.ReadonlyPaths = []string{}, []string{}
		c.HostConfig.CPUPeriod = 50000
		c.HostConfig.CapAdd = []string{"CAP_SYS_ADMIN"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := *orig.Config, *orig.HostConfig
	if _, err := harden(runtime.Hardening{Tmpfs: []string{"/tmp"}, KeepCaps: []string{"SYS_ADMIN", "CHOWN"}, User: "app"}, orig, &cfg, &hc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"Privileged", hc.Privileged, false},
		{"ReadonlyRootfs", hc.ReadonlyRootfs, true},
		{"Tmpfs", len(hc.Tmpfs), 2},
		{"CapDrop", strings.Join(hc.CapDrop, ","), "ALL"},
		{"CapAdd", strings.Join(hc.CapAdd, ","), "CAP_CHOWN,CAP_SYS_ADMIN"},
		{"SecurityOpt", strings.Join(hc.SecurityOpt, ","), "label=level:s0,no-new-privileges"},
		{"MaskedPaths nil", hc.MaskedPaths == nil && hc.ReadonlyPaths == nil, true},
		{"User", cfg.User, "app"},
		{"Memory", hc.Memory, runtime.DefaultHardenMemory},
		{"NanoCPUs (beside a CFS period)", hc.NanoCPUs, int64(0)},
		{"CPUQuota (one CPU of the period)", hc.CPUQuota, int64(50000)},
		{"PidsLimit", *hc.PidsLimit, runtime.DefaultHardenPids},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if _, ok := orig.HostConfig.Tmpfs["/tmp"]; ok || !orig.HostConfig.Privileged || orig.HostConfig.PidsLimit != nil ||
		!slices.Equal(orig.HostConfig.SecurityOpt, []string{"seccomp=unconfined", "label=level:s0", "no-new-privileges=false"}) ||
		!slices.Equal(orig.HostConfig.CapAdd, []string{"CAP_SYS_ADMIN"}) {
		t.Errorf("harden wrote into the original's configuration: %+v", orig.HostConfig)
	}
}

func TestHardeningChangesRefuses(t *testing.T) {
	plain := inspectDoc(t, nil)
	for _, tc := range []struct {
		name string
		orig []byte
		h    runtime.Hardening
		want string
	}{
		{"CapNotHad", plain, runtime.Hardening{KeepCaps: []string{"SYS_ADMIN"}}, "keeping SYS_ADMIN would add a capability"},
		{"CapAll", plain, runtime.Hardening{KeepCaps: []string{"all"}}, "keeping ALL"},
		{"CapName", plain, runtime.Hardening{KeepCaps: []string{"net bind"}}, "not a capability name"},
		{"RootUser", plain, runtime.Hardening{User: "0:0"}, `user "0:0" is root`},
		{"RootByName", plain, runtime.Hardening{User: "root"}, `user "root" is root`},
		{"RelativeTmpfs", plain, runtime.Hardening{Tmpfs: []string{"tmp"}}, `tmpfs path "tmp"`},
		{"RootTmpfs", plain, runtime.Hardening{Tmpfs: []string{"/"}}, `tmpfs path "/"`},
		{"NegativeLimit", plain, runtime.Hardening{Memory: -1}, "negative limit"},
		{"ReservationAboveLimit", inspectDoc(t, func(c *container.InspectResponse) { c.HostConfig.MemoryReservation = 1 << 30 }),
			runtime.Hardening{}, "reserves 1 GiB of memory, more than the limit of 512 MiB"},
		{"NotJSON", []byte("{"), runtime.Hardening{}, "not a Docker container's"},
		{"NoHostConfig", []byte(`{"Id":"x","Config":{}}`), runtime.Hardening{}, "no Config or HostConfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HardeningChanges(tc.orig, tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("HardeningChanges = %q, %v; want an error with %q", got, err, tc.want)
			}
		})
	}
}

func TestHardeningLimits(t *testing.T) {
	m, c, p := runtime.Hardening{}.Limits()
	if m != 512<<20 || c != 1e9 || p != 256 {
		t.Errorf("default limits = %d, %d, %d; want 512 MiB, one CPU, 256 PIDs", m, c, p)
	}
	m, c, p = runtime.Hardening{Memory: 1 << 30, NanoCPUs: 2e9, PidsLimit: 64}.Limits()
	if m != 1<<30 || c != 2e9 || p != 64 {
		t.Errorf("limits = %d, %d, %d; want what was given", m, c, p)
	}
}
