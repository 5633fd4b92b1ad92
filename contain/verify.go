package contain

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"firebreak/runtime"
)

// Verdict is what verification concluded.
type Verdict string

const (
	Isolated    Verdict = "isolated"     // peers reachable before the cut are not after, and the rules are there
	NotIsolated Verdict = "not-isolated" // a peer still answers, or the rules are gone
	Unverified  Verdict = "unverified"   // nothing to judge by: no peer answered before, or no namespace
)

// FirewallState is whether Firebreak's drop rules are in the container's
// network namespace.
type FirewallState string

const (
	FirewallPresent       FirewallState = "present"
	FirewallMissing       FirewallState = "missing"
	FirewallNotApplicable FirewallState = "not-applicable" // no rules were installed (pause only, or no namespace)
	FirewallUnknown       FirewallState = "unknown"        // the check failed; see the error beside it
)

// Verification is what the probes found.
type Verification struct {
	Verdict  Verdict       `json:"verdict"`
	Detail   string        `json:"detail"`
	Firewall FirewallState `json:"firewall"`
	// Notes say what stays reachable on purpose.
	Notes []string `json:"notes,omitempty"`
	// FirewallError says why the rules could not be checked (FirewallUnknown).
	FirewallError string        `json:"firewall_error,omitempty"`
	Before        []ProbeResult `json:"before,omitempty"`
	After         []ProbeResult `json:"after,omitempty"`
}

// NotIsolatedError says the acts succeeded but verification found the
// container still reaching a peer or its drop rules gone.
type NotIsolatedError struct {
	Container runtime.Container
	Detail    string
}

func (e *NotIsolatedError) Error() string {
	return fmt.Sprintf("%s (%s) is NOT isolated: %s", e.Container.ShortID(), e.Container.Name, e.Detail)
}

// probeTargets lists the peers to probe: those named by the caller, the other
// containers on the engine networks it is attached to, and its gateways.
func (c *Containment) probeTargets(ctx context.Context, d runtime.Details, opts Options) []string {
	seen := map[string]bool{}
	var out []string
	add := func(addr string) {
		if addr == "" {
			return
		}
		t := hostPort(addr, opts.ProbePort)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, p := range opts.Probe {
		add(p)
	}
	if attacher, ok := c.rt.(runtime.NetworkAttacher); ok {
		for _, a := range d.Networks {
			if a.Network == opts.QuarantineNetwork {
				continue
			}
			for _, p := range c.networkPeers(ctx, attacher, a) {
				if p != a.IPv4Address && p != a.IPv6Address {
					add(p)
				}
			}
			add(a.Gateway)
		}
	}
	if d.Pid > 0 {
		for _, g := range routeGateways(d.Pid) {
			add(g.String())
		}
	}
	if len(out) > maxProbeTargets {
		out = out[:maxProbeTargets]
	}
	return out
}

// networkPeers returns the addresses on an engine network, asking the engine
// once per network for the life of the Containment (a fleet run shares it).
func (c *Containment) networkPeers(ctx context.Context, attacher runtime.NetworkAttacher, a runtime.Attachment) []string {
	c.peersMu.Lock()
	defer c.peersMu.Unlock()
	if p, ok := c.peers[a.Network]; ok {
		return p
	}
	peers, err := attacher.NetworkPeers(ctx, a.Network, "")
	if err != nil {
		return nil // a peer list is a help, not a need
	}
	if c.peers == nil {
		c.peers = map[string][]string{}
	}
	c.peers[a.Network] = peers
	return peers
}

// allowed reports whether a probe target (host:port) lies in a prefix kept
// open by the drop rules (--allow, the quarantine network's subnets).
func allowed(target string, allow []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(target)
	if err != nil {
		return false
	}
	for _, p := range allow {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

func (c *Containment) verify(ctx context.Context, d runtime.Details, before []ProbeResult, opts Options, allow []netip.Prefix) *Verification {
	v := &Verification{Firewall: FirewallNotApplicable, Before: before}
	if d.NetNSPath != "" {
		ok, err := firewallPresent(d.NetNSPath, &allow)
		switch {
		case err != nil:
			v.Firewall = FirewallUnknown
			v.FirewallError = err.Error()
		case ok:
			v.Firewall = FirewallPresent
		default:
			v.Firewall = FirewallMissing
		}
	}
	var reachable []string
	kept := 0 // reachable after, as allowed
	for _, b := range before {
		if b.Reachable {
			reachable = append(reachable, b.Target)
		}
	}
	if len(reachable) > 0 {
		after, err := probe(ctx, d.NetNSPath, reachable, opts.ProbeTimeout)
		v.After = after
		if err != nil {
			v.Verdict, v.Detail = Unverified, "probing after containment: "+err.Error()
			return v
		}
		var still, open []string
		for _, a := range after {
			switch {
			case !a.Reachable:
			case allowed(a.Target, allow):
				open = append(open, a.Target) // kept open on purpose
			default:
				still = append(still, a.Target)
			}
		}
		if len(still) > 0 {
			v.Verdict, v.Detail = NotIsolated, "still reaches "+strings.Join(still, ", ")
			return v
		}
		kept = len(open)
		if len(open) > 0 {
			v.Notes = append(v.Notes, "still reaches "+strings.Join(open, ", ")+", as allowed (--allow or the quarantine network)")
		}
	}
	switch {
	case v.Firewall == FirewallMissing:
		v.Verdict, v.Detail = NotIsolated, "drop rules are missing from its network namespace (removed from inside? it may hold NET_ADMIN)"
	case !opts.Verify:
		v.Verdict, v.Detail = Unverified, "verification turned off"
	case d.NetNSPath == "":
		v.Verdict, v.Detail = Unverified, "no network namespace to probe from"
	case len(reachable) == 0:
		v.Verdict, v.Detail = Unverified, fmt.Sprintf("no peer answered before the cut (%d probed); name one with --probe", len(before))
	case kept > 0:
		v.Verdict, v.Detail = Isolated, fmt.Sprintf("%d peer(s) reachable before, none after but the %d allowed", len(reachable), kept)
	default:
		v.Verdict, v.Detail = Isolated, fmt.Sprintf("%d peer(s) reachable before, none after", len(reachable))
	}
	return v
}
