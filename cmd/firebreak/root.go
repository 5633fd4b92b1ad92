package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/docker"
)

// deps are what commands need from outside: output streams and a way to
// reach an engine. Tests substitute them.
type deps struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	openRuntime    func(ctx context.Context, g *globalOptions) (runtime.Runtime, error)
}

func newDeps(stdout, stderr io.Writer) *deps {
	return &deps{stdin: os.Stdin, stdout: stdout, stderr: stderr, openRuntime: openRuntime}
}

// globalOptions are the flags every command shares. They follow the engines'
// own conventions: DOCKER_HOST, CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE.
type globalOptions struct {
	Config    string
	Runtime   string
	Host      string
	Address   string
	Namespace string
	Output    string
	StateDir  string
}

func (g *globalOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.Config, "config", envOr("FIREBREAK_CONFIG", DefaultConfigFile), "file of site defaults for flags ($FIREBREAK_CONFIG); the command line and the environment win over it")
	f.StringVar(&g.Runtime, "runtime", os.Getenv("FIREBREAK_RUNTIME"), "container engine: docker or containerd (default: docker when its socket answers, else containerd)")
	f.StringVarP(&g.Host, "host", "H", "", "Docker daemon socket (default: $DOCKER_HOST, else unix:///var/run/docker.sock)")
	f.StringVar(&g.Address, "address", envOr("CONTAINERD_ADDRESS", containerd.DefaultAddress), "containerd socket ($CONTAINERD_ADDRESS)")
	f.StringVarP(&g.Namespace, "namespace", "n", envOr("CONTAINERD_NAMESPACE", containerd.DefaultNamespace), "containerd namespace ($CONTAINERD_NAMESPACE)")
	f.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
	f.StringVar(&g.StateDir, "state-dir", envOr("FIREBREAK_STATE_DIR", contain.DefaultStateDir), "where containment records are kept ($FIREBREAK_STATE_DIR)")
}

func (g *globalOptions) validate() error {
	switch g.Output {
	case "text", "json", "sarif":
	default:
		return usagef("--output %q: use text or json (sarif for triage)", g.Output)
	}
	switch g.Runtime {
	case "", "docker", "containerd":
	default:
		return usagef("--runtime %q: use docker or containerd", g.Runtime)
	}
	return nil
}

// recordNamespace is the namespace records are kept under: containerd's, or
// none for Docker.
func (g *globalOptions) recordNamespace(rt runtime.Runtime) string {
	if rt.Name() == "containerd" {
		return g.Namespace
	}
	return ""
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// openRuntime connects to the selected engine. Without --runtime it takes
// Docker when its socket answers, else containerd.
func openRuntime(ctx context.Context, g *globalOptions) (runtime.Runtime, error) {
	name := g.Runtime
	if name == "" {
		name = "containerd"
		if dockerAnswers(ctx, g.Host) {
			name = "docker"
		}
	}
	switch name {
	case "docker":
		d, err := docker.New(g.Host)
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
		c, err := containerd.New(g.Address, g.Namespace)
		if err != nil {
			return nil, err
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := c.Client().Version(pctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("containerd at %s does not answer: %w (hint: is containerd running? set --address or CONTAINERD_ADDRESS)", g.Address, err)
		}
		return c, nil
	}
	return nil, usagef("--runtime %q: use docker or containerd", name)
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

func actor() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func newRootCommand(d *deps) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "firebreak",
		Short: "Incident response for container hosts: contain, capture, recover",
		Long: `Firebreak cuts a suspect container's network, freezes it, records every act
so that it can be undone exactly, and captures evidence from the host side
into a store where a signed manifest and a hash-chained custody log show any
change.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			explicit := cmd.Flags().Changed("config") || os.Getenv("FIREBREAK_CONFIG") != ""
			cfg, err := loadConfig(g.Config, explicit)
			if err != nil {
				return err
			}
			if err := cfg.apply(cmd); err != nil {
				return err
			}
			return g.validate()
		},
	}
	root.SetOut(d.stdout)
	root.SetErr(d.stderr)
	g.AddFlags(root)
	root.AddCommand(
		newPsCommand(g, d),
		newContainCommand(g, d),
		newReleaseCommand(g, d),
		newStatusCommand(g, d),
		newCollectCommand(g, d),
		newEvidenceCommand(g, d),
		newRunCommand(g, d),
		newPlaybookCommand(g, d),
		newTriageCommand(g, d),
	)
	return root
}

func run(ctx context.Context, args []string, d *deps) int {
	root := newRootCommand(d)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", context.Canceled)
		}
		if isCobraUsage(err) {
			err = &usageError{err}
		}
		printError(d.stderr, err)
		return exitCode(err)
	}
	return exitOK
}

// isCobraUsage recognises cobra's own argument and flag errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "unknown command", "requires at least", "accepts ", "invalid argument", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// openContainment connects to the engine and opens the state directory. The
// returned close releases the engine connection.
func openContainment(ctx context.Context, g *globalOptions, d *deps) (*contain.Containment, runtime.Runtime, func(), error) {
	rt, err := d.openRuntime(ctx, g)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := contain.OpenStore(g.StateDir)
	if err != nil {
		rt.Close()
		return nil, nil, nil, err
	}
	return contain.New(rt, store, g.recordNamespace(rt)), rt, func() { rt.Close() }, nil
}
