package docker

import (
	"maps"
	"slices"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"firebreak/runtime"
)

const testID = "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef"

func recreateOrig(hostname string, mode container.NetworkMode, nets map[string]*network.EndpointSettings) container.InspectResponse {
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: testID, Image: "sha256:aa", HostConfig: &container.HostConfig{
			NetworkMode: mode, Binds: []string{"data:/data:ro", "/srv:/srv"},
		}},
		Config:          &container.Config{Hostname: hostname, Labels: map[string]string{"app": "web"}},
		NetworkSettings: &container.NetworkSettings{Networks: nets},
	}
	//lint:ignore SA1019 below API 1.44 the configured MAC is kept here
	c.Config.MacAddress = "02:42:de:ad:be:ef"
	return c
}

// TestCreateConfigHostnameAndLabels: only the engine's own hostname (the
// full short ID) is left to the engine; labels and binds change in the copy
// only.
func TestCreateConfigHostnameAndLabels(t *testing.T) {
	for _, tc := range []struct{ hostname, want string }{
		{"0123456789ab", ""},
		{"0", "0"}, // a prefix of the ID, but not the engine's
		{"web", "web"},
	} {
		orig := recreateOrig(tc.hostname, "default", nil)
		cfg, hc := createConfig(orig, runtime.RecreateSpec{Labels: map[string]string{"io.firebreak.case": "c"}, Volumes: map[string]string{"data": "data2"}})
		if cfg.Hostname != tc.want {
			t.Errorf("hostname %q recreated as %q, want %q", tc.hostname, cfg.Hostname, tc.want)
		}
		if !maps.Equal(cfg.Labels, map[string]string{"app": "web", "io.firebreak.case": "c"}) || len(orig.Config.Labels) != 1 {
			t.Errorf("labels %v (original's now %v)", cfg.Labels, orig.Config.Labels)
		}
		if !slices.Equal(hc.Binds, []string{"data2:/data:ro", "/srv:/srv"}) || orig.HostConfig.Binds[0] != "data:/data:ro" {
			t.Errorf("binds %v (original's now %v)", hc.Binds, orig.HostConfig.Binds)
		}
	}
}

// TestCreateNetworksMAC: below API 1.44 the MAC stays in Config (the SDK
// sends it there); from 1.44 it moves to the endpoint joined at create.
func TestCreateNetworksMAC(t *testing.T) {
	nets := map[string]*network.EndpointSettings{
		"front": {Aliases: []string{"web", "0123456789ab", "0"}, IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: "10.0.0.5"}, MacAddress: "02:42:0a:00:00:05"},
		"back":  {Aliases: []string{"db-side"}},
	}
	orig := recreateOrig("web", "front", nets)
	for _, v144 := range []bool{false, true} {
		names, first, nc := createNetworks(orig, *orig.Config, *orig.HostConfig, v144)
		if !slices.Equal(names, []string{"back", "front"}) || first != "front" || len(nc.EndpointsConfig) != 1 {
			t.Fatalf("networks %v, first %q, at create %v", names, first, nc.EndpointsConfig)
		}
		es := nc.EndpointsConfig["front"]
		want := ""
		if v144 {
			want = "02:42:de:ad:be:ef"
		}
		if es.MacAddress != want {
			t.Errorf("API 1.44 %v: endpoint MAC %q, want %q (never the engine's own %q)", v144, es.MacAddress, want, nets["front"].MacAddress)
		}
		if !slices.Equal(es.Aliases, []string{"web", "0"}) || es.IPAMConfig.IPv4Address != "10.0.0.5" {
			t.Errorf("endpoint aliases %v, address %+v; want the short-ID alias dropped only, the configured address kept", es.Aliases, es.IPAMConfig)
		}
	}
	bridge := recreateOrig("web", "default", map[string]*network.EndpointSettings{"bridge": {}})
	_, first, nc := createNetworks(bridge, *bridge.Config, *bridge.HostConfig, true)
	if first != "" || nc.EndpointsConfig["bridge"] == nil || nc.EndpointsConfig["bridge"].MacAddress != "02:42:de:ad:be:ef" {
		t.Errorf("default bridge at API 1.44: first %q, at create %v; want the MAC on the bridge endpoint", first, nc.EndpointsConfig)
	}
}
