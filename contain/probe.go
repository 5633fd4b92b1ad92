package contain

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"firebreak/internal/netns"
	"firebreak/internal/procfs"
)

// ProbeResult is one reachability check from inside a network namespace.
type ProbeResult struct {
	Target    string `json:"target"` // host:port
	Reachable bool   `json:"reachable"`
	Detail    string `json:"detail"` // "connected", "refused", "timeout", or the error
}

// maxProbeTargets bounds how many peers one verification touches.
const maxProbeTargets = 8

// probe tries a TCP connection to each target from inside the network
// namespace at nsPath. Only the socket lives in that namespace: the calling
// thread joins it for the socket() call and returns to its own at once, and
// nothing runs inside the container. A peer that accepts or answers with a
// reset is reachable; a timeout or a local refusal (no route, dropped by a
// rule) is not.
func probe(ctx context.Context, nsPath string, targets []string, timeout time.Duration) ([]ProbeResult, error) {
	if len(targets) > maxProbeTargets {
		targets = targets[:maxProbeTargets]
	}
	results := make([]ProbeResult, len(targets))
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = probeOne(ctx, nsPath, t, timeout)
		}()
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

func probeOne(ctx context.Context, nsPath, target string, timeout time.Duration) (ProbeResult, error) {
	res := ProbeResult{Target: target}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn net.Conn
	err := netns.Do(nsPath, func() error {
		// The dialer creates the socket on this (locked) thread; the
		// connect that follows is asynchronous and keeps the socket's
		// namespace.
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target)
		conn = c
		return err
	})
	var nsErr *netns.Error
	switch {
	case errors.As(err, &nsErr):
		return res, err
	case err == nil:
		conn.Close()
		res.Reachable, res.Detail = true, "connected"
	case errors.Is(err, syscall.ECONNREFUSED):
		res.Reachable, res.Detail = true, "refused (peer answered)"
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		res.Detail = "timeout"
	default:
		res.Detail = err.Error()
	}
	return res, nil
}

// routeGateways reads the IPv4 gateways of a process's network namespace from
// /proc/PID/net/route on the host, without entering it. None when the table
// cannot be read: they are only extra probe targets.
func routeGateways(pid int) []netip.Addr {
	routes, _ := procfs.Proc.Routes(pid)
	var out []netip.Addr
	for _, r := range routes {
		if r.Gateway.Is4() {
			out = append(out, r.Gateway)
		}
	}
	return out
}

// hostPort joins an address and a port for net.Dial.
func hostPort(addr string, port int) string {
	if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "[") && strings.Count(addr, ":") > 1 {
		return net.JoinHostPort(addr, strconv.Itoa(port))
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, strconv.Itoa(port))
}
