package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/api/types/volume"

	"firebreak/runtime"
)

var _ runtime.Restorer = (*Docker)(nil)

func (d *Docker) Rename(ctx context.Context, id, name string) error {
	if err := d.api.ContainerRename(ctx, id, name); err != nil {
		return fmt.Errorf("docker ContainerRename %s to %s: %w", short(id), name, err)
	}
	return nil
}

// CreateVolume makes a new volume; a volume of that name that exists
// already is an error (Docker would hand it back, and a rollback would then
// remove what this run did not make).
func (d *Docker) CreateVolume(ctx context.Context, name string, labels map[string]string) (string, error) {
	if _, err := d.api.VolumeInspect(ctx, name); err == nil {
		return "", fmt.Errorf("a volume %s exists already (left as it is: it may be a suspect's evidence): plan the recover again, which names a volume that does not exist", name)
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("docker VolumeInspect %s: %w", name, err)
	}
	v, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels})
	if err != nil {
		return "", fmt.Errorf("docker VolumeCreate %s: %w", name, err)
	}
	return v.Mountpoint, nil
}

// VolumeExists says whether a volume of that name exists.
func (d *Docker) VolumeExists(ctx context.Context, name string) (bool, error) {
	_, err := d.api.VolumeInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("docker VolumeInspect %s: %w", name, err)
	}
	return true, nil
}

func (d *Docker) RemoveVolume(ctx context.Context, name string) error {
	if err := d.api.VolumeRemove(ctx, name, true); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker VolumeRemove %s: %w", name, err)
	}
	return nil
}

// Recreate creates a container from the original's inspect document: its
// create-time configuration (Config, HostConfig), its first network with
// aliases and configured addresses at create and the others connected after
// (engines before API 1.44 take one network at create), its volumes swapped
// for the ones named in spec, hardened when spec says so. The image is the
// one the original ran, under the reference it was created with while that
// still names it (so the new container reads the same), else by ID; a
// container whose image turns out other than asked for is removed again.
// Nothing is left behind on error.
func (d *Docker) Recreate(ctx context.Context, spec runtime.RecreateSpec) (string, error) {
	orig, err := parseInspect(spec.Config)
	if err != nil {
		return "", err
	}
	cfg, hc := createConfig(orig, spec)
	if spec.Harden != nil {
		if _, err := harden(*spec.Harden, orig, &cfg, &hc); err != nil {
			return "", err
		}
	}
	d.api.NegotiateAPIVersion(ctx) // what follows depends on the version spoken
	var wantImage string
	cfg.Image, wantImage, err = d.pickImage(ctx, orig, spec.Image)
	if err != nil {
		return "", err
	}
	names, first, nc := createNetworks(orig, cfg, hc, versions.GreaterThanOrEqualTo(d.api.ClientVersion(), "1.44"))
	resp, err := d.api.ContainerCreate(ctx, &cfg, &hc, nc, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("docker ContainerCreate %s: %w", spec.Name, err)
	}
	undo := func(cause error) (string, error) {
		return "", errors.Join(cause, d.Remove(context.WithoutCancel(ctx), resp.ID))
	}
	for _, n := range names {
		if n == first || (n == "bridge" && (hc.NetworkMode.IsDefault() || hc.NetworkMode.IsBridge())) {
			continue // joined at create
		}
		if err := d.api.NetworkConnect(ctx, n, resp.ID, endpointOf(orig, n)); err != nil {
			return undo(fmt.Errorf("docker NetworkConnect %s to %s: %w", spec.Name, n, err))
		}
	}
	got, err := d.api.ContainerInspect(ctx, resp.ID)
	if err != nil {
		return undo(fmt.Errorf("docker ContainerInspect %s: %w", spec.Name, err))
	}
	if got.Image != wantImage {
		return undo(fmt.Errorf("recreating %s: %s named image %s when it was created, not %s (the tag moved): removed it; recreate again", spec.Name, cfg.Image, got.Image, wantImage))
	}
	return resp.ID, nil
}

// createConfig is the original's create-time configuration with spec's
// changes: labels added, volumes swapped, and the engine's own defaults
// (a hostname that is the short ID) left to the engine again. Maps and
// slices it changes are copies; orig is not written to.
func createConfig(orig container.InspectResponse, spec runtime.RecreateSpec) (container.Config, container.HostConfig) {
	cfg := *orig.Config
	cfg.Labels = maps.Clone(cfg.Labels)
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, spec.Labels)
	if cfg.Hostname == runtime.ShortID(orig.ID) {
		cfg.Hostname = "" // the engine's default (the short ID) is not carried over
	}
	hc := *orig.HostConfig
	hc.Binds = nil
	for _, b := range orig.HostConfig.Binds {
		src, rest, _ := strings.Cut(b, ":")
		if v, ok := spec.Volumes[src]; ok {
			if strings.HasPrefix(src, "/") {
				// A host directory whose data was restored into a volume:
				// the volume is mounted instead, with the modes a volume
				// takes (propagation and relabelling are the host's).
				rest = volumeModes(rest)
			}
			src = v
		}
		hc.Binds = append(hc.Binds, src+":"+rest)
	}
	hc.Mounts = nil
	for _, m := range orig.HostConfig.Mounts {
		if v, ok := spec.Volumes[m.Source]; ok {
			switch m.Type {
			case mount.TypeVolume:
				m.Source = v
			case mount.TypeBind:
				m = mount.Mount{Type: mount.TypeVolume, Source: v, Target: m.Target, ReadOnly: m.ReadOnly, Consistency: m.Consistency}
			}
		}
		hc.Mounts = append(hc.Mounts, m)
	}
	// Anonymous volumes (a VOLUME of the image, or a bare -v /path) are
	// given their restored volume by destination. The engine then makes no
	// anonymous volume there: it skips a Config.Volumes path that has a
	// mount.
	for _, mp := range orig.Mounts {
		if mp.Type != mount.TypeVolume {
			continue
		}
		v, ok := spec.Volumes[mp.Name]
		if !ok || slices.ContainsFunc(hc.Binds, func(b string) bool { return strings.HasPrefix(b, v+":") }) ||
			slices.ContainsFunc(hc.Mounts, func(m mount.Mount) bool { return m.Source == v }) {
			continue
		}
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: v, Target: mp.Destination, ReadOnly: !mp.RW})
	}
	return cfg, hc
}

// pickImage chooses what the new container is created from, and the image
// ID that must come of it: ref when given; else the original's reference
// while it still names the image the original ran; else that image's ID.
func (d *Docker) pickImage(ctx context.Context, orig container.InspectResponse, ref string) (string, string, error) {
	if ref != "" {
		img, err := d.api.ImageInspect(ctx, ref)
		if err != nil {
			return "", "", fmt.Errorf("docker ImageInspect %s: %w (hint: pull the image first)", ref, err)
		}
		return ref, img.ID, nil
	}
	if r := orig.Config.Image; r != "" && r != orig.Image {
		if img, err := d.api.ImageInspect(ctx, r); err == nil && img.ID == orig.Image {
			return r, orig.Image, nil
		}
	}
	if _, err := d.api.ImageInspect(ctx, orig.Image); err != nil {
		return "", "", fmt.Errorf("docker ImageInspect %s (the image %s ran): %w (hint: pull it by digest, or recover with another trusted image)", runtime.ShortID(strings.TrimPrefix(orig.Image, "sha256:")), orig.Config.Image, err)
	}
	return orig.Image, orig.Image, nil
}

// createNetworks lists the original's networks (sorted) and says which one
// is given at create, with its endpoint: the network of its network mode,
// when user-defined. The others are connected after create.
//
// A MAC address asked for at create is Config.MacAddress below API 1.44
// (the engine gives it to the network joined at create, and reports it
// back there); from 1.44 it belongs to the endpoint, and the SDK drops
// Config.MacAddress, so it is moved there. Only Config.MacAddress counts as
// asked for: an endpoint's MacAddress in inspect may be the engine's own
// (20.10 derives one from the address), and is not pinned. (Checked on
// 20.10 at API 1.41; the 1.44 path follows the SDK's contract.)
func createNetworks(orig container.InspectResponse, cfg container.Config, hc container.HostConfig, v144 bool) ([]string, string, *network.NetworkingConfig) {
	var names []string
	if orig.NetworkSettings != nil {
		for n := range orig.NetworkSettings.Networks {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	nc := &network.NetworkingConfig{}
	first := ""
	if hc.NetworkMode.IsUserDefined() && slices.Contains(names, string(hc.NetworkMode)) {
		first = string(hc.NetworkMode)
		nc.EndpointsConfig = map[string]*network.EndpointSettings{first: endpointOf(orig, first)}
	}
	//lint:ignore SA1019 the only place the API below 1.44 takes a MAC
	mac := cfg.MacAddress
	if v144 && mac != "" {
		switch {
		case first != "":
			nc.EndpointsConfig[first].MacAddress = mac
		case hc.NetworkMode.IsDefault() || hc.NetworkMode.IsBridge():
			nc.EndpointsConfig = map[string]*network.EndpointSettings{"bridge": {MacAddress: mac}}
		}
	}
	return names, first, nc
}

// endpointOf is the create-time part of the original's endpoint on network
// n: aliases, links, configured addresses, driver options. An
// engine-assigned MAC or address is not asked for.
func endpointOf(orig container.InspectResponse, n string) *network.EndpointSettings {
	es := orig.NetworkSettings.Networks[n]
	if es == nil {
		return &network.EndpointSettings{}
	}
	out := &network.EndpointSettings{Links: es.Links, DriverOpts: es.DriverOpts, IPAMConfig: es.IPAMConfig, GwPriority: es.GwPriority}
	for _, a := range es.Aliases {
		if a != runtime.ShortID(orig.ID) { // the engine's own short-ID alias comes back by itself
			out.Aliases = append(out.Aliases, a)
		}
	}
	return out
}

func (d *Docker) Start(ctx context.Context, id string) error {
	if err := d.api.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("docker ContainerStart %s: %w", short(id), err)
	}
	return nil
}

func (d *Docker) Remove(ctx context.Context, id string) error {
	// Anonymous volumes it made (an image's VOLUME) go with it.
	err := d.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker ContainerRemove %s: %w", short(id), err)
	}
	return nil
}

func (d *Docker) Health(ctx context.Context, id string) (string, bool, error) {
	c, err := d.api.ContainerInspect(ctx, id)
	if err != nil {
		return "", false, fmt.Errorf("docker ContainerInspect %s: %w", short(id), err)
	}
	if c.State == nil {
		return "none", false, nil
	}
	h := "none"
	if c.State.Health != nil && c.State.Health.Status != "" {
		h = c.State.Health.Status
	}
	return h, c.State.Running, nil
}

// volumeModes keeps, of a bind's "DEST[:MODES]", the modes a named volume
// takes (ro, rw, nocopy).
func volumeModes(rest string) string {
	dest, modes, _ := strings.Cut(rest, ":")
	var keep []string
	for _, m := range strings.Split(modes, ",") {
		if m == "ro" || m == "rw" || m == "nocopy" {
			keep = append(keep, m)
		}
	}
	if len(keep) == 0 {
		return dest
	}
	return dest + ":" + strings.Join(keep, ",")
}
