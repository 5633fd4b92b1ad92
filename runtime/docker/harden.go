package docker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"firebreak/runtime"
)

// HardeningChanges says, in words and in the order Recreate makes them, each
// change that h makes to the container whose inspect document is orig; none
// when the original is as confined already. It needs no engine and changes
// nothing, so a recover plan can print and journal the list before acting.
// An error says h cannot apply to this original: a kept capability it did
// not have, a root user, a tmpfs path that is not absolute, a limit below
// what the original reserves.
func HardeningChanges(orig []byte, h runtime.Hardening) ([]string, error) {
	c, err := parseInspect(orig)
	if err != nil {
		return nil, err
	}
	cfg, hc := *c.Config, *c.HostConfig
	return harden(h, c, &cfg, &hc)
}

// HardeningChanges is the package's HardeningChanges, for callers that hold
// the engine behind runtime.Restorer and find this by type assertion.
func (d *Docker) HardeningChanges(orig []byte, h runtime.Hardening) ([]string, error) {
	return HardeningChanges(orig, h)
}

// parseInspect reads a container's inspect document as a backup keeps it.
func parseInspect(raw []byte) (container.InspectResponse, error) {
	var c container.InspectResponse
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("the backup's configuration is not a Docker container's: %w", err)
	}
	if c.ContainerJSONBase == nil || c.Config == nil || c.HostConfig == nil {
		return c, fmt.Errorf("the backup's configuration is not a Docker container's: it has no Config or HostConfig")
	}
	return c, nil
}

var capName = regexp.MustCompile(`^[A-Z][A-Z_]*$`)

// harden applies h to cfg and hc, the configuration the new container is
// created with (orig's, volumes swapped), and says what it changed. It
// never writes through to orig: slices and maps it changes are replaced,
// not edited.
func harden(h runtime.Hardening, orig container.InspectResponse, cfg *container.Config, hc *container.HostConfig) ([]string, error) {
	keep, err := checkHardening(h)
	if err != nil {
		return nil, err
	}
	had := securityOf(orig, engineInfo{}).Capabilities
	for _, k := range keep {
		if !slices.Contains(had, k) {
			return nil, fmt.Errorf("hardening: keeping %s would add a capability the original did not have (it had %s)", k, orNone(had))
		}
	}
	var changes []string
	if hc.Privileged {
		hc.Privileged = false
		changes = append(changes, "not privileged (was privileged: every capability, every host device)")
	}

	var added []string
	for _, c := range hc.CapAdd {
		added = append(added, normCap(c))
	}
	slices.Sort(added)
	if !slices.ContainsFunc(hc.CapDrop, func(c string) bool { return normCap(c) == "ALL" }) || !slices.Equal(slices.Compact(added), keep) || orig.HostConfig.Privileged {
		hc.CapDrop = []string{"ALL"}
		hc.CapAdd = nil
		for _, k := range keep {
			hc.CapAdd = append(hc.CapAdd, "CAP_"+k)
		}
		changes = append(changes, fmt.Sprintf("capabilities: drop ALL, keep %s (was: %s)", orNone(keep), describeCaps(had, orig.HostConfig.Privileged)))
	}

	var opts []string
	nnp := false
	var confined []string
	for _, o := range hc.SecurityOpt {
		k, v, _ := strings.Cut(strings.Replace(o, ":", "=", 1), "=")
		switch {
		case k == "no-new-privileges":
			b, err := strconv.ParseBool(cmp.Or(v, "true"))
			nnp = nnp || (err == nil && b)
			continue // put back below, once, as the engine reads it
		case (k == "seccomp" || k == "apparmor") && v == "unconfined":
			confined = append(confined, k)
			continue
		}
		opts = append(opts, o)
	}
	if !nnp || len(confined) > 0 {
		hc.SecurityOpt = append(opts, "no-new-privileges")
	}
	if !nnp {
		changes = append(changes, "no-new-privileges (was: setuid binaries could raise privileges)")
	}
	for _, k := range confined {
		name := map[string]string{"seccomp": "seccomp", "apparmor": "AppArmor"}[k]
		changes = append(changes, fmt.Sprintf("%s: the engine's default profile (was unconfined)", name))
	}
	// systempaths=unconfined is sent as empty lists; nil asks for the
	// engine's defaults again.
	if (hc.MaskedPaths != nil && len(hc.MaskedPaths) == 0) || (hc.ReadonlyPaths != nil && len(hc.ReadonlyPaths) == 0) {
		if len(hc.MaskedPaths) == 0 {
			hc.MaskedPaths = nil
		}
		if len(hc.ReadonlyPaths) == 0 {
			hc.ReadonlyPaths = nil
		}
		changes = append(changes, "masked and read-only /proc and /sys paths: the engine's defaults (was unconfined)")
	}

	var fs []string
	if !hc.ReadonlyRootfs {
		hc.ReadonlyRootfs = true
		fs = append(fs, "read-only root filesystem (was writable)")
	}
	var tmpfs, kept []string
	for _, p := range h.Tmpfs {
		p = path.Clean(p)
		switch {
		case slices.Contains(tmpfs, p) || slices.Contains(kept, p):
		case isTmpfs(hc, p): // writable already
		case mounted(orig, hc, p):
			kept = append(kept, p)
		default:
			tmpfs = append(tmpfs, p)
		}
	}
	if len(tmpfs) > 0 {
		hc.Tmpfs = maps.Clone(hc.Tmpfs)
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		for _, p := range tmpfs {
			hc.Tmpfs[p] = "" // the engine's default options
		}
		fs = append(fs, "tmpfs at "+strings.Join(tmpfs, ", "))
	}
	if len(fs) > 0 {
		c := strings.Join(fs, ", ")
		switch {
		case len(kept) == 1:
			c += "; " + kept[0] + " keeps its mount"
		case len(kept) > 1:
			c += "; " + strings.Join(kept, ", ") + " keep their mounts"
		}
		changes = append(changes, c)
	}

	if h.User != "" && h.User != cfg.User {
		was := cmp.Or(cfg.User, "root, the image's default")
		changes = append(changes, fmt.Sprintf("user %s (was %s)", h.User, was))
		cfg.User = h.User
	}

	mem, cpus, pids := h.Limits()
	if hc.Memory == 0 {
		if hc.MemoryReservation > mem {
			return nil, fmt.Errorf("hardening: the original reserves %s of memory, more than the limit of %s: give a larger memory limit", bytesText(hc.MemoryReservation), bytesText(mem))
		}
		hc.Memory = mem
		changes = append(changes, fmt.Sprintf("memory limit %s (was none)", bytesText(mem)))
	}
	if hc.NanoCPUs == 0 && hc.CPUQuota <= 0 {
		// The engine refuses NanoCPUs beside a CFS period: with a period
		// set, the same limit is given as a quota of it.
		if hc.CPUPeriod > 0 {
			hc.CPUQuota = hc.CPUPeriod * cpus / 1e9
		} else {
			hc.NanoCPUs = cpus
		}
		changes = append(changes, fmt.Sprintf("CPU limit %s (was none)", cpuText(cpus)))
	}
	if hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
		hc.PidsLimit = &pids
		changes = append(changes, fmt.Sprintf("PID limit %d (was none)", pids))
	}
	return changes, nil
}

// checkHardening refuses settings that would not harden, and returns the
// kept capabilities in canonical form (no CAP_, sorted, once each).
func checkHardening(h runtime.Hardening) ([]string, error) {
	for _, p := range h.Tmpfs {
		if !path.IsAbs(p) || path.Clean(p) == "/" {
			return nil, fmt.Errorf("hardening: tmpfs path %q: want an absolute path below /", p)
		}
	}
	var keep []string
	for _, c := range h.KeepCaps {
		n := normCap(strings.TrimSpace(c))
		if n == "ALL" {
			return nil, fmt.Errorf("hardening: keeping ALL capabilities is not hardening: name the ones the service needs")
		}
		if !capName.MatchString(n) {
			return nil, fmt.Errorf("hardening: %q is not a capability name (want e.g. NET_BIND_SERVICE)", c)
		}
		keep = append(keep, n)
	}
	slices.Sort(keep)
	keep = slices.Compact(keep)
	if h.User != "" && isRoot(h.User) {
		return nil, fmt.Errorf("hardening: user %q is root: give a non-root user, or none to keep the original's", h.User)
	}
	if h.Memory < 0 || h.NanoCPUs < 0 || h.PidsLimit < 0 {
		return nil, fmt.Errorf("hardening: negative limit (memory %d, nano-CPUs %d, PIDs %d): give a positive one, or 0 for the default", h.Memory, h.NanoCPUs, h.PidsLimit)
	}
	return keep, nil
}

// isTmpfs says whether p has a tmpfs already.
func isTmpfs(hc *container.HostConfig, p string) bool {
	if _, ok := hc.Tmpfs[p]; ok {
		return true
	}
	for _, m := range hc.Mounts {
		if m.Type == mount.TypeTmpfs && path.Clean(m.Target) == p {
			return true
		}
	}
	return false
}

// mounted says whether something is mounted at p already: a bind, volume or
// tmpfs of the original's, or one the new configuration adds.
func mounted(orig container.InspectResponse, hc *container.HostConfig, p string) bool {
	for _, m := range orig.Mounts {
		if path.Clean(m.Destination) == p {
			return true
		}
	}
	for _, m := range hc.Mounts {
		if path.Clean(m.Target) == p {
			return true
		}
	}
	for _, b := range hc.Binds {
		if parts := strings.Split(b, ":"); len(parts) > 1 && path.Clean(parts[1]) == p {
			return true
		}
	}
	if orig.Config != nil {
		for v := range orig.Config.Volumes {
			if path.Clean(v) == p {
				return true
			}
		}
	}
	return false
}

// isRoot says whether a Docker user setting ("", "0", "root", "0:0",
// "root:staff") runs as root.
func isRoot(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "" || name == "0" || name == "root"
}

// describeCaps names a capability set by its difference from the engine's
// default set.
func describeCaps(caps []string, privileged bool) string {
	if privileged {
		return "every capability, privileged"
	}
	if len(caps) == 0 {
		return "none"
	}
	var more, less []string
	for _, c := range caps {
		if !slices.Contains(defaultCaps, c) {
			more = append(more, c)
		}
	}
	for _, c := range defaultCaps {
		if !slices.Contains(caps, c) {
			less = append(less, c)
		}
	}
	if len(less) > len(caps) { // shorter named one by one
		return strings.Join(caps, ", ")
	}
	s := "the default set"
	if len(more) > 0 {
		s += " and " + strings.Join(more, ", ")
	}
	if len(less) > 0 {
		s += " without " + strings.Join(less, ", ")
	}
	return s
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func cpuText(nano int64) string {
	s := strconv.FormatFloat(float64(nano)/1e9, 'f', -1, 64)
	if nano == 1e9 {
		return s + " CPU"
	}
	return s + " CPUs"
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
