package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/docker"
)

// EngineOptions choose the container engine. They follow the engines' own
// conventions: DOCKER_HOST, CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE.
type EngineOptions struct {
	Runtime   string // "docker", "containerd", or "" to choose
	Host      string // Docker socket; "" means $DOCKER_HOST or the default
	Address   string // containerd socket
	Namespace string // containerd namespace
}

// named reports whether the user named an engine or a Docker host: then a
// Docker that does not answer is an error, never a quiet switch to
// containerd.
func (o EngineOptions) named() bool {
	return o.Runtime != "" || o.Host != "" || os.Getenv("DOCKER_HOST") != ""
}

// OpenRuntime connects to the selected engine. With nothing named it takes
// Docker when its default socket answers, else containerd.
func OpenRuntime(ctx context.Context, o EngineOptions) (runtime.Runtime, error) {
	name := o.Runtime
	if name == "" {
		name = "containerd"
		if o.named() || dockerAnswers(ctx, o.Host) {
			name = "docker"
		}
	}
	switch name {
	case "docker":
		d, err := docker.New(o.Host)
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := d.Ping(pctx); err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	case "containerd":
		c, err := containerd.New(o.Address, o.Namespace)
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := c.Client().Version(pctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("containerd at %s does not answer: %w (hint: is containerd running? set --address or CONTAINERD_ADDRESS)", o.Address, err)
		}
		return c, nil
	}
	return nil, &InputError{fmt.Errorf("--runtime %q: use docker or containerd", name)}
}

func dockerAnswers(ctx context.Context, host string) bool {
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = client.DefaultDockerHost
	}
	proto, addr, ok := strings.Cut(host, "://")
	if !ok || (proto != "unix" && proto != "tcp") {
		return false
	}
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, proto, addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// InputError marks an error the user fixes by changing what they asked for
// (a flag, a target, a playbook); front ends report it as bad input.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputf(format string, args ...any) error { return &InputError{fmt.Errorf(format, args...)} }
