package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/runtime"
	"firebreak/runtime/containerd"
)

// deps are what commands need from outside: output streams and a way to
// reach an engine. Tests substitute them.
type deps struct {
	stdin          io.Reader
	stdout, stderr io.Writer // text and JSON: terminal controls escaped (terminalSafe)
	// rawStdout and rawStderr are the same streams unescaped: for artifact
	// bytes asked for (evidence get) and the progress line's own \r.
	rawStdout, rawStderr io.Writer
	openRuntime          func(ctx context.Context, o app.EngineOptions) (runtime.Runtime, error)
}

func newDeps(stdout, stderr io.Writer) *deps {
	// Each stream is written whole-call at a time: a drill's timeline, a
	// session's notices and a run's events come from several goroutines.
	// The raw streams stay as they are (the console needs the terminal's
	// own file).
	return &deps{stdin: os.Stdin, stdout: terminalSafe{&lockedWriter{w: stdout}}, stderr: terminalSafe{&lockedWriter{w: stderr}},
		rawStdout: stdout, rawStderr: stderr, openRuntime: app.OpenRuntime}
}

// lockedWriter serialises writes to one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Fd lets isTerminal see the terminal behind it.
func (l *lockedWriter) Fd() uintptr {
	if f, ok := l.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
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
	f.StringVar(&g.Runtime, "runtime", os.Getenv("FIREBREAK_RUNTIME"), "container engine: docker or containerd ($FIREBREAK_RUNTIME; default: docker when its socket answers, else containerd)")
	f.StringVarP(&g.Host, "host", "H", "", "Docker daemon socket (default: $DOCKER_HOST, else unix:///var/run/docker.sock)")
	f.StringVar(&g.Address, "address", envOr("CONTAINERD_ADDRESS", containerd.DefaultAddress), "containerd socket ($CONTAINERD_ADDRESS)")
	f.StringVarP(&g.Namespace, "namespace", "n", envOr("CONTAINERD_NAMESPACE", containerd.DefaultNamespace), "containerd namespace ($CONTAINERD_NAMESPACE)")
	f.StringVarP(&g.Output, "output", "o", "text", "output format: text or json (triage also sarif)")
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

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
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

// outputsAnnotation lists, on a command, the --output formats it prints;
// a command without it prints text and json.
const outputsAnnotation = "firebreak/outputs"

// checkOutput refuses an --output format the command does not print, so
// that one place decides and no command silently falls back to text.
func checkOutput(cmd *cobra.Command, output string) error {
	formats := "text,json"
	if f, ok := cmd.Annotations[outputsAnnotation]; ok {
		formats = f
	}
	if !slices.Contains(strings.Split(formats, ","), output) {
		return usagef("--output %s: %s prints %s", output, cmd.CommandPath(), strings.ReplaceAll(formats, ",", " or "))
	}
	return nil
}

func newRoot(d *deps) (*cobra.Command, *globalOptions) {
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
			if err := g.validate(); err != nil {
				return err
			}
			return checkOutput(cmd, g.Output)
		},
	}
	root.SetOut(d.stdout)
	root.SetErr(d.stderr)
	g.AddFlags(root)
	root.AddCommand(
		newPsCommand(g, d),
		newContainCommand(g, d),
		newReleaseCommand(g, d),
		newStopCommand(g, d),
		newKillCommand(g, d),
		newStatusCommand(g, d),
		newCollectCommand(g, d),
		newEvidenceCommand(g, d),
		newRunCommand(g, d),
		newServeCommand(g, d),
		newAlertsCommand(g, d),
		newApproveCommand(g, d),
		newPlaybookCommand(g, d),
		newTriageCommand(g, d),
		newBackupCommand(g, d),
		newRecoverCommand(g, d),
		newTUICommand(g, d),
		newDrillCommand(g, d),
		newVersionCommand(g, d),
	)
	addUsageToErrors(root)
	return root, g
}

func run(ctx context.Context, args []string, d *deps) int {
	root, g := newRoot(d)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", errors.Join(context.Canceled, err))
		}
		if isCobraUsage(err) {
			err = &usageError{err}
		}
		code := exitCode(err)
		if code == exitInterrupted && ctx.Err() == nil {
			// A cancel from inside (one failure stopping the work beside
			// it) that hid its cause: a failure, not an interrupt.
			code = exitFailed
		}
		var reported *reportedError
		if errors.As(err, &reported) && g.Output != "json" {
			fmt.Fprintf(d.stderr, "firebreak: %s\n", reported.summary())
			return code
		}
		printError(d.stderr, g.Output, code, err)
		return code
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

// engineOptions are the global options that choose the engine.
func (g *globalOptions) engineOptions() app.EngineOptions {
	return app.EngineOptions{Runtime: g.Runtime, Host: g.Host, Address: g.Address, Namespace: g.Namespace}
}

// openSession opens the case session every command works through: the
// engine, the records directory, the registry, and (when store is given)
// the evidence store settings. Notices go to stderr.
func openSession(ctx context.Context, g *globalOptions, d *deps, store *storeOptions, more ...func(*app.Options)) (*app.Session, error) {
	o := app.Options{
		Engine:      g.engineOptions(),
		StateDir:    g.StateDir,
		Actor:       actor(),
		Tool:        toolVersion(),
		OpenRuntime: d.openRuntime,
		Notice:      func(msg string) { fmt.Fprintf(d.stderr, "firebreak: %s\n", safeLines(msg)) },
	}
	if store != nil {
		so, err := store.options()
		if err != nil {
			return nil, err
		}
		o.Store = so
	}
	for _, f := range more {
		f(&o)
	}
	return app.Open(ctx, o)
}
