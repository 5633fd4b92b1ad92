package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/runtime"
)

// storeOptions are the flags that choose and configure the evidence store.
type storeOptions struct {
	URL      string
	KeyDir   string
	Retain   string
	LockMode string
	SpoolDir string
	CredFile string
	Profile  string
}

func (o *storeOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.URL, "store", envOr("FIREBREAK_STORE", "file://"+evidence.DefaultDir), "evidence store: file:///path or s3://BUCKET/PREFIX?endpoint=HOST:PORT ($FIREBREAK_STORE)")
	f.StringVar(&o.KeyDir, "key-dir", envOr("FIREBREAK_KEY_DIR", evidence.DefaultKeyDir), "where the ed25519 signing key is kept, created on first use ($FIREBREAK_KEY_DIR)")
	f.StringVar(&o.Retain, "retain", "", "S3 Object Lock retention for every object, e.g. 90d or 720h (the bucket must have object lock)")
	f.StringVar(&o.LockMode, "lock-mode", "governance", "S3 Object Lock mode: governance or compliance")
	f.StringVar(&o.CredFile, "s3-credentials", os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), "AWS shared credentials file for the S3 store ($AWS_SHARED_CREDENTIALS_FILE)")
	f.StringVar(&o.Profile, "s3-profile", "", "profile in the credentials file (default $AWS_PROFILE, else default)")
	f.StringVar(&o.SpoolDir, "spool-dir", envOr("FIREBREAK_SPOOL_DIR", evidence.DefaultSpoolDir), "where evidence waits when the remote store fails ($FIREBREAK_SPOOL_DIR)")
}

// options are the store flags as the session takes them.
func (o *storeOptions) options() (app.StoreOptions, error) {
	retain, err := parseRetention(o.Retain)
	if err != nil {
		return app.StoreOptions{}, err
	}
	return app.StoreOptions{URL: o.URL, KeyDir: o.KeyDir, Retain: retain, LockMode: o.LockMode, SpoolDir: o.SpoolDir, CredentialsFile: o.CredFile, Profile: o.Profile}, nil
}

// open opens the store alone, for reading.
func (o *storeOptions) open() (evidence.Store, error) {
	so, err := o.options()
	if err != nil {
		return nil, err
	}
	return app.OpenStore(so)
}

// parseRetention reads a duration that may be given in days ("90d").
func parseRetention(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != days {
			return 0, usagef("--retain %q: give whole days like 90d, or a duration like 720h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--retain %q: give whole days like 90d, or a duration like 720h", s)
	}
	return d, nil
}

type collectOptions struct {
	store    storeOptions
	Case     string
	What     []string
	Since    time.Duration
	LogCap   int64
	MaxFile  int64
	MaxTotal int64
}

func (o *collectOptions) AddFlags(cmd *cobra.Command) {
	def := collect.DefaultOptions()
	o.store.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Case, "case", "", "case ID to collect into (default: a new one)")
	f.StringSliceVar(&o.What, "what", collect.Names(collect.All), "collectors to run: "+strings.Join(collect.Names(collect.All), ","))
	f.DurationVar(&o.Since, "since", 0, "logs: only this far back (default: all)")
	f.Int64Var(&o.LogCap, "log-cap", def.LogCap, "logs: bytes kept per stream: the first quarter and the newest lines (what lies between is counted and recorded as dropped)")
	f.Int64Var(&o.MaxFile, "max-file", def.Limits.MaxFile, "fsdiff: content bytes captured per file (larger files are capped and marked truncated)")
	f.Int64Var(&o.MaxTotal, "max-total", def.Limits.MaxTotal, "fsdiff: content bytes captured in all")
}

func newCollectCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &collectOptions{}
	cmd := &cobra.Command{
		Use:   "collect TARGET...",
		Short: "Capture evidence from containers into a case: engine view, fs diff, processes, network, logs",
		Long: `Collect captures each target from the host side only (no exec, no chroot,
no link followed out of its root) into a case of the evidence store: the
engine's view, its writable layer as changes.json plus an OCI layer
(layer.tar.zst), its process tree, its network state, its logs, and a
Timesketch timeline. Every artifact's digest goes into a signed manifest and a
hash-chained custody log; 'firebreak evidence verify CASE' checks them.`,
		Example: `  firebreak collect --case IR-42 web-1
  firebreak collect --store 's3://evidence/ir?endpoint=10.0.0.5:9000' --retain 90d web-1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCollect(cmd.Context(), g, o, args, d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// collectJSON is one line of `collect --output json`.
type collectJSON struct {
	Ref   string `json:"ref"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Case  string `json:"case"`
	*collect.Result
}

func runCollect(ctx context.Context, g *globalOptions, o *collectOptions, refs []string, d *deps) error {
	what, err := collect.ParseCollectors(o.What)
	if err != nil {
		return usagef("--what: %v", err)
	}
	caseID := o.Case
	if caseID == "" {
		caseID = evidence.NewCaseID(time.Now())
	} else if err := evidence.CheckCaseID(caseID); err != nil {
		return usagef("--case: %v", err)
	}
	s, err := openSession(ctx, g, d, &o.store)
	if err != nil {
		return err
	}
	defer s.Close()
	targets := make([]runtime.Container, len(refs)) // one per reference, as named
	for i, ref := range refs {
		if targets[i], err = s.ResolveOne(ctx, ref); err != nil {
			return err
		}
	}
	ev, err := s.Evidence()
	if err != nil {
		return err
	}
	run, err := evidence.OpenRun(ctx, ev.Sink, ev.Signer, s.CaseInfo(caseID, "", refs))
	if err != nil {
		return err
	}
	opts := collect.DefaultOptions()
	opts.What, opts.Since, opts.LogCap = what, o.Since, o.LogCap
	opts.Limits = collect.Limits{MaxFile: o.MaxFile, MaxTotal: o.MaxTotal}
	var prog *progress
	if g.Output == "text" && isTerminal(d.stderr) {
		prog = &progress{w: d.stderr, start: time.Now()}
		opts.Progress = prog.update
	}
	var errs []error
	results := make([]*collect.Result, len(targets))
	failures := make([]error, len(targets))
	for i, t := range targets {
		results[i], failures[i] = collect.Collect(ctx, s.Runtime(), run, t, opts)
		if failures[i] != nil {
			errs = append(errs, fmt.Errorf("%s: %w", refs[i], failures[i]))
		}
	}
	prog.done()
	m, ferr := run.Finish(ctx)
	if ferr != nil {
		errs = append(errs, fmt.Errorf("finishing case %s: %w", caseID, ferr))
	}
	for i, r := range results {
		if err := printCollect(d.stdout, g.Output, caseID, refs[i], r, failures[i]); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, ev.Pending())
	if g.Output == "text" && ferr == nil {
		fmt.Fprintf(d.stdout, "case %s: %d artifacts in %s (manifest %s); verify with: firebreak evidence verify %s --store '%s'\n",
			caseID, len(m.Artifacts), ev.Store, "cases/"+caseID+"/runs/"+m.Run+"/manifest.json", caseID, ev.Store)
	}
	return joinErrors(errs)
}

func printCollect(w io.Writer, output, caseID, ref string, r *collect.Result, err error) error {
	if output == "json" {
		line := collectJSON{Ref: ref, OK: err == nil, Case: caseID, Result: r}
		if err != nil {
			line.Error = err.Error()
		}
		return jsonLine(w, "collect", line)
	}
	if r == nil {
		fmt.Fprintf(w, "collect %s: FAILED: %s\n", safe(ref), safe(err.Error()))
		return nil
	}
	status := "done"
	if err != nil {
		status = "FAILED"
	}
	fmt.Fprintf(w, "collect %s (%s): %s\n", r.Container.ShortID(), safe(r.Container.Name), status)
	for _, a := range r.Artifacts {
		fmt.Fprintf(w, "  ✓ %-26s %10d bytes  sha256:%.16s…\n", strings.TrimPrefix(a.Key, r.Prefix), a.Size, a.SHA256)
	}
	if r.FS != nil {
		fmt.Fprintf(w, "  fsdiff: %d entries, %d files, %d bytes captured, %d capped\n", r.FS.Entries, r.FS.Files, r.FS.Bytes, r.FS.Truncated)
	}
	if r.Processes > 0 {
		fmt.Fprintf(w, "  processes: %d", r.Processes)
		if r.Outside > 0 {
			fmt.Fprintf(w, ", %d OUTSIDE the container's namespaces or cgroup (escape indicator)", r.Outside)
		}
		fmt.Fprintln(w)
	}
	if r.Indicators > 0 {
		fmt.Fprintf(w, "  indicators: %d (highest %s; indicators.json)\n", r.Indicators, r.Highest)
	}
	for _, inc := range r.Incomplete {
		fmt.Fprintf(w, "  incomplete: %s\n", safe(inc))
	}
	if err != nil {
		fmt.Fprintf(w, "  error: %s\n", safe(err.Error()))
	}
	return nil
}

// progress prints a one-line status of a long capture on a terminal.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	shown bool
}

func (p *progress) update(files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.shown = now, true
	secs := now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r  capturing: %d files, %.1f MiB, %.1f MiB/s   ", files, float64(bytes)/(1<<20), float64(bytes)/(1<<20)/max(secs, 0.001))
}

func (p *progress) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func toolVersion() string { return "firebreak " + version }

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"
