package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"firebreak/evidence"
	"firebreak/internal/app"
)

// verifyFailedError says verification found differences.
type verifyFailedError struct {
	caseID string
	n      int
}

func (e *verifyFailedError) Error() string {
	return fmt.Sprintf("case %s does NOT verify: %d differences", e.caseID, e.n)
}

func joinErrors(errs []error) error { return errors.Join(errs...) }

func newEvidenceCommand(g *globalOptions, d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "List, show, fetch, verify and sync evidence in a store",
	}
	cmd.AddCommand(newEvidenceLsCommand(g, d), newEvidenceShowCommand(g, d), newEvidenceGetCommand(d),
		newEvidenceVerifyCommand(g, d), newEvidenceSyncCommand(g, d))
	return cmd
}

func newEvidenceLsCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "ls [CASE]",
		Short: "List the cases of a store, or the objects of one case",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(args) == 0 {
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
				for _, id := range ids {
					fmt.Fprintf(d.stdout, "%s\t%d objects\n", id, cases[id])
				}
				return nil
			}
			if err := evidence.CheckCaseID(args[0]); err != nil {
				return usagef("%v", err)
			}
			objs, err := s.List(ctx, evidence.CasePrefix(args[0]))
			if err != nil {
				return err
			}
			if objs == nil {
				objs = []evidence.Object{}
			}
			if g.Output == "json" {
				return writeJSON(d, objs)
			}
			tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
			for _, ob := range objs {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", ob.Size, ob.Modified.Format("2006-01-02T15:04:05Z"), safe(ob.Key))
			}
			return tw.Flush()
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func newEvidenceShowCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "show CASE",
		Short: "Show a case: its runs and artifacts from the manifests",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			ms, err := evidence.Manifests(cmd.Context(), s, args[0])
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(d, ms)
			}
			for _, m := range ms {
				fmt.Fprintf(d.stdout, "run %s by %s on %s, %s to %s\n", m.Run, safe(m.Actor), safe(m.Host), m.Started.Format("2006-01-02T15:04:05Z"), m.Finished.Format("15:04:05Z"))
				for _, a := range m.Artifacts {
					fmt.Fprintf(d.stdout, "  %10d  sha256:%.16s…  %s\n", a.Size, a.SHA256, safe(a.Key))
				}
				for _, inc := range m.Incomplete {
					fmt.Fprintf(d.stdout, "  incomplete: %s\n", safe(inc))
				}
			}
			return nil
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func newEvidenceGetCommand(d *deps) *cobra.Command {
	o := &storeOptions{}
	var out string
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Write one stored object to stdout or a file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			rc, err := s.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer rc.Close()
			var w io.Writer = d.stdout
			if out != "" {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("%w (the file is never overwritten)", err)
				}
				defer f.Close()
				w = f
			}
			_, err = io.Copy(w, rc)
			return err
		},
	}
	o.AddFlags(cmd)
	cmd.Flags().StringVarP(&out, "file", "f", "", "write to this new file instead of stdout")
	return cmd
}

func newEvidenceVerifyCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	var pub string
	cmd := &cobra.Command{
		Use:   "verify CASE",
		Short: "Re-read every object of a case and check sizes, digests, custody chain and signatures",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), g, o, pub, args[0], d)
		},
	}
	o.AddFlags(cmd)
	cmd.Flags().StringVar(&pub, "pubkey", "", "trusted public key (base64); default: signing.pub in --key-dir")
	return cmd
}

func runVerify(ctx context.Context, g *globalOptions, o *storeOptions, pub, caseID string, d *deps) error {
	if err := evidence.CheckCaseID(caseID); err != nil {
		return usagef("%v", err)
	}
	s, err := o.open()
	if err != nil {
		return err
	}
	key, err := trustedKey(o.KeyDir, pub)
	if err != nil {
		return err
	}
	// Spooled objects are part of the case until synced.
	if sink, _, err := app.WithSpool(s, o.SpoolDir); err == nil {
		s = sink
	}
	rep, err := evidence.Verify(ctx, s, caseID, key)
	if err != nil {
		return err
	}
	if g.Output == "json" {
		if err := jsonLine(d.stdout, "verify", rep); err != nil {
			return err
		}
	} else {
		state := "OK"
		if !rep.OK() {
			state = "FAILED"
		}
		fmt.Fprintf(d.stdout, "case %s: %s: %d runs, %d artifacts, %d bytes re-read\n", caseID, state, rep.Runs, rep.Artifacts, rep.Bytes)
		for _, p := range rep.Problems {
			fmt.Fprintf(d.stdout, "  %s: %s\n", safe(p.Key), safe(p.What))
		}
	}
	if !rep.OK() {
		return &verifyFailedError{caseID: caseID, n: len(rep.Problems)}
	}
	return nil
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
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Upload spooled evidence to the remote store; each spooled copy is deleted only after the remote copy matched its digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.open()
			if err != nil {
				return err
			}
			if _, local := s.(*evidence.FileStore); local {
				return usagef("sync uploads to a remote store: give --store s3://…")
			}
			sp, err := evidence.NewSpool(s, o.SpoolDir)
			if err != nil {
				return err
			}
			res, serr := sp.Sync(cmd.Context())
			if res == nil {
				res = []evidence.SyncResult{}
			}
			if g.Output == "json" {
				for _, r := range res {
					if err := jsonLine(d.stdout, "sync", r); err != nil {
						return err
					}
				}
			} else {
				for _, r := range res {
					fmt.Fprintf(d.stdout, "%-13s %10d  %s", r.Status, r.Size, safe(r.Key))
					if r.Error != "" {
						fmt.Fprintf(d.stdout, "  (%s)", safe(r.Error))
					}
					fmt.Fprintln(d.stdout)
				}
				fmt.Fprintf(d.stdout, "%d spooled objects handled for %s\n", len(res), s)
			}
			return serr
		},
	}
	o.AddFlags(cmd)
	return cmd
}
