package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
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
		return "", fmt.Errorf("a volume %s exists already: remove it or recover from another snapshot", name)
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("docker VolumeInspect %s: %w", name, err)
	}
	v, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels})
	if err != nil {
		return "", fmt.Errorf("docker VolumeCreate %s: %w", name, err)
	}
	return v.Mountpoint, nil
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
// for the ones named in spec.
func (d *Docker) Recreate(ctx context.Context, spec runtime.RecreateSpec) (string, error) {
	var orig container.InspectResponse
	if err := json.Unmarshal(spec.Config, &orig); err != nil || orig.ContainerJSONBase == nil || orig.Config == nil || orig.HostConfig == nil {
		return "", fmt.Errorf("the backup's configuration is not a Docker container's: %v", err)
	}
	cfg := *orig.Config
	cfg.Labels = maps.Clone(cfg.Labels)
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, spec.Labels)
	cfg.Image = orig.Image // the image ID the original ran: never a tag that may have moved
	if spec.Image != "" {
		cfg.Image = spec.Image
	}
	cfg.Hostname = orig.Config.Hostname
	if strings.HasPrefix(orig.ID, cfg.Hostname) {
		cfg.Hostname = "" // the engine's default (the short ID) is not carried over
	}
	hc := *orig.HostConfig
	hc.Binds = nil
	for _, b := range orig.HostConfig.Binds {
		src, rest, _ := strings.Cut(b, ":")
		if v, ok := spec.Volumes[src]; ok {
			src = v
		}
		hc.Binds = append(hc.Binds, src+":"+rest)
	}
	hc.Mounts = nil
	for _, m := range orig.HostConfig.Mounts {
		if v, ok := spec.Volumes[m.Source]; ok && m.Type == mount.TypeVolume {
			m.Source = v
		}
		hc.Mounts = append(hc.Mounts, m)
	}
	// Anonymous volumes (a VOLUME of the image, not named at create) are
	// given their restored volume by destination.
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
	var names []string
	if orig.NetworkSettings != nil {
		for n := range orig.NetworkSettings.Networks {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	endpoint := func(n string) *network.EndpointSettings {
		es := orig.NetworkSettings.Networks[n]
		// An engine-assigned MAC is not asked for (nor can it be below API 1.44).
		out := &network.EndpointSettings{Links: es.Links, DriverOpts: es.DriverOpts, IPAMConfig: es.IPAMConfig}
		for _, a := range es.Aliases {
			if !strings.HasPrefix(orig.ID, a) { // the engine's own short-ID alias comes back by itself
				out.Aliases = append(out.Aliases, a)
			}
		}
		return out
	}
	// The network the container was created on is given at create (with
	// its aliases and configured address); the others are connected after.
	nc := &network.NetworkingConfig{}
	first := ""
	if hc.NetworkMode.IsUserDefined() && slices.Contains(names, string(hc.NetworkMode)) {
		first = string(hc.NetworkMode)
		nc.EndpointsConfig = map[string]*network.EndpointSettings{first: endpoint(first)}
	}
	resp, err := d.api.ContainerCreate(ctx, &cfg, &hc, nc, nil, spec.Name)
	if err != nil {
		return "", fmt.Errorf("docker ContainerCreate %s: %w", spec.Name, err)
	}
	for _, n := range names {
		if n == first || (n == "bridge" && (hc.NetworkMode.IsDefault() || hc.NetworkMode.IsBridge())) {
			continue // joined at create
		}
		if err := d.api.NetworkConnect(ctx, n, resp.ID, endpoint(n)); err != nil {
			rerr := d.Remove(context.WithoutCancel(ctx), resp.ID)
			return "", errors.Join(fmt.Errorf("docker NetworkConnect %s to %s: %w", spec.Name, n, err), rerr)
		}
	}
	return resp.ID, nil
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
