package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/drill"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/internal/termquiet"
	"firebreak/playbooks"
	"firebreak/runtime/containerd"
	"firebreak/tui"
)

type tuiOptions struct {
	store    storeOptions
	Dirs     []string
	ReadOnly bool
	Offline  bool
	Mouse    bool

	Namespaces []string      // containerd namespaces side by side; "all" for every one
	Trust      verifyOptions // keys pinned for verify (--pubkey, --trusted-keys)

	Drill       string   // a tabletop scenario: drill mode
	Scenarios   []string // the user's scenario directories
	ReportDir   string
	Facilitator string
}

func newTUICommand(g *globalOptions, d *deps) *cobra.Command {
	o := &tuiOptions{}
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "The responder's console: the fleet ranked by risk, contain and release, playbook runs, evidence",
		Long: `The console lists the containers of every engine that answers (Docker and
containerd; --runtime picks one) ranked by triage risk, kept current from the
engines' events. Every act asks first, shows the plan and the CLI command
that does the same, and is journalled in STATE_DIR/console/journal.jsonl.
With --offline it opens only the evidence view of a store, with no engine.`,
		Example: `  firebreak tui
  firebreak tui --read-only
  firebreak tui --offline --store file:///srv/bundle-from-ir-42 --pubkey "$(cat /secure/signing.pub)"
  firebreak tui --runtime containerd --namespaces all`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTUI(cmd.Context(), g, o, d)
		},
	}
	o.store.AddFlags(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&o.Dirs, "playbooks", splitList(os.Getenv("FIREBREAK_PLAYBOOKS")), "directories with your own playbooks ($FIREBREAK_PLAYBOOKS)")
	f.BoolVar(&o.ReadOnly, "read-only", false, "start read-only: no act until lifted with R and a confirmation (journalled)")
	f.BoolVar(&o.Offline, "offline", false, "no engine: browse and verify the evidence of --store only")
	f.StringSliceVar(&o.Namespaces, "namespaces", nil, "containerd namespaces to list side by side (comma-separated; all: every namespace containerd holds but Docker's own moby); default: --namespace")
	f.StringArrayVar(&o.Trust.PubKeys, "pubkey", nil, "pin a trusted public key for verify (base64; repeatable), as evidence verify takes it: a bundle someone sent is checked against the key you hold")
	f.StringVar(&o.Trust.TrustedFile, "trusted-keys", os.Getenv("FIREBREAK_TRUSTED_KEYS"), "pin the trusted public keys listed in this file for verify ($FIREBREAK_TRUSTED_KEYS)")
	f.BoolVar(&o.Mouse, "mouse", false, "take mouse clicks and the wheel (the terminal's own selection then needs shift)")
	f.StringVar(&o.Drill, "drill", "", "drill mode: run this tabletop scenario beside the fleet (firebreak drill list shows them); acts in the console count as its events")
	f.StringSliceVar(&o.Scenarios, "scenarios", splitList(os.Getenv("FIREBREAK_SCENARIOS")), "directories with your own scenarios ($FIREBREAK_SCENARIOS)")
	f.StringVar(&o.ReportDir, "report-dir", "", "with --drill: where the drill's reports go (default: <state-dir>/drills/<scenario>-<time>)")
	f.StringVar(&o.Facilitator, "facilitator", "facilitator", "with --drill: the facilitator's name in the drill's timeline")
	return cmd
}

func runTUI(ctx context.Context, g *globalOptions, o *tuiOptions, d *deps) error {
	// The flags are checked first (bad input is said as such, terminal or
	// not), the terminal next, the engines last.
	so, err := o.store.options()
	if err != nil {
		return err
	}
	drillOpts, err := tuiDrill(g, o)
	if err != nil {
		return err
	}
	var pinned []evidence.TrustedKey
	if len(o.Trust.PubKeys) > 0 || o.Trust.TrustedFile != "" {
		if pinned, err = trustedKeys(so.KeyDir, &o.Trust); err != nil {
			return err
		}
	}
	if len(o.Namespaces) > 0 && g.Runtime == "docker" && !o.Offline {
		return usagef("--namespaces names containerd namespaces; Docker has none (drop --runtime docker)")
	}
	if !isTerminal(d.rawStdout) {
		return usagef("tui needs a terminal on standard output (for scripts: firebreak ps, triage, run)")
	}
	base := app.Options{StateDir: g.StateDir, Store: so, PlaybookDirs: o.Dirs, Actor: actor(), Tool: toolVersion(), OpenRuntime: d.openRuntime}
	var sessions []*app.Session
	if !o.Offline {
		if sessions, err = openEngines(ctx, g, base, d, o.Namespaces); err != nil {
			return err
		}
	}
	b := tui.NewSessions(base, sessions...)
	defer b.Close()
	b.Trust(pinned)
	err = runConsole(ctx, d, b, tui.Options{Drill: drillOpts, ReadOnly: o.ReadOnly, Actor: base.Actor, Offline: o.Offline, CLI: cliPrefix(g), StoreFlags: tuiStoreFlags(o), PlaybookFlags: tuiPlaybookFlags(o)}, o.Mouse)
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// runConsole draws the console over b on d's terminal until it quits; it
// is what `tui` and the live drill's console both run. lipgloss's renderer
// is put on that terminal before the console makes its styles. 45 frames
// a second, not Bubble Tea's 60: its renderer wakes on every frame even
// when nothing changed, which at 60 cost about 1% of a core while idle; at
// 45 a key press still shows in 13 ms (p50) (docs/BENCHMARKS.md, console).
func runConsole(ctx context.Context, d *deps, b tui.Backend, o tui.Options, mouse bool) error {
	termquiet.Console(d.rawStdout)
	m := tui.New(b, o)
	defer m.Close()
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx), tea.WithOutput(d.rawStdout), tea.WithFPS(45)}
	if mouse {
		opts = append(opts, tea.WithMouseCellMotion())
	}
	p := tea.NewProgram(m, opts...)
	m.SetSend(p.Send)
	_, err := p.Run()
	return err
}

// tuiDrill loads the scenario of drill mode, before anything is opened: a
// scenario that is not valid, or not a tabletop, is bad input.
func tuiDrill(g *globalOptions, o *tuiOptions) (*tui.DrillOptions, error) {
	if o.Drill == "" {
		if o.ReportDir != "" {
			return nil, usagef("--report-dir goes with --drill")
		}
		return nil, nil
	}
	s, err := drill.Library{Dirs: o.Scenarios, Playbooks: playbooks.Library{Dirs: o.Dirs}}.Load(o.Drill)
	if err != nil {
		return nil, usagef("--drill: %v", err)
	}
	if s.Kind != drill.KindTabletop {
		return nil, usagef("--drill %s: a %s drill runs with `firebreak drill live %s --interactive`; the console's drill mode runs tabletops", s.Name, s.Kind, s.Name)
	}
	t, err := drill.NewTabletop(s, drill.SystemClock{}, s.Roles)
	if err != nil {
		return nil, usagef("--drill: %v", err)
	}
	dir := o.ReportDir
	if dir == "" {
		dir = filepath.Join(g.StateDir, "drills", s.Name+"-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	return &tui.DrillOptions{Tabletop: t, Scenario: s, Facilitator: o.Facilitator, ReportDir: dir}, nil
}

// openEngines opens a session on every engine that answers: the one named
// with --runtime, else Docker and containerd both where they answer; on
// containerd one per namespace of namespaces (default: --namespace; "all":
// every namespace it holds). None answering is an error that says what to
// check.
func openEngines(ctx context.Context, g *globalOptions, base app.Options, d *deps, namespaces []string) ([]*app.Session, error) {
	engines := []string{g.Runtime}
	if g.Runtime == "" {
		engines = []string{"docker", "containerd"}
	}
	var out []*app.Session
	var errs []error
	for _, name := range engines {
		o := base
		o.Engine = g.engineOptions()
		o.Engine.Runtime = name
		if g.Runtime == "" && name == "containerd" {
			if _, err := os.Stat(strings.TrimPrefix(o.Engine.Address, "unix://")); err != nil {
				errs = append(errs, fmt.Errorf("containerd: no socket at %s", o.Engine.Address))
				continue
			}
		}
		s, err := app.Open(ctx, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if name != "containerd" || len(namespaces) == 0 {
			out = append(out, s)
			continue
		}
		more, err := openNamespaces(ctx, s, o, namespaces)
		if err != nil {
			for _, m := range out {
				m.Close()
			}
			return nil, err
		}
		out = append(out, more...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no engine answers (%w); --offline browses a store's evidence without one", errors.Join(errs...))
	}
	return out, nil
}

// openNamespaces opens a containerd session per namespace asked for,
// reusing first (opened on --namespace) where it is one of them. A
// namespace containerd does not hold is bad input, named with the ones it
// does.
func openNamespaces(ctx context.Context, first *app.Session, o app.Options, want []string) ([]*app.Session, error) {
	lister, ok := first.Runtime().(interface {
		Namespaces(context.Context) ([]string, error)
	})
	if !ok {
		first.Close()
		return nil, fmt.Errorf("--namespaces: this containerd adapter cannot list namespaces")
	}
	have, err := lister.Namespaces(ctx)
	if err != nil {
		first.Close()
		return nil, err
	}
	var names []string
	for _, n := range want {
		switch {
		case n == "all":
			// Docker keeps its own containers in containerd's moby
			// namespace: they are listed and acted on through Docker,
			// whose records an act through containerd would bypass. Named
			// on its own, it is listed.
			for _, h := range have {
				if h != "moby" {
					names = append(names, h)
				}
			}
		case slices.Contains(have, n):
			names = append(names, n)
		default:
			first.Close()
			return nil, usagef("--namespaces: containerd holds no namespace %q (it holds: %s)", n, strings.Join(have, ", "))
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var out []*app.Session
	kept := false
	for _, n := range names {
		if n == o.Engine.Namespace {
			out, kept = append(out, first), true
			continue
		}
		no := o
		no.Engine.Namespace = n
		s, err := app.Open(ctx, no)
		if err != nil {
			for _, m := range out {
				m.Close()
			}
			if !kept {
				first.Close()
			}
			return nil, fmt.Errorf("containerd namespace %s: %w", n, err)
		}
		out = append(out, s)
	}
	if !kept {
		first.Close()
	}
	if len(out) == 0 {
		return nil, usagef("--namespaces: containerd holds no namespace yet")
	}
	return out, nil
}

// cliPrefix is "firebreak" with the global flags that differ from their
// defaults, for the command lines the console shows and journals.
func cliPrefix(g *globalOptions) string {
	parts := []string{"firebreak"}
	if g.StateDir != contain.DefaultStateDir {
		parts = append(parts, "--state-dir", tui.ShellQuote(g.StateDir))
	}
	if g.Host != "" {
		parts = append(parts, "--host", tui.ShellQuote(g.Host))
	}
	if g.Address != containerd.DefaultAddress {
		parts = append(parts, "--address", tui.ShellQuote(g.Address))
	}
	return strings.Join(parts, " ")
}

// tuiStoreFlags name the store, the signing key and the spool on the
// console's command lines when they are not the defaults, so a line pasted
// into a shell writes where the console does, signed with the same key.
func tuiStoreFlags(o *tuiOptions) string {
	var parts []string
	changed := func(name string) bool { f := o.store.flags.Lookup(name); return f != nil && f.Changed }
	if changed("store") || os.Getenv("FIREBREAK_STORE") != "" {
		parts = append(parts, "--store", tui.ShellQuote(o.store.URL))
	}
	if changed("key-dir") || os.Getenv("FIREBREAK_KEY_DIR") != "" {
		parts = append(parts, "--key-dir", tui.ShellQuote(o.store.KeyDir))
	}
	if changed("spool-dir") || os.Getenv("FIREBREAK_SPOOL_DIR") != "" {
		parts = append(parts, "--spool-dir", tui.ShellQuote(o.store.SpoolDir))
	}
	return strings.Join(parts, " ")
}

// tuiPlaybookFlags name the user's playbook directories on a run's command
// line.
func tuiPlaybookFlags(o *tuiOptions) string {
	var parts []string
	for _, dir := range o.Dirs {
		parts = append(parts, "--playbooks", tui.ShellQuote(dir))
	}
	return strings.Join(parts, " ")
}
