package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"firebreak/evidence"
	"firebreak/runtime"
)

// verifyFailedError says verification found differences.
type verifyFailedError struct {
	caseID string
	n      int
}

func (e *verifyFailedError) Error() string {
	return fmt.Sprintf("case %s does NOT verify: %s", e.caseID, plural(e.n, "difference"))
}

// syncIncompleteError says some spooled objects were not sent: they are
// still only in the spool (exit 6).
type syncIncompleteError struct {
	failed, total int
	store, dir    string
	again         string // the command that tries again
	first         error
}

func (e *syncIncompleteError) Error() string {
	return fmt.Sprintf("%d of %s NOT sent to %s (first failure: %v): they stay whole in the spool %s; try again with: %s",
		e.failed, plural(e.total, "spooled object"), e.store, e.first, e.dir, e.again)
}

func joinErrors(errs []error) error { return errors.Join(errs...) }

func newEvidenceCommand(g *globalOptions, d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "List, show, fetch, verify and sync evidence in a store",
	}
	cmd.AddCommand(newEvidenceLsCommand(g, d), newEvidenceShowCommand(g, d), newEvidenceGetCommand(d),
		newEvidenceVerifyCommand(g, d), newEvidenceHeadCommand(g, d), newEvidenceSyncCommand(g, d), newEvidenceSpoolCommand(g, d))
	return cmd
}

func newEvidenceLsCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "ls [CASE]",
		Short: "List the cases of a store, or the objects of one case",
		Args:  withUsage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			caseID := ""
			if len(args) == 1 {
				caseID = args[0]
			}
			return runEvidenceLs(cmd.Context(), g, o, caseID, d)
		},
	}
	o.addLocationFlags(cmd)
	return cmd
}

func runEvidenceLs(ctx context.Context, g *globalOptions, o *storeOptions, caseID string, d *deps) error {
	if caseID != "" {
		if err := evidence.CheckCaseID(caseID); err != nil {
			return usagef("%v", err)
		}
	}
	s, err := o.open()
	if err != nil {
		return err
	}
	if caseID == "" {
		objs, err := s.List(ctx, "cases/")
		if err != nil {
			return err
		}
		cases := map[string]int{}
		for _, ob := range objs {
			id, _, _ := strings.Cut(strings.TrimPrefix(ob.Key, "cases/"), "/")
			cases[id]++
		}
		ids := make([]string, 0, len(cases))
		for id := range cases {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if g.Output == "json" {
			return writeJSON(d, ids)
		}
		if len(ids) == 0 {
			fmt.Fprintf(d.stdout, "no cases in %s\n", s)
		}
		for _, id := range ids {
			fmt.Fprintf(d.stdout, "%s\t%s\n", safe(id), plural(cases[id], "object"))
		}
		return nil
	}
	objs, err := s.List(ctx, evidence.CasePrefix(caseID))
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return noCase(caseID, s)
	}
	if g.Output == "json" {
		return writeJSON(d, objs)
	}
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	for _, ob := range objs {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", ob.Size, ob.Modified.Format("2006-01-02T15:04:05Z"), safe(ob.Key))
	}
	return tw.Flush()
}

func noCase(caseID string, s evidence.Store) error {
	return usagef("no case %s in %s (firebreak evidence ls --store '%s' lists its cases)", caseID, s, s)
}

func newEvidenceShowCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "show CASE",
		Short: "Show a case: who opened it, and each run with its targets and artifacts",
		Args:  withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvidenceShow(cmd.Context(), g, o, args[0], d)
		},
	}
	o.addLocationFlags(cmd)
	return cmd
}

// maxCaseInfo bounds what is read of case.json.
const maxCaseInfo = 1 << 20

func runEvidenceShow(ctx context.Context, g *globalOptions, o *storeOptions, caseID string, d *deps) error {
	if err := evidence.CheckCaseID(caseID); err != nil {
		return usagef("%v", err)
	}
	s, err := o.open()
	if err != nil {
		return err
	}
	info, infoErr := readCaseInfo(ctx, s, caseID)
	if infoErr != nil && !errors.Is(infoErr, evidence.ErrNotFound) {
		return infoErr
	}
	ms, err := evidence.Manifests(ctx, s, caseID)
	if err != nil {
		if infoErr != nil { // neither case.json nor a run
			return noCase(caseID, s)
		}
		ms = nil // opened, no run finished yet
	}
	if g.Output == "json" {
		if ms == nil {
			ms = []evidence.Manifest{}
		}
		return writeJSON(d, ms)
	}
	if infoErr == nil {
		fmt.Fprintf(d.stdout, "case %s opened %s by %s on %s with %s", safe(info.ID), info.Created.Format("2006-01-02T15:04:05Z"), safe(info.Actor), safe(orUnknown(info.Host)), safe(info.Tool))
		if info.Playbook != "" {
			fmt.Fprintf(d.stdout, ", playbook %s", safe(info.Playbook))
		}
		fmt.Fprintln(d.stdout)
	}
	if len(ms) == 0 {
		fmt.Fprintln(d.stdout, "no finished run (an interrupted playbook run is finished by run --resume)")
	}
	for _, m := range ms {
		fmt.Fprintf(d.stdout, "run %s by %s on %s, %s to %s\n", safe(m.Run), safe(m.Actor), safe(orUnknown(m.Host)), m.Started.Format("2006-01-02T15:04:05Z"), m.Finished.Format("15:04:05Z"))
		if t := runTargets(m, info, infoErr == nil && m.Run == ms[0].Run); len(t) > 0 {
			fmt.Fprintf(d.stdout, "  targets: %s\n", safe(strings.Join(t, ", ")))
		}
		for _, a := range m.Artifacts {
			fmt.Fprintf(d.stdout, "  %10d  sha256:%.16s…  %s\n", a.Size, safe(a.SHA256), safe(a.Key))
		}
		for _, inc := range m.Incomplete {
			fmt.Fprintf(d.stdout, "  incomplete: %s\n", safe(inc))
		}
	}
	return nil
}

// runTargets are a run's targets: as its manifest records them; for a
// manifest from before targets were recorded, case.json's for the first run,
// else the containers its artifacts came from.
func runTargets(m evidence.Manifest, info evidence.CaseInfo, first bool) []string {
	if len(m.Targets) > 0 {
		return m.Targets
	}
	if first && len(info.Targets) > 0 {
		return info.Targets
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range m.Artifacts {
		if a.Container != "" && !seen[a.Container] {
			seen[a.Container] = true
			out = append(out, runtime.ShortID(a.Container))
		}
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "an unrecorded host"
	}
	return s
}

func readCaseInfo(ctx context.Context, s evidence.Store, caseID string) (evidence.CaseInfo, error) {
	var info evidence.CaseInfo
	rc, err := s.Get(ctx, evidence.CasePrefix(caseID)+"case.json")
	if err != nil {
		return info, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxCaseInfo))
	if err != nil {
		return info, fmt.Errorf("reading case.json of %s: %w", caseID, err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("case.json of %s: %w", caseID, err)
	}
	return info, nil
}

func newEvidenceGetCommand(d *deps) *cobra.Command {
	o := &storeOptions{}
	var out string
	var raw bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Write one stored object to a file (-f), or to stdout when it is a pipe or --raw is given",
		Args:  withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvidenceGet(cmd.Context(), o, args[0], out, raw, d)
		},
	}
	o.addLocationFlags(cmd)
	cmd.Flags().StringVarP(&out, "file", "f", "", "write to this new file instead of stdout (never overwritten)")
	cmd.Flags().BoolVar(&raw, "raw", false, "write the object's bytes to stdout even when it is a terminal")
	return cmd
}

func runEvidenceGet(ctx context.Context, o *storeOptions, key, out string, raw bool, d *deps) error {
	if err := evidence.CheckKey(key); err != nil {
		return usagef("%v (firebreak evidence ls CASE lists the keys)", err)
	}
	if out == "" && !raw && isTerminal(d.stdout) {
		return usagef("not writing the raw bytes of %s to a terminal: give -f FILE, pipe it (| less), or --raw", key)
	}
	s, err := o.open()
	if err != nil {
		return err
	}
	rc, err := s.Get(ctx, key)
	if errors.Is(err, evidence.ErrNotFound) {
		return usagef("no object %s in %s (firebreak evidence ls CASE lists the keys)", key, s)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	var w io.Writer = d.rawStdout // the artifact's own bytes, as asked (-f, --raw, or not a terminal)
	if out != "" {
		f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return usagef("%v (the file is never overwritten: give a new one)", err)
		}
		w = f
		if _, err := io.Copy(w, rc); err != nil {
			f.Close()
			os.Remove(out)
			return err
		}
		return f.Close()
	}
	_, err = io.Copy(w, rc)
	return err
}

func trustedKey(dir, pub string) ([]byte, error) {
	if pub != "" {
		k, err := evidence.ParsePublicKey(pub)
		if err != nil {
			return nil, usagef("--pubkey: %v", err)
		}
		return k, nil
	}
	return evidence.LoadPublicKey(dir)
}

func newEvidenceSyncCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	var from string
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Upload spooled evidence to the remote store; each spooled copy is deleted only after the remote copy matched its digest",
		Long: `Sync uploads what waits in the spool for --store, reads each object back,
and deletes the spooled copy only when the digests match. With --from, it
sends what was spooled for another store (one that was misconfigured, say)
to --store instead; 'firebreak evidence spool ls' shows what waits, and for
which store.`,
		Example: `  firebreak evidence sync --store 's3://evidence/ir?endpoint=10.0.0.5:9000'
  firebreak evidence sync --from 's3://evidence/ir?endpoint=10.0.0.5:9001' --store 's3://evidence/ir?endpoint=10.0.0.5:9000'`,
		Args: withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSync(cmd.Context(), g, o, from, d)
		},
	}
	o.addLocationFlags(cmd)
	o.addRetentionFlags(cmd)
	o.addSpoolDirFlag(cmd)
	cmd.Flags().StringVar(&from, "from", "", "send what was spooled for this store URL (as 'evidence spool ls' shows it) to --store")
	return cmd
}

func runSync(ctx context.Context, g *globalOptions, o *storeOptions, from string, d *deps) error {
	if !strings.HasPrefix(o.URL, "s3://") {
		return usagef("--store %s: sync uploads to a remote store: give --store s3://BUCKET/PREFIX?endpoint=HOST:PORT", o.URL)
	}
	s, err := o.open()
	if err != nil {
		return err
	}
	var sp *evidence.Spool
	if from != "" {
		sp, err = evidence.NewSpoolFrom(s, o.SpoolDir, from)
	} else {
		sp, err = evidence.ExistingSpool(s, o.SpoolDir)
	}
	if err != nil {
		return err
	}
	waiting := 0
	if sp != nil {
		if waiting, _, err = sp.Waiting(ctx); err != nil {
			return err
		}
	}
	name := s.String()
	if from != "" {
		name = from
	}
	if waiting == 0 {
		if g.Output == "json" {
			return nil
		}
		fmt.Fprintf(d.stdout, "nothing waits in the spool %s for %s\n", o.SpoolDir, name)
		return nil
	}
	again := fmt.Sprintf("firebreak evidence sync --store '%s'", s)
	if from != "" {
		again = fmt.Sprintf("firebreak evidence sync --from '%s' --store '%s'", from, s)
	}
	if err := evidence.Preflight(ctx, s); err != nil {
		var se *evidence.StoreError
		if errors.As(err, &se) && !se.Permanent {
			return &syncIncompleteError{failed: waiting, total: waiting, store: s.String(), dir: sp.Dir(), again: again, first: err}
		}
		return err
	}
	res, serr := sp.Sync(ctx)
	counts := map[string]int{}
	for _, r := range res {
		counts[r.Status]++
		if g.Output == "json" {
			if err := jsonLine(d.stdout, "sync", r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(d.stdout, "%-13s %10d  %s", r.Status, r.Size, safe(r.Key))
		if r.Error != "" {
			fmt.Fprintf(d.stdout, "  (%s)", safe(r.Error))
		}
		fmt.Fprintln(d.stdout)
	}
	if g.Output == "text" {
		fmt.Fprintf(d.stdout, "%s for %s: %d uploaded, %d already there, %d failed\n",
			plural(len(res), "spooled object"), s, counts["uploaded"], counts["already there"], counts["failed"])
	}
	if counts["failed"] > 0 {
		first := serr
		if j, ok := serr.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
			first = j.Unwrap()[0]
		}
		return &syncIncompleteError{failed: counts["failed"], total: len(res), store: s.String(), dir: sp.Dir(), again: again, first: first}
	}
	return serr
}

func newEvidenceSpoolCommand(g *globalOptions, d *deps) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "spool",
		Short: "What waits in the local spool for a remote store",
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List what waits in the spool: the store it is meant for, and per case the objects and bytes",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := evidence.ListSpool(cmd.Context(), dir)
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(d, list)
			}
			if len(list) == 0 {
				fmt.Fprintf(d.stdout, "nothing waits in the spool %s\n", dir)
				return nil
			}
			tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STORE\tCASE\tOBJECTS\tBYTES")
			for _, sp := range list {
				for _, c := range sp.Cases {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", safe(sp.Remote), safe(orNone(c.Case)), c.Objects, c.Bytes)
				}
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&dir, "spool-dir", envOr("FIREBREAK_SPOOL_DIR", evidence.DefaultSpoolDir), "the spool directory ($FIREBREAK_SPOOL_DIR)")
	cmd.AddCommand(ls)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
