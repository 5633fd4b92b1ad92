package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

// storeOptions are the flags that choose and configure the evidence store.
// Each command adds only the ones it uses.
type storeOptions struct {
	URL      string
	KeyDir   string
	Retain   string
	LockMode string
	SpoolDir string
	CredFile string
	Profile  string
	// BackupKey is the backup key file ($FIREBREAK_BACKUP_KEY where no
	// --backup-key flag is added).
	BackupKey string

	flags *pflag.FlagSet // where the flags were added, to tell which were given
}

// AddFlags adds every store flag: for the commands that write evidence.
func (o *storeOptions) AddFlags(cmd *cobra.Command) {
	o.addLocationFlags(cmd)
	o.addKeyDirFlag(cmd)
	o.addRetentionFlags(cmd)
	o.addSpoolDirFlag(cmd)
}

// addLocationFlags adds what names and opens a store: for every command
// that reads one.
func (o *storeOptions) addLocationFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.URL, "store", envOr("FIREBREAK_STORE", "file://"+evidence.DefaultDir), "evidence store: file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX?endpoint=HOST:PORT ($FIREBREAK_STORE)")
	f.StringVar(&o.CredFile, "s3-credentials", os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), "AWS shared credentials file for the S3 store ($AWS_SHARED_CREDENTIALS_FILE)")
	f.StringVar(&o.Profile, "s3-profile", "", "profile in the credentials file (default $AWS_PROFILE, else default)")
}

func (o *storeOptions) addKeyDirFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.KeyDir, "key-dir", envOr("FIREBREAK_KEY_DIR", evidence.DefaultKeyDir), "where the ed25519 signing key is kept, created on first use ($FIREBREAK_KEY_DIR)")
}

func (o *storeOptions) addRetentionFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Retain, "retain", "", "S3 Object Lock retention for every object, e.g. 90d or 720h (the bucket must have object lock)")
	f.StringVar(&o.LockMode, "lock-mode", "governance", "S3 Object Lock mode with --retain: governance or compliance")
}

func (o *storeOptions) addSpoolDirFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.SpoolDir, "spool-dir", envOr("FIREBREAK_SPOOL_DIR", evidence.DefaultSpoolDir), "where evidence waits when the remote store fails ($FIREBREAK_SPOOL_DIR)")
}

// options are the store flags as the session takes them.
func (o *storeOptions) options() (app.StoreOptions, error) {
	retain, err := parseRetention(o.Retain)
	if err != nil {
		return app.StoreOptions{}, err
	}
	if o.flags != nil && o.flags.Lookup("lock-mode") != nil {
		switch o.LockMode {
		case "governance", "compliance":
		default:
			return app.StoreOptions{}, usagef("--lock-mode %q: use governance or compliance", o.LockMode)
		}
		if o.flags.Changed("lock-mode") && retain == 0 {
			return app.StoreOptions{}, usagef("--lock-mode %s without --retain locks nothing: give --retain too (e.g. --retain 90d), or drop --lock-mode", o.LockMode)
		}
	}
	if o.BackupKey == "" && (o.flags == nil || o.flags.Lookup("backup-key") == nil) {
		o.BackupKey = os.Getenv("FIREBREAK_BACKUP_KEY")
	}
	return app.StoreOptions{URL: o.URL, KeyDir: o.KeyDir, Retain: retain, LockMode: o.LockMode, SpoolDir: o.SpoolDir, CredentialsFile: o.CredFile, Profile: o.Profile, BackupKeyFile: o.BackupKey}, nil
}

// addBackupKeyFlag adds --backup-key: for the commands that read or write
// backups.
func (o *storeOptions) addBackupKeyFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.BackupKey, "backup-key", os.Getenv("FIREBREAK_BACKUP_KEY"), "file holding the key of encrypted backups (firebreak backup keygen makes one; a repository is encrypted from its first backup or never) ($FIREBREAK_BACKUP_KEY)")
}

// open opens the store alone, only to read it: a local store that does not
// exist is an error, and nothing is created.
func (o *storeOptions) open() (evidence.Store, error) {
	so, err := o.options()
	if err != nil {
		return nil, err
	}
	so.ReadOnly = true
	return app.OpenStore(so)
}

// parseAge reads a length of time as Go durations ("36h", "90m") or whole
// days ("90d"); it is the one parser for such flags. It refuses negative
// lengths; zero is allowed.
func parseAge(s string) (time.Duration, bool) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || strconv.Itoa(n) != days || n > 100*365 {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// parseRetention reads --retain: days ("90d") or a duration ("720h").
func parseRetention(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, ok := parseAge(s)
	if !ok || d <= 0 {
		return 0, usagef("--retain %q: give whole days like 90d, or a duration like 720h", s)
	}
	return d, nil
}

// parseSince reads --since: how far back, as days ("90d") or a duration
// ("2h"), or from a time (RFC 3339, "2026-11-28T09:00:00Z"), which must not
// lie in the future. "" and 0 mean all.
func parseSince(s string, now time.Time) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, ok := parseAge(s); ok {
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if t.After(now) {
			return 0, usagef("--since %s lies in the future: give a time before now, or a length like 2h or 7d", s)
		}
		return max(now.Sub(t), time.Nanosecond), nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, usagef("--since %q: a negative length would reach into the future: give how far back, like 2h or 7d", s)
	}
	return 0, usagef("--since %q: give how far back, like 90m, 2h or 7d, or a time like 2026-11-28T09:00:00Z", s)
}

type collectOptions struct {
	store    storeOptions
	Case     string
	What     []string
	Since    string
	LogCap   int64
	MaxFile  int64
	MaxTotal int64
	PodSel   []string
}

func (o *collectOptions) AddFlags(cmd *cobra.Command) {
	def := collect.DefaultOptions()
	o.store.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Case, "case", "", "case ID to collect into (default: a new one)")
	f.StringSliceVar(&o.PodSel, "pod-selector", nil, "collect every ready Kubernetes pod whose labels match (key=value or key; repeatable)")
	f.StringSliceVar(&o.What, "what", collect.Names(collect.All), "collectors to run (default: "+strings.Join(collect.Names(collect.All), ",")+"; also: "+strings.Join(extraCollectors(), ",")+")")
	f.StringVar(&o.Since, "since", "", "logs: only this far back: 90m, 2h, 7d, or from a time like 2026-11-28T09:00:00Z (default: all)")
	f.Int64Var(&o.LogCap, "log-cap", def.LogCap, "logs: bytes kept per stream: the first quarter and the newest lines (what lies between is counted and recorded as dropped); 0 keeps all")
	f.Int64Var(&o.MaxFile, "max-file", def.Limits.MaxFile, "fsdiff: content bytes captured per file (larger files are capped and marked truncated); 0 for no cap")
	f.Int64Var(&o.MaxTotal, "max-total", def.Limits.MaxTotal, "fsdiff: content bytes captured in all; 0 for no cap")
}

// options checks every flag of collect before anything is captured, and
// makes the collector's options of them.
func (o *collectOptions) options(now time.Time) (collect.Options, error) {
	opts := collect.DefaultOptions()
	what, err := collect.ParseCollectors(o.What)
	if err != nil {
		return opts, usagef("--what: %v", err)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"--log-cap", o.LogCap}, {"--max-file", o.MaxFile}, {"--max-total", o.MaxTotal}} {
		if f.v < 0 {
			return opts, usagef("%s %d: give a number of bytes, or 0 for no cap", f.name, f.v)
		}
	}
	since, err := parseSince(o.Since, now)
	if err != nil {
		return opts, err
	}
	opts.What, opts.Since, opts.LogCap = what, since, o.LogCap
	opts.Limits = collect.Limits{MaxFile: o.MaxFile, MaxTotal: o.MaxTotal}
	return opts, nil
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
hash-chained custody log; 'firebreak evidence verify CASE' checks them.

A Kubernetes pod (pod/NAMESPACE/NAME, or --pod-selector) is captured as a
unit: a bundle per container, the sandbox's with the pod's network state, and
the pod's CRI record and log directory (rotated files too).`,
		Example: `  firebreak collect --case IR-42 web-1
  firebreak --runtime containerd --namespace k8s.io collect --case IR-42 pod/shop/cart-7d9f
  firebreak collect --store 's3://evidence/ir?endpoint=10.0.0.5:9000' --retain 90d web-1`,
		Args: withUsage(targetsOr(&o.PodSel)),
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
	// CustodyHead is the case's custody head on this host once the run
	// was sealed ("" when it could not be).
	CustodyHead string `json:"custody_head,omitempty"`
	*collect.Result
}

func runCollect(ctx context.Context, g *globalOptions, o *collectOptions, refs []string, d *deps) error {
	opts, err := o.options(time.Now())
	if err != nil {
		return err
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
	podRefs, refs := splitPodRefs(refs)
	var podErrs []error
	if len(podRefs) > 0 || len(o.PodSel) > 0 {
		// A pod is captured as a unit, in a run of its own.
		errs, head := runCollectPods(ctx, s, caseID, opts, podRefs, o.PodSel, g, d)
		podErrs = errs
		if len(refs) == 0 {
			if ev, err := s.Evidence(); err == nil {
				errs = append(errs, ev.Pending())
				if g.Output == "text" && head != "" {
					fmt.Fprintf(d.stdout, "case %s in %s; verify with: firebreak evidence verify %s --store '%s'\n", caseID, ev.Store.String(), caseID, ev.Store.String())
				}
			}
			printHead(g, d, caseID, head)
			return joinErrors(errs)
		}
	}
	targets := make([]runtime.Container, len(refs)) // one per reference, as named
	for i, ref := range refs {
		if targets[i], err = s.ResolveOne(ctx, ref); err != nil {
			return err
		}
	}
	line := newProgressLine(d, g.Output)
	if line != nil {
		opts.Progress = captureProgress(line)
	}
	got, err := s.Collect(ctx, app.CollectSpec{Case: caseID, Targets: targets, Options: opts,
		Waiting: func(holder string) {
			fmt.Fprintf(d.stderr, "firebreak: case %s is in use on this host (%s): waiting for that run to finish (Ctrl-C stops)\n", caseID, safe(holder))
		}})
	line.clear()
	if err != nil {
		return err
	}
	ev, err := s.Evidence()
	if err != nil {
		return err
	}
	var errs []error
	for i, f := range got.Failures {
		if f != nil {
			errs = append(errs, fmt.Errorf("%s: %w", refs[i], f))
		}
	}
	m, ferr := got.Manifest, got.FinishErr
	if ferr != nil {
		errs = append(errs, ferr)
	}
	results, failures := got.Results, got.Failures
	head := ""
	if ferr == nil {
		head = m.CustodyHead
	}
	for i, r := range results {
		if err := printCollect(d.stdout, g.Output, caseID, head, refs[i], r, failures[i]); err != nil {
			errs = append(errs, err)
		}
	}
	pending := ev.Pending()
	errs = append(errs, pending)
	if g.Output == "text" && ferr == nil {
		manifest := "cases/" + caseID + "/runs/" + m.Run + "/manifest.json"
		store := ev.Store.String()
		if pending != nil {
			fmt.Fprintf(d.stdout, "case %s: %s captured, NOT yet in %s: %s in the local spool %s (manifest %s); when the store is back: firebreak evidence sync --store '%s'\n",
				caseID, plural(len(m.Artifacts), "artifact"), store, plural(ev.Spool.Pending(), "object"), ev.Spool.Dir(), manifest, store)
		} else {
			fmt.Fprintf(d.stdout, "case %s: %s in %s (manifest %s); verify with: firebreak evidence verify %s --store '%s'\n",
				caseID, plural(len(m.Artifacts), "artifact"), store, manifest, caseID, store)
		}
		if m.Interrupted != "" {
			fmt.Fprintf(d.stdout, "case %s: this run was INTERRUPTED; its manifest is signed and lists only what was stored until then\n", caseID)
		}
	}
	printHead(g, d, caseID, head)
	return joinErrors(append(errs, podErrs...))
}

// plural says how many of a thing: "1 artifact", "2 artifacts"; many is
// the plural form when it is not noun+"s".
func plural[N int | int64](n N, noun string, many ...string) string {
	if n == 1 {
		return "1 " + noun
	}
	if len(many) > 0 {
		return strconv.FormatInt(int64(n), 10) + " " + many[0]
	}
	return strconv.FormatInt(int64(n), 10) + " " + noun + "s"
}

// nameSuffix is " (NAME)" after a container's short ID, or nothing when it
// has no name.
func nameSuffix(c runtime.Container) string {
	if c.Name == "" || c.Name == c.ID {
		return ""
	}
	return " (" + safe(c.Name) + ")"
}

func printCollect(w io.Writer, output, caseID, head, ref string, r *collect.Result, err error) error {
	if output == "json" {
		line := collectJSON{Ref: ref, OK: err == nil, Case: caseID, CustodyHead: head, Result: r}
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
	fmt.Fprintf(w, "collect %s%s: %s\n", r.Container.ShortID(), nameSuffix(r.Container), status)
	for _, a := range r.Artifacts {
		fmt.Fprintf(w, "  ✓ %-26s %10d bytes  sha256:%.16s…\n", strings.TrimPrefix(a.Key, r.Prefix), a.Size, a.SHA256)
	}
	if r.FS != nil {
		fmt.Fprintf(w, "  fsdiff: %s, %s, %s captured, %d capped\n", plural(r.FS.Entries, "entry", "entries"), plural(r.FS.Files, "file"), plural(r.FS.Bytes, "byte"), r.FS.Truncated)
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

// captureProgress draws a capture's reports on line. A tree's count
// starts again from nothing (the next target, or a volume after the
// writable layer), and so does its rate.
func captureProgress(line *progressLine) collect.Progress {
	var (
		start time.Time
		prev  progress.Count
	)
	return func(n progress.Count) {
		if start.IsZero() || n.Restarted(prev) {
			start = time.Now()
		}
		prev = n
		line.show("capturing", n, time.Since(start))
	}
}

// isTerminal reports whether w is a terminal (a tty, not merely a
// character device such as /dev/null).
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// toolVersion is the tool and version stamped into evidence: "firebreak"
// and the build's version (see buildVersion).
func toolVersion() string { return "firebreak " + readVersion().String() }

// version is set at build time with -ldflags "-X main.version=..."; "dev"
// means the version comes from the build information.
var version = "dev"

// extraCollectors are the collectors run only when named (memory, volumes).
func extraCollectors() []string {
	var out []string
	for _, c := range collect.Known {
		if !slices.Contains(collect.All, c) {
			out = append(out, string(c))
		}
	}
	return out
}
