package docker_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// The comparison of two containers' inspect documents that recreate tests
// use: a table of named fields, an allow-list of those that may differ, and
// a sweep over every leaf of the create-time configuration.

type inspect = container.InspectResponse

// field is one named part of an inspect document.
type field struct {
	name string
	get  func(inspect) any
}

func cf(name string, get func(container.Config) any) field {
	return field{"Config." + name, func(c inspect) any {
		if c.Config == nil {
			return nil
		}
		return get(*c.Config)
	}}
}

func hf(name string, get func(container.HostConfig) any) field {
	return field{"HostConfig." + name, func(c inspect) any {
		if c.HostConfig == nil {
			return nil
		}
		return get(*c.HostConfig)
	}}
}

func healthOf(c container.Config) container.HealthConfig {
	if c.Healthcheck == nil {
		return container.HealthConfig{}
	}
	return *c.Healthcheck
}

// recreateFields is the table of named fields, with one row per mount
// destination and per network for the parts of those.
func recreateFields(nets, dests []string) []field {
	fs := []field{
		{"Id", func(c inspect) any { return c.ID }},
		{"Created", func(c inspect) any { return c.Created }},
		{"Name", func(c inspect) any { return c.Name }},
		{"Image", func(c inspect) any { return c.Image }},
		{"Path", func(c inspect) any { return c.Path }},
		{"Args", func(c inspect) any { return c.Args }},
		{"Driver", func(c inspect) any { return c.Driver }},
		{"Platform", func(c inspect) any { return c.Platform }},
		{"AppArmorProfile", func(c inspect) any { return c.AppArmorProfile }},
		{"MountLabel", func(c inspect) any { return c.MountLabel }},
		{"ProcessLabel", func(c inspect) any { return c.ProcessLabel }},
		{"ResolvConfPath", func(c inspect) any { return c.ResolvConfPath }},
		{"HostsPath", func(c inspect) any { return c.HostsPath }},
		{"LogPath", func(c inspect) any { return c.LogPath }},
		cf("Image", func(c container.Config) any { return c.Image }),
		cf("Hostname", func(c container.Config) any { return c.Hostname }),
		cf("Domainname", func(c container.Config) any { return c.Domainname }),
		cf("User", func(c container.Config) any { return c.User }),
		cf("Env", func(c container.Config) any { return c.Env }),
		cf("Entrypoint", func(c container.Config) any { return c.Entrypoint }),
		cf("Cmd", func(c container.Config) any { return c.Cmd }),
		cf("WorkingDir", func(c container.Config) any { return c.WorkingDir }),
		cf("Labels", func(c container.Config) any { return c.Labels }),
		cf("ExposedPorts", func(c container.Config) any { return c.ExposedPorts }),
		cf("Volumes", func(c container.Config) any { return c.Volumes }),
		cf("Tty", func(c container.Config) any { return c.Tty }),
		cf("OpenStdin", func(c container.Config) any { return c.OpenStdin }),
		cf("StdinOnce", func(c container.Config) any { return c.StdinOnce }),
		cf("AttachStdout", func(c container.Config) any { return c.AttachStdout }),
		cf("StopSignal", func(c container.Config) any { return c.StopSignal }),
		cf("StopTimeout", func(c container.Config) any { return c.StopTimeout }),
		cf("Healthcheck.Test", func(c container.Config) any { return healthOf(c).Test }),
		cf("Healthcheck.Interval", func(c container.Config) any { return healthOf(c).Interval }),
		cf("Healthcheck.Timeout", func(c container.Config) any { return healthOf(c).Timeout }),
		cf("Healthcheck.StartPeriod", func(c container.Config) any { return healthOf(c).StartPeriod }),
		cf("Healthcheck.Retries", func(c container.Config) any { return healthOf(c).Retries }),
		//lint:ignore SA1019 below API 1.44 the configured MAC is read here
		cf("MacAddress", func(c container.Config) any { return c.MacAddress }),
		cf("OnBuild", func(c container.Config) any { return c.OnBuild }),
		cf("Shell", func(c container.Config) any { return c.Shell }),
		hf("Binds", func(h container.HostConfig) any { return h.Binds }),
		hf("Mounts", func(h container.HostConfig) any { return h.Mounts }),
		hf("Tmpfs", func(h container.HostConfig) any { return h.Tmpfs }),
		hf("VolumesFrom", func(h container.HostConfig) any { return h.VolumesFrom }),
		hf("VolumeDriver", func(h container.HostConfig) any { return h.VolumeDriver }),
		hf("LogConfig.Type", func(h container.HostConfig) any { return h.LogConfig.Type }),
		hf("LogConfig.Config", func(h container.HostConfig) any { return h.LogConfig.Config }),
		hf("NetworkMode", func(h container.HostConfig) any { return h.NetworkMode }),
		hf("PortBindings", func(h container.HostConfig) any { return h.PortBindings }),
		hf("PublishAllPorts", func(h container.HostConfig) any { return h.PublishAllPorts }),
		hf("RestartPolicy.Name", func(h container.HostConfig) any { return h.RestartPolicy.Name }),
		hf("RestartPolicy.MaximumRetryCount", func(h container.HostConfig) any { return h.RestartPolicy.MaximumRetryCount }),
		hf("AutoRemove", func(h container.HostConfig) any { return h.AutoRemove }),
		hf("CapAdd", func(h container.HostConfig) any { return h.CapAdd }),
		hf("CapDrop", func(h container.HostConfig) any { return h.CapDrop }),
		hf("Privileged", func(h container.HostConfig) any { return h.Privileged }),
		hf("SecurityOpt", func(h container.HostConfig) any { return h.SecurityOpt }),
		hf("ReadonlyRootfs", func(h container.HostConfig) any { return h.ReadonlyRootfs }),
		hf("MaskedPaths", func(h container.HostConfig) any { return h.MaskedPaths }),
		hf("ReadonlyPaths", func(h container.HostConfig) any { return h.ReadonlyPaths }),
		hf("CgroupnsMode", func(h container.HostConfig) any { return h.CgroupnsMode }),
		hf("IpcMode", func(h container.HostConfig) any { return h.IpcMode }),
		hf("PidMode", func(h container.HostConfig) any { return h.PidMode }),
		hf("UTSMode", func(h container.HostConfig) any { return h.UTSMode }),
		hf("UsernsMode", func(h container.HostConfig) any { return h.UsernsMode }),
		hf("Cgroup", func(h container.HostConfig) any { return h.Cgroup }),
		hf("Links", func(h container.HostConfig) any { return h.Links }),
		hf("Dns", func(h container.HostConfig) any { return h.DNS }),
		hf("DnsSearch", func(h container.HostConfig) any { return h.DNSSearch }),
		hf("DnsOptions", func(h container.HostConfig) any { return h.DNSOptions }),
		hf("ExtraHosts", func(h container.HostConfig) any { return h.ExtraHosts }),
		hf("GroupAdd", func(h container.HostConfig) any { return h.GroupAdd }),
		hf("OomScoreAdj", func(h container.HostConfig) any { return h.OomScoreAdj }),
		hf("ShmSize", func(h container.HostConfig) any { return h.ShmSize }),
		hf("Sysctls", func(h container.HostConfig) any { return h.Sysctls }),
		hf("Runtime", func(h container.HostConfig) any { return h.Runtime }),
		hf("Init", func(h container.HostConfig) any { return h.Init }),
		hf("Isolation", func(h container.HostConfig) any { return h.Isolation }),
		hf("Memory", func(h container.HostConfig) any { return h.Memory }),
		hf("MemoryReservation", func(h container.HostConfig) any { return h.MemoryReservation }),
		hf("MemorySwap", func(h container.HostConfig) any { return h.MemorySwap }),
		hf("MemorySwappiness", func(h container.HostConfig) any { return h.MemorySwappiness }),
		hf("OomKillDisable", func(h container.HostConfig) any { return h.OomKillDisable }),
		hf("NanoCpus", func(h container.HostConfig) any { return h.NanoCPUs }),
		hf("CpuShares", func(h container.HostConfig) any { return h.CPUShares }),
		hf("CpuPeriod", func(h container.HostConfig) any { return h.CPUPeriod }),
		hf("CpuQuota", func(h container.HostConfig) any { return h.CPUQuota }),
		hf("CpusetCpus", func(h container.HostConfig) any { return h.CpusetCpus }),
		hf("CpusetMems", func(h container.HostConfig) any { return h.CpusetMems }),
		hf("CgroupParent", func(h container.HostConfig) any { return h.CgroupParent }),
		hf("BlkioWeight", func(h container.HostConfig) any { return h.BlkioWeight }),
		hf("PidsLimit", func(h container.HostConfig) any { return h.PidsLimit }),
		hf("Devices", func(h container.HostConfig) any { return h.Devices }),
		hf("DeviceCgroupRules", func(h container.HostConfig) any { return h.DeviceCgroupRules }),
		hf("DeviceRequests", func(h container.HostConfig) any { return h.DeviceRequests }),
		hf("Ulimits", func(h container.HostConfig) any { return h.Ulimits }),
		{"Mounts (destinations)", func(c inspect) any {
			var ds []string
			for _, m := range c.Mounts {
				ds = append(ds, m.Destination)
			}
			slices.Sort(ds)
			return ds
		}},
		{"NetworkSettings.Networks (names)", func(c inspect) any {
			if c.NetworkSettings == nil {
				return nil
			}
			return slices.Sorted(maps.Keys(c.NetworkSettings.Networks))
		}},
		{"NetworkSettings.Ports", func(c inspect) any {
			if c.NetworkSettings == nil {
				return nil
			}
			return c.NetworkSettings.Ports
		}},
	}
	for _, dst := range dests {
		for _, part := range []struct {
			name string
			get  func(container.MountPoint) any
		}{
			{"Type", func(m container.MountPoint) any { return m.Type }},
			{"Name", func(m container.MountPoint) any { return m.Name }},
			{"Source", func(m container.MountPoint) any { return m.Source }},
			{"Driver", func(m container.MountPoint) any { return m.Driver }},
			{"Mode", func(m container.MountPoint) any { return m.Mode }},
			{"RW", func(m container.MountPoint) any { return m.RW }},
			{"Propagation", func(m container.MountPoint) any { return m.Propagation }},
		} {
			fs = append(fs, field{"Mounts[" + dst + "]." + part.name, func(c inspect) any { return part.get(mountAt(c, dst)) }})
		}
	}
	for _, n := range nets {
		for _, part := range []struct {
			name string
			get  func(network.EndpointSettings) any
		}{
			{"Aliases", func(e network.EndpointSettings) any { return slices.Sorted(slices.Values(e.Aliases)) }},
			{"IPAMConfig", func(e network.EndpointSettings) any { return e.IPAMConfig }},
			{"Links", func(e network.EndpointSettings) any { return e.Links }},
			{"DriverOpts", func(e network.EndpointSettings) any { return e.DriverOpts }},
			{"MacAddress", func(e network.EndpointSettings) any { return e.MacAddress }},
			{"IPAddress", func(e network.EndpointSettings) any { return e.IPAddress }},
			{"IPPrefixLen", func(e network.EndpointSettings) any { return e.IPPrefixLen }},
			{"Gateway", func(e network.EndpointSettings) any { return e.Gateway }},
			{"NetworkID", func(e network.EndpointSettings) any { return e.NetworkID }},
			{"EndpointID", func(e network.EndpointSettings) any { return e.EndpointID }},
		} {
			fs = append(fs, field{"NetworkSettings.Networks." + n + "." + part.name, func(c inspect) any {
				if c.NetworkSettings == nil || c.NetworkSettings.Networks[n] == nil {
					return nil
				}
				return part.get(*c.NetworkSettings.Networks[n])
			}})
		}
	}
	return fs
}

// allowance is why a field may differ, and what the recreated container
// must have there: want gives it from both documents, or is nil when any
// value will do (the engine assigns it).
type allowance struct {
	why  string
	want func(orig, got inspect) any
}

// compareFields reports each field whose values differ, by name and with
// both values, unless allowed; an allowed one must have the value its want
// gives.
func compareFields(fields []field, allow map[string]allowance, orig, got inspect) []string {
	var out []string
	for _, f := range fields {
		o, g := f.get(orig), f.get(got)
		a, ok := allow[f.name]
		switch {
		case ok && a.want != nil:
			if w := a.want(orig, got); !reflect.DeepEqual(normal(w), normal(g)) {
				out = append(out, fmt.Sprintf("%s: recreated %s, want %s (%s; original %s)", f.name, show(g), show(w), a.why, show(o)))
			}
		case ok:
		case !reflect.DeepEqual(normal(o), normal(g)):
			out = append(out, fmt.Sprintf("%s differs: original %s, recreated %s", f.name, show(o), show(g)))
		}
	}
	return out
}

// sweepLeaves compares every leaf of Config, HostConfig and the network
// endpoints, so a create-time field the table does not name is not missed.
func sweepLeaves(allow map[string]allowance, orig, got inspect) []string {
	covered := func(p string) bool {
		for name := range allow {
			if p == name || strings.HasPrefix(p, name+".") || strings.HasPrefix(p, name+"[") {
				return true
			}
		}
		return false
	}
	var out []string
	for _, part := range []struct {
		name string
		get  func(inspect) any
	}{
		{"Config", func(c inspect) any { return c.Config }},
		{"HostConfig", func(c inspect) any { return c.HostConfig }},
		{"NetworkSettings.Networks", func(c inspect) any { return c.NetworkSettings.Networks }},
	} {
		o, g := leaves(part.name, part.get(orig)), leaves(part.name, part.get(got))
		for _, p := range slices.Sorted(maps.Keys(o)) {
			if !covered(p) && o[p] != g[p] {
				out = append(out, fmt.Sprintf("%s differs: original %s, recreated %s", p, o[p], cmpOrMissing(g, p)))
			}
		}
		for _, p := range slices.Sorted(maps.Keys(g)) {
			if _, ok := o[p]; !ok && !covered(p) {
				out = append(out, fmt.Sprintf("%s is new: recreated %s, not in the original", p, g[p]))
			}
		}
	}
	return out
}

func cmpOrMissing(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return "(missing)"
}

// leaves flattens a value's JSON into path -> JSON text of each leaf; an
// empty object or list is a leaf, so null and empty stay apart.
func leaves(root string, v any) map[string]string {
	raw, _ := json.Marshal(v)
	var doc any
	_ = json.Unmarshal(raw, &doc)
	out := map[string]string{}
	var walk func(p string, x any)
	walk = func(p string, x any) {
		switch x := x.(type) {
		case map[string]any:
			if len(x) == 0 {
				out[p] = "{}"
			}
			for k, y := range x {
				walk(p+"."+k, y)
			}
		case []any:
			if len(x) == 0 {
				out[p] = "[]"
			}
			for i, y := range x {
				walk(p+"["+strconv.Itoa(i)+"]", y)
			}
		default:
			b, _ := json.Marshal(x)
			out[p] = string(b)
		}
	}
	walk(root, doc)
	return out
}

// normal is a value as JSON sees it, so that two values built different
// ways (a literal, a decoded document) compare by content.
func normal(v any) any {
	raw, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func isZero(v any) bool {
	switch n := normal(v).(type) {
	case nil:
		return true
	case []any:
		return len(n) == 0
	case map[string]any:
		return len(n) == 0
	case string:
		return n == ""
	case float64:
		return n == 0
	case bool:
		return !n
	}
	return false
}

func mountAt(c inspect, dst string) container.MountPoint {
	for _, m := range c.Mounts {
		if m.Destination == dst {
			return m
		}
	}
	return container.MountPoint{}
}
