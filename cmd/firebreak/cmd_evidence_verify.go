package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"firebreak/evidence"
)

// verifyOptions are the flags of evidence verify beyond the store's.
type verifyOptions struct {
	PubKeys     []string
	TrustedFile string
	Heads       []string
}

func (v *verifyOptions) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&v.PubKeys, "pubkey", nil, "pin a trusted public key (base64; repeatable); default: signing.pub in --key-dir, which is only the key found beside the evidence")
	f.StringVar(&v.TrustedFile, "trusted-keys", os.Getenv("FIREBREAK_TRUSTED_KEYS"), "pin the trusted public keys listed in this file: base64 keys one a line, or PEM ($FIREBREAK_TRUSTED_KEYS)")
	f.StringArrayVar(&v.Heads, "head", nil, "a custody head kept outside the store (as collect, run and evidence head print it): fail unless it is in the case's chain (repeatable, one per host)")
}

func newEvidenceVerifyCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	v := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify CASE",
		Short: "Re-read every object of a case and check sizes, digests, custody chain and signatures",
		Long: `Verify re-reads every object of a case and checks sizes and digests against
the signed manifests, each manifest's signature under the trusted keys, that
each manifest is of this case and run and lists only this case's objects,
the custody chain within each run and across the runs of each host, and that
no object sits in the case unlisted. It says which key signed and whether
that key was pinned (--pubkey, --trusted-keys) or only found beside the
evidence (--key-dir). With --head, a head kept outside the store must still
be in the chain: removing the runs up to it is found; runs after it are
counted.

Verify reads the store. Objects of the case that wait in --spool-dir (a
remote store was down when they were written) are compared with the
store's copies: one the store lacks is read from the spool and named, and
verify exits 6 until 'firebreak evidence sync' sends it; one the store
holds with other bytes is named, and the store's copy is what is verified.
A run interrupted by Ctrl-C is sealed with what it stored and named here.
A store that does not answer exits 1 ("cannot read the store"), never 5.`,
		Example: `  firebreak evidence verify IR-42 --pubkey "$(cat /secure/signing.pub)"
  firebreak evidence verify IR-42 --trusted-keys /etc/firebreak/trusted.pub --head 3f1c…(64 hex digits)`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), g, o, v, args[0], d)
		},
	}
	o.addLocationFlags(cmd)
	o.addKeyDirFlag(cmd)
	o.addSpoolDirFlag(cmd)
	v.AddFlags(cmd)
	return cmd
}

// openReading opens the store to read a case, with what waits in its spool:
// spooled objects are part of the case until synced. Nothing is created.
func openReading(o *storeOptions) (evidence.Store, error) {
	s, err := o.open()
	if err != nil {
		return nil, err
	}
	if _, local := s.(*evidence.FileStore); local {
		return s, nil
	}
	sp, err := evidence.ExistingSpool(s, o.SpoolDir)
	if err != nil {
		return nil, err
	}
	if sp != nil {
		return sp, nil
	}
	return s, nil
}

func runVerify(ctx context.Context, g *globalOptions, o *storeOptions, v *verifyOptions, caseID string, d *deps) error {
	if err := evidence.CheckCaseID(caseID); err != nil {
		return usagef("%v", err)
	}
	for _, h := range v.Heads {
		if err := evidence.CheckHead(h); err != nil {
			return usagef("--head: %v", err)
		}
	}
	s, sp, err := openVerifying(o)
	if err != nil {
		return err
	}
	keys, err := trustedKeys(o.KeyDir, v)
	if err != nil {
		return err
	}
	rep, err := evidence.VerifyCase(ctx, s, caseID, evidence.VerifyOptions{Keys: keys, Heads: v.Heads, Spool: sp})
	if errors.Is(err, evidence.ErrNotFound) && !hasObjects(ctx, s, caseID) && (sp == nil || !hasObjects(ctx, sp, caseID)) {
		return noCase(caseID, s) // nothing of the case anywhere: a mistyped name
	}
	if err != nil {
		return err
	}
	if g.Output == "json" {
		if err := jsonLine(d.stdout, "verify", rep); err != nil {
			return err
		}
	} else {
		printVerify(d.stdout, rep)
	}
	if !rep.OK() {
		return &verifyFailedError{caseID: caseID, n: len(rep.Problems)}
	}
	if !rep.Replicated() {
		e := &notInStoreError{caseID: caseID, store: s.String(), dir: sp.Dir()}
		for _, o := range rep.Spooled {
			switch o.Store {
			case evidence.StoreLacks:
				e.lacks++
			case evidence.StoreDiffers:
				e.differs++
			}
		}
		return e
	}
	return nil
}

// hasObjects says whether s holds any object of the case (false too when
// it cannot be listed: the caller has the error already).
func hasObjects(ctx context.Context, s evidence.Store, caseID string) bool {
	objs, err := s.List(ctx, evidence.CasePrefix(caseID))
	return err == nil && len(objs) > 0
}

// openVerifying opens the store to verify a case, and the spool kept for
// it when there is one (nil otherwise): verify reads the store, and
// compares what waits in the spool with it. Nothing is created.
func openVerifying(o *storeOptions) (evidence.Store, *evidence.Spool, error) {
	s, err := o.open()
	if err != nil {
		return nil, nil, err
	}
	if _, local := s.(*evidence.FileStore); local {
		return s, nil, nil
	}
	sp, err := evidence.ExistingSpool(s, o.SpoolDir)
	if err != nil {
		return nil, nil, err
	}
	return s, sp, nil
}

// notInStoreError says a case verified only with objects that wait in the
// local spool: the store lacks them or holds other bytes (exit 6).
type notInStoreError struct {
	caseID, store, dir string
	lacks, differs     int
}

func (e *notInStoreError) Error() string {
	var parts []string
	if e.lacks > 0 {
		parts = append(parts, plural(e.lacks, "object")+" only in the local spool "+e.dir+", which the store lacks (send them with: firebreak evidence sync --store '"+e.store+"')")
	}
	if e.differs > 0 {
		parts = append(parts, plural(e.differs, "object")+" in the local spool "+e.dir+" that the store holds with other bytes (the store's copies were verified; sync keeps both and reports them)")
	}
	return fmt.Sprintf("case %s is NOT whole in %s: %s", e.caseID, e.store, strings.Join(parts, "; "))
}

func printVerify(w io.Writer, rep *evidence.Report) {
	state := "OK"
	switch {
	case !rep.OK():
		state = "FAILED"
	case !rep.Replicated():
		state = "OK only with the local spool"
	}
	fmt.Fprintf(w, "case %s: %s: %s, %s, %s re-read\n", rep.Case, state, plural(rep.Runs, "run"), plural(rep.Artifacts, "artifact"), plural(rep.Bytes, "byte"))
	signed := 0
	for _, k := range rep.Keys {
		if k.Runs == 0 {
			continue
		}
		signed++
		pin := "pinned: " + k.Source
		if !k.Pinned {
			pin = "NOT pinned: " + k.Source + ", found beside the evidence; pin the key you trust with --pubkey or --trusted-keys"
		}
		fmt.Fprintf(w, "  signed by %s (%s): %s\n", k.Key, safe(pin), plural(k.Runs, "run"))
	}
	if signed == 0 {
		for _, k := range rep.Keys {
			fmt.Fprintf(w, "  trusted %s (%s) signed no run\n", k.Key, safe(k.Source))
		}
	}
	for _, h := range rep.Heads {
		fmt.Fprintf(w, "  custody head of %s: %s (run %s, %s)\n", safe(hostLabel(h.Host)), h.Head, safe(h.Run), plural(h.Runs, "run"))
	}
	for _, a := range rep.Anchors {
		if a.Found {
			fmt.Fprintf(w, "  anchored head %s: in run %s of %s; %s after it\n", a.Head, safe(a.Run), safe(hostLabel(a.Host)), plural(a.RunsAfter, "run"))
		}
	}
	for _, r := range rep.Interrupted {
		fmt.Fprintf(w, "  run %s was interrupted: %s\n", safe(r.Run), safe(r.Why))
	}
	for _, o := range rep.Spooled {
		switch o.Store {
		case evidence.StoreLacks:
			fmt.Fprintf(w, "  %s: read from the local spool: the store lacks it\n", safe(o.Key))
		case evidence.StoreDiffers:
			fmt.Fprintf(w, "  %s: the store's copy (sha256 %s) differs from the spooled one (sha256 %s): the store's was verified\n", safe(o.Key), o.StoreSHA256, o.SHA256)
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s: %s\n", safe(p.Key), safe(p.What))
	}
}

func hostLabel(h string) string {
	if h == "" {
		return "an unrecorded host"
	}
	return "host " + h
}

// trustedKeys are the keys verify trusts: those pinned with --pubkey and
// --trusted-keys, else signing.pub in the key directory (not pinned: it is
// the key found beside the evidence, which whoever could change the
// evidence on that host could change too).
func trustedKeys(dir string, v *verifyOptions) ([]evidence.TrustedKey, error) {
	var keys []evidence.TrustedKey
	for _, p := range v.PubKeys {
		k, err := evidence.ParsePublicKey(p)
		if err != nil {
			return nil, usagef("--pubkey: %v", err)
		}
		keys = append(keys, evidence.TrustedKey{Key: k, Source: "--pubkey", Pinned: true})
	}
	if v.TrustedFile != "" {
		ks, err := evidence.ReadTrustedKeys(v.TrustedFile)
		if err != nil {
			return nil, usagef("--trusted-keys: %v", err)
		}
		for _, k := range ks {
			keys = append(keys, evidence.TrustedKey{Key: k, Source: "trusted keys " + v.TrustedFile, Pinned: true})
		}
	}
	if len(keys) > 0 {
		return keys, nil
	}
	k, err := evidence.LoadPublicKey(dir)
	if err != nil {
		// Nothing to verify with: the user names the key.
		return nil, usagef("no trusted key to verify with: %v", err)
	}
	return []evidence.TrustedKey{{Key: k, Source: "signing.pub in the key directory " + dir}}, nil
}
