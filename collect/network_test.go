package collect_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"firebreak/collect"
	"firebreak/evidence/storetest"
	"firebreak/runtime/runtimetest"
)

// TestCollectNetworkExtras: network.json holds the neighbour cache (after
// the victim reached its peer), interface counters, IPv6 reject routes
// named as such; the container's own firewall rules and the resolv.conf
// the engine mounts (changed inside: outside the writable layer) are
// stored beside it.
func TestCollectNetworkExtras(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	vspec, pspec, addr := h.Network(t)
	peer := h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	vspec.Cmd = []string{"sh", "-c", "echo 'nameserver 192.0.2.53' > /etc/resolv.conf; ping -c 2 -W 1 " + addr(peer) + " >/dev/null 2>&1; exec sleep 3600"}
	d := h.Run(t, runtimetest.Name(t), vspec)
	if out, err := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(d.Pid)+"/ns/net", "--", "nft", "add", "table", "inet", "fbnettest").CombinedOutput(); err != nil {
		t.Fatalf("adding a table in the container's namespace: %v %s", err, out)
	}
	store := fileStore(t)
	run, _ := newRun(t, store, "NET-1")
	var net collect.NetworkState
	var res *collect.Result
	runtimetest.Eventually(t, 20*time.Second, "the peer in the neighbour cache", func() bool {
		var err error
		res, err = collect.Collect(ctx, h.Runtime(), run, d.Container, collect.Options{What: []collect.Collector{collect.WhatNetwork}})
		if err != nil {
			t.Fatal(err)
		}
		net = collect.NetworkState{}
		getJSON(t, store, res.Prefix+"network.json", &net)
		for _, n := range net.Neighbours {
			if n.Address == addr(peer) && n.MAC != "" {
				return true
			}
		}
		return false
	})
	var eth bool
	for _, i := range net.Interfaces {
		if i.Name != "lo" && i.TxPackets > 0 && i.RxPackets > 0 {
			eth = true
		}
	}
	if !eth {
		t.Errorf("no interface counters: %+v", net.Interfaces)
	}
	rejects := 0
	for _, r := range net.Routes {
		if r.Type == "unreachable" {
			rejects++
		}
		if r.Interface == "lo" && r.Family == "inet6" && strings.HasSuffix(r.Destination, "/0") && r.Type != "unreachable" {
			t.Errorf("an IPv6 default route on lo that is not named a reject route: %+v", r)
		}
	}
	if rejects == 0 {
		t.Errorf("no reject route named (the kernel lists two on lo in every namespace): %+v", net.Routes)
	}
	if rules := string(storetest.Read(t, store, res.Prefix+"network/nftables.json")); !strings.Contains(rules, "fbnettest") {
		t.Errorf("nftables.json lacks the container's own table:\n%s", rules)
	}
	if rc := string(storetest.Read(t, store, res.Prefix+"network/etc/resolv.conf")); !strings.Contains(rc, "192.0.2.53") {
		t.Errorf("the resolv.conf the container changed is not captured:\n%s", rc)
	}
}
