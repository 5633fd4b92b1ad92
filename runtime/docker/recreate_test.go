package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"

	"firebreak/runtime"
	"firebreak/runtime/docker"
	"firebreak/runtime/runtimetest"
)

// TestRecreateKeepsEveryCreateTimeField creates a container with as much
// create-time configuration as this engine takes, recreates it from its
// inspect document with its named and anonymous volumes swapped, and
// compares the two inspect documents field by field: a table of named
// fields, then every leaf of Config, HostConfig and the network endpoints.
// Only the fields in the allow-list may differ, each for its stated reason,
// and those the plan changes must have the value the plan gives them.
func TestRecreateKeepsEveryCreateTimeField(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Docker()
	api := d.API()
	ctx := runtimetest.Context(t)
	base := recreateName()
	net1, pre1 := h.SubnetNetwork(t, base+"-net1")
	net2, pre2 := h.SubnetNetwork(t, base+"-net2")
	vol := makeVolume(t, d, base+"-data")
	newVol, newCache := base+"-data2", base+"-cache2"
	t.Cleanup(func() { removeVolume(t, d, newVol); removeVolume(t, d, newCache) })

	cfg, hc, nc := richConfig(t, base, vol, net1, pre1)
	resp, err := api.ContainerCreate(ctx, cfg, hc, nc, nil, base+"-web")
	if err != nil {
		t.Fatalf("creating the original: %v", err)
	}
	removeAtEnd(t, d, resp.ID)
	if err := api.NetworkConnect(ctx, net2, resp.ID, &network.EndpointSettings{
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: pre2 + ".20"}, Aliases: []string{"db-side"},
	}); err != nil {
		t.Fatalf("connecting the original to %s: %v", net2, err)
	}
	startRunning(t, d, resp.ID)
	orig, origRaw := inspectRaw(t, d, resp.ID)
	checkConfigTook(t, orig)

	// The original stops (its addresses and ports are free again) and
	// steps aside under another name, as recover does with the suspect.
	grace := 2
	if err := api.ContainerStop(ctx, resp.ID, container.StopOptions{Timeout: &grace}); err != nil {
		t.Fatalf("stopping the original: %v", err)
	}
	if err := d.Rename(ctx, resp.ID, base+"-suspect"); err != nil {
		t.Fatal(err)
	}
	anon := mountAt(orig, "/cache").Name
	if anon == "" {
		t.Fatalf("the original has no anonymous volume at /cache: %+v", orig.Mounts)
	}
	newVolDir, err := d.CreateVolume(ctx, newVol, nil)
	if err != nil {
		t.Fatal(err)
	}
	newCacheDir, err := d.CreateVolume(ctx, newCache, nil)
	if err != nil {
		t.Fatal(err)
	}
	added := map[string]string{"io.firebreak.case": "c-1", "io.firebreak.snapshot": "s-1"}
	id, err := d.Recreate(ctx, runtime.RecreateSpec{
		Config:  origRaw,
		Name:    base + "-web",
		Volumes: map[string]string{vol: newVol, anon: newCache},
		Labels:  added,
	})
	if err != nil {
		t.Fatalf("Recreate: %v", err)
	}
	removeAtEnd(t, d, id)
	startRunning(t, d, id)
	got, _ := inspectRaw(t, d, id)

	fields := recreateFields([]string{net1, net2}, []string{"/data", "/host", "/scratch", "/cache"})
	allow := recreateAllowList(recreatePlan{
		labels: added,
		binds:  map[string]string{vol + ":": newVol + ":"},
		mounts: map[string][2]string{"/data": {newVol, newVolDir}, "/cache": {newCache, newCacheDir}},
		nets:   []string{net1, net2},
	})
	if n := len(fields) - len(allow); n < 60 {
		t.Fatalf("only %d fields must be equal; the issue asks for at least 60", n)
	}
	for name := range allow {
		if !slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
			t.Errorf("allow-list names %s, which the table does not compare", name)
		}
	}
	for _, m := range compareFields(fields, allow, orig, got) {
		t.Error(m)
	}
	for _, m := range sweepLeaves(allow, orig, got) {
		t.Error(m)
	}
	t.Logf("compared %d named fields (%d allowed to differ) and every leaf of Config, HostConfig and the endpoints", len(fields), len(allow))

	// The comparison itself can fail: a changed copy is caught by name,
	// with both values.
	bad := got
	badCfg := *got.Config
	badCfg.User = "4321"
	bad.Config = &badCfg
	before := compareFields(fields, allow, orig, got)
	var ms []string
	for _, m := range compareFields(fields, allow, orig, bad) {
		if !slices.Contains(before, m) {
			ms = append(ms, m)
		}
	}
	if len(ms) != 1 || !strings.Contains(ms[0], "Config.User") || !strings.Contains(ms[0], `"1000:1000"`) || !strings.Contains(ms[0], `"4321"`) {
		t.Errorf("a changed user is reported as %q, want one mismatch naming Config.User with both values", ms)
	}
}

// TestRecreateLeavesDefaultsToTheEngine: a container made with the
// engine's defaults, on the default bridge, recreated under another name
// beside it. What the engine chose for the original (hostname = short ID,
// address, MAC) it chooses again for the new one; all else is equal.
func TestRecreateLeavesDefaultsToTheEngine(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Docker()
	ctx := runtimetest.Context(t)
	base := recreateName()
	resp, err := d.API().ContainerCreate(ctx, &container.Config{
		Image: runtimetest.Image(), Cmd: []string{"sleep", "600"}, Labels: map[string]string{runtimetest.Label: t.Name()},
	}, nil, nil, nil, base+"-plain")
	if err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, d, resp.ID)
	startRunning(t, d, resp.ID)
	orig, raw := inspectRaw(t, d, resp.ID)
	id, err := d.Recreate(ctx, runtime.RecreateSpec{Config: raw, Name: base + "-again"})
	if err != nil {
		t.Fatalf("Recreate: %v", err)
	}
	removeAtEnd(t, d, id)
	startRunning(t, d, id)
	got, _ := inspectRaw(t, d, id)

	fields := recreateFields([]string{"bridge"}, nil)
	engine := func(why string) allowance { return allowance{why: why} }
	allow := map[string]allowance{
		"Id":             engine("the engine assigns a new container its ID"),
		"Created":        engine("the time the engine made the new container"),
		"ResolvConfPath": engine("under the engine's directory named after the ID"),
		"HostsPath":      engine("under the engine's directory named after the ID"),
		"LogPath":        engine("under the engine's directory named after the ID"),
		"Name":           {"the plan names it", func(_, _ inspect) any { return "/" + base + "-again" }},
		"Config.Hostname": {"the engine's default hostname is the new short ID", func(_, g inspect) any {
			return runtime.ShortID(g.ID)
		}},
		"NetworkSettings.Networks.bridge.EndpointID": engine("the engine makes a new endpoint"),
		"NetworkSettings.Networks.bridge.IPAddress":  engine("the original's address was the engine's, not pinned"),
		"NetworkSettings.Networks.bridge.MacAddress": engine("the original's MAC was the engine's, not pinned"),
	}
	for _, m := range compareFields(fields, allow, orig, got) {
		t.Error(m)
	}
	for _, m := range sweepLeaves(allow, orig, got) {
		t.Error(m)
	}
	if e := got.NetworkSettings.Networks["bridge"]; e == nil || e.IPAddress == "" || e.MacAddress == "" {
		t.Errorf("the recreated container has no address of the engine's on the bridge: %+v", e)
	}
}

// TestRecreateImageByIDWhenTheTagMoved: the original was created from a tag
// that names another image by the time of the recreate; the new container
// runs the original's image, named by its ID.
func TestRecreateImageByIDWhenTheTagMoved(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Docker()
	api := d.API()
	ctx := runtimetest.Context(t)
	base := recreateName()
	tag := base + ":v1"
	if err := api.ImageTag(ctx, runtimetest.Image(), tag); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Untags only: both images keep their own tags.
		if _, err := api.ImageRemove(context.WithoutCancel(ctx), tag, image.RemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Logf("removing tag %s: %v", tag, err)
		}
	})
	resp, err := api.ContainerCreate(ctx, &container.Config{
		Image: tag, Cmd: []string{"sleep", "600"}, Labels: map[string]string{runtimetest.Label: t.Name()},
	}, nil, nil, nil, base+"-orig")
	if err != nil {
		t.Fatal(err)
	}
	removeAtEnd(t, d, resp.ID)
	orig, raw := inspectRaw(t, d, resp.ID)
	if err := api.ImageTag(ctx, runtimetest.PauseImage(), tag); err != nil {
		t.Fatal(err)
	}
	id, err := d.Recreate(ctx, runtime.RecreateSpec{Config: raw, Name: base + "-new"})
	if err != nil {
		t.Fatalf("Recreate: %v", err)
	}
	removeAtEnd(t, d, id)
	got, _ := inspectRaw(t, d, id)
	if got.Image != orig.Image || got.Config.Image != orig.Image {
		t.Errorf("recreated from %s (Config.Image %s), want the original's image %s by ID", got.Image, got.Config.Image, orig.Image)
	}
}

// richConfig is the original's configuration: every create-time setting the
// issue lists that this engine (20.10, cgroup v1, no AppArmor) takes.
func richConfig(t *testing.T, base, vol, net1, pre1 string) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	tcp, udp := freePort(t, "tcp"), freePort(t, "udp")
	exposed, bindings, err := nat.ParsePortSpecs([]string{"127.0.0.1:" + tcp + ":80/tcp", "127.0.0.1:" + udp + ":53/udp"})
	if err != nil {
		t.Fatal(err)
	}
	exposed["9000/tcp"] = struct{}{} // exposed, not published
	stop := 7
	cfg := &container.Config{
		Image:        runtimetest.Image(),
		Hostname:     "fbhost",
		Domainname:   "example.internal",
		User:         "1000:1000",
		Env:          []string{"FOO=bar", "EMPTY="},
		Entrypoint:   []string{"/bin/sh"},
		Cmd:          []string{"-c", "sleep 600"},
		WorkingDir:   "/data",
		Labels:       map[string]string{runtimetest.Label: t.Name(), "tier": "web", "owner": "fbrecreate"},
		ExposedPorts: exposed,
		Volumes:      map[string]struct{}{"/cache": {}},
		Tty:          true,
		OpenStdin:    true,
		StopSignal:   "SIGUSR1",
		StopTimeout:  &stop,
		Healthcheck: &container.HealthConfig{
			Test: []string{"CMD-SHELL", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second,
			StartPeriod: time.Second, Retries: 3,
		},
	}
	//lint:ignore SA1019 below API 1.44 (this engine) a MAC is asked for here
	cfg.MacAddress = "02:42:de:ad:be:ef"
	pids, swappiness, oomOff, init := int64(100), int64(10), true, true
	hc := &container.HostConfig{
		Binds:        []string{vol + ":/data", t.TempDir() + ":/host:ro"},
		Mounts:       []mount.Mount{{Type: mount.TypeTmpfs, Target: "/scratch", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 2 << 20, Mode: 01700}}},
		Tmpfs:        map[string]string{"/run": "rw,size=1m,mode=1770"},
		LogConfig:    container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "2"}},
		NetworkMode:  container.NetworkMode(net1),
		PortBindings: bindings,
		RestartPolicy: container.RestartPolicy{
			Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3,
		},
		CapAdd:         []string{"NET_ADMIN"},
		CapDrop:        []string{"MKNOD"},
		CgroupnsMode:   container.CgroupnsModePrivate,
		DNS:            []string{"127.0.0.53"},
		DNSSearch:      []string{"example.internal"},
		DNSOptions:     []string{"ndots:2"},
		ExtraHosts:     []string{"db.internal:10.9.9.9"},
		GroupAdd:       []string{"1234"},
		IpcMode:        "shareable",
		OomScoreAdj:    100,
		ReadonlyRootfs: true,
		SecurityOpt: []string{"no-new-privileges",
			`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["keyctl"],"action":"SCMP_ACT_ERRNO"}]}`},
		ShmSize:       32 << 20,
		Sysctls:       map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.shm_rmid_forced": "1"},
		Runtime:       "runc",
		MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
		ReadonlyPaths: []string{"/proc/bus", "/proc/sys", "/proc/sysrq-trigger"},
		Init:          &init,
		Resources: container.Resources{
			Memory: 64 << 20, MemoryReservation: 32 << 20, MemorySwap: 128 << 20, MemorySwappiness: &swappiness,
			OomKillDisable: &oomOff, NanoCPUs: 500_000_000, CPUShares: 512, CpusetCpus: "0", CpusetMems: "0",
			PidsLimit: &pids, BlkioWeight: 300,
			Devices:           []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/fbnull", CgroupPermissions: "rwm"}},
			DeviceCgroupRules: []string{"c 1:5 rwm"},
			Ulimits:           []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 4096, Hard: 8192}},
		},
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		net1: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: pre1 + ".10"}, Aliases: []string{"web", "api"}},
	}}
	return cfg, hc, nc
}

// checkConfigTook fails when a setting the test asked for is missing from
// the original, so that equal-because-both-empty cannot pass for kept.
// Settings the engine may discard on some hosts are logged instead.
func checkConfigTook(t *testing.T, orig inspect) {
	t.Helper()
	fs := recreateFields(nil, []string{"/data", "/host", "/scratch", "/cache"})
	value := func(name string) any {
		for _, f := range fs {
			if f.name == name {
				return f.get(orig)
			}
		}
		t.Fatalf("no field %s", name)
		return nil
	}
	for _, name := range []string{
		"Config.Hostname", "Config.Domainname", "Config.User", "Config.Env", "Config.Entrypoint", "Config.Cmd",
		"Config.WorkingDir", "Config.Labels", "Config.ExposedPorts", "Config.Volumes", "Config.StopSignal",
		"Config.StopTimeout", "Config.Healthcheck.Test", "Config.MacAddress", "HostConfig.Binds", "HostConfig.Mounts",
		"HostConfig.Tmpfs", "HostConfig.LogConfig.Config", "HostConfig.PortBindings", "HostConfig.RestartPolicy.Name",
		"HostConfig.CapAdd", "HostConfig.CapDrop", "HostConfig.Dns", "HostConfig.DnsSearch", "HostConfig.DnsOptions",
		"HostConfig.ExtraHosts", "HostConfig.GroupAdd", "HostConfig.OomScoreAdj", "HostConfig.ReadonlyRootfs",
		"HostConfig.SecurityOpt", "HostConfig.ShmSize", "HostConfig.Sysctls", "HostConfig.Init", "HostConfig.Memory",
		"HostConfig.MemoryReservation", "HostConfig.NanoCpus", "HostConfig.CpuShares", "HostConfig.CpusetCpus",
		"HostConfig.PidsLimit", "HostConfig.Devices", "HostConfig.DeviceCgroupRules", "HostConfig.Ulimits",
		"HostConfig.MaskedPaths", "HostConfig.ReadonlyPaths", "Mounts[/scratch].Type", "Mounts[/cache].Name",
	} {
		if isZero(value(name)) {
			t.Errorf("the original has no %s: the engine did not take the test's setting", name)
		}
	}
	for _, name := range []string{"HostConfig.BlkioWeight", "HostConfig.MemorySwap", "HostConfig.MemorySwappiness", "HostConfig.OomKillDisable"} {
		if v := value(name); isZero(v) || v == any(int64(-1)) {
			t.Logf("this engine discarded %s (cgroup support); it is compared as the engine kept it", name)
		}
	}
}

// recreatePlan is what the recreate changed on purpose.
type recreatePlan struct {
	labels map[string]string    // added
	binds  map[string]string    // bind prefix "vol:" -> "newvol:"
	mounts map[string][2]string // destination -> the new volume's name and directory
	nets   []string
}

// recreateAllowList is every field that may differ, keyed by its name in the
// table. The sweep of leaves skips what a key covers (the key's path and
// below); the table checks those against want.
func recreateAllowList(p recreatePlan) map[string]allowance {
	engine := func(why string) allowance { return allowance{why: why} }
	allow := map[string]allowance{
		"Id":             engine("the engine assigns a new container its ID"),
		"Created":        engine("the time the engine made the new container"),
		"ResolvConfPath": engine("under the engine's directory named after the ID"),
		"HostsPath":      engine("under the engine's directory named after the ID"),
		"LogPath":        engine("under the engine's directory named after the ID"),
		"Config.Labels": {"recover adds its labels (case, snapshot) to the original's", func(o, _ inspect) any {
			l := maps.Clone(o.Config.Labels)
			maps.Copy(l, p.labels)
			return l
		}},
		"HostConfig.Binds": {"the named volume is swapped for the restored one", func(o, _ inspect) any {
			var bs []string
			for _, b := range o.HostConfig.Binds {
				for from, to := range p.binds {
					if rest, ok := strings.CutPrefix(b, from); ok {
						b = to + rest
					}
				}
				bs = append(bs, b)
			}
			return bs
		}},
		"HostConfig.Mounts": {"the anonymous volume is given its restored one by destination", func(o, _ inspect) any {
			ms := slices.Clone(o.HostConfig.Mounts)
			for _, m := range o.Mounts {
				if m.Type == mount.TypeVolume && !slices.ContainsFunc(o.HostConfig.Binds, func(b string) bool { return strings.HasPrefix(b, m.Name+":") }) {
					ms = append(ms, mount.Mount{Type: mount.TypeVolume, Source: p.mounts[m.Destination][0], Target: m.Destination})
				}
			}
			return ms
		}},
	}
	for dst, v := range p.mounts {
		allow["Mounts["+dst+"].Name"] = allowance{"the volume is swapped for the restored one", func(_, _ inspect) any { return v[0] }}
		allow["Mounts["+dst+"].Source"] = allowance{"the restored volume's directory", func(_, _ inspect) any { return v[1] }}
		// 20.10 records the SELinux relabel mode "z" for a named volume and
		// none for an anonymous one (of Config.Volumes); without SELinux
		// it does nothing.
		allow["Mounts["+dst+"].Mode"] = allowance{"a restored anonymous volume is a named one, which the engine records as mode z", func(o, g inspect) any {
			if mountAt(o, dst).Mode == "" && mountAt(g, dst).Mode == "z" {
				return "z"
			}
			return mountAt(o, dst).Mode
		}}
	}
	for _, n := range p.nets {
		allow["NetworkSettings.Networks."+n+".EndpointID"] = engine("the engine makes a new endpoint")
		// The engine adds the container's short ID as an alias on a
		// user-defined network (20.10; later engines list it in DNSNames).
		allow["NetworkSettings.Networks."+n+".Aliases"] = allowance{"the short-ID alias is the new container's", func(o, g inspect) any {
			var as []string
			for _, a := range o.NetworkSettings.Networks[n].Aliases {
				if a == runtime.ShortID(o.ID) {
					a = runtime.ShortID(g.ID)
				}
				as = append(as, a)
			}
			slices.Sort(as)
			return as
		}}
	}
	return allow
}

// recreateName is a fresh name prefix for one test's containers, networks
// and volumes.
func recreateName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "fbrecreate-" + hex.EncodeToString(b)
}

// freePort is a port on 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T, proto string) string {
	t.Helper()
	var addr net.Addr
	if proto == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return port
}

func makeVolume(t *testing.T, d *docker.Docker, name string) string {
	t.Helper()
	if _, err := d.API().VolumeCreate(runtimetest.Context(t), volume.CreateOptions{Name: name, Labels: map[string]string{runtimetest.Label: t.Name()}}); err != nil {
		t.Fatalf("creating volume %s: %v", name, err)
	}
	t.Cleanup(func() { removeVolume(t, d, name) })
	return name
}

func removeVolume(t *testing.T, d *docker.Docker, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.RemoveVolume(ctx, name); err != nil {
		t.Logf("removing volume %s: %v", name, err)
	}
}

func removeAtEnd(t *testing.T, d *docker.Docker, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Remove(ctx, id); err != nil {
			t.Logf("removing container %s: %v", id, err)
		}
	})
}

func startRunning(t *testing.T, d *docker.Docker, id string) {
	t.Helper()
	ctx := runtimetest.Context(t)
	if err := d.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 30*time.Second, runtime.ShortID(id)+" running", func() bool {
		_, running, err := d.Health(ctx, id)
		return err == nil && running
	})
}

func inspectRaw(t *testing.T, d *docker.Docker, id string) (inspect, []byte) {
	t.Helper()
	c, raw, err := d.API().ContainerInspectWithRaw(runtimetest.Context(t), id, false)
	if err != nil {
		t.Fatalf("inspecting %s: %v", runtime.ShortID(id), err)
	}
	return c, raw
}

// notExists fails unless no container has the name.
func notExists(t *testing.T, d *docker.Docker, name string) {
	t.Helper()
	_, err := d.API().ContainerInspect(runtimetest.Context(t), name)
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("container %s: %v, want none", name, err)
	}
}
