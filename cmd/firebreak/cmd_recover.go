package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/internal/progress"
	"firebreak/recover"
	"firebreak/runtime"
)

type recoverOptions struct {
	store         storeOptions
	From          string
	Case          string
	DryRun        bool
	Yes           bool
	HealthTimeout time.Duration
	Image         string
	PubKey        string
	Before        string
	KeepSuspect   bool
	Devices       bool
	Harden        bool
	KeepCaps      []string
	RunAs         string
	Tmpfs         []string
}

func newRecoverCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &recoverOptions{}
	cmd := &cobra.Command{
		Use:   "recover NAME --case ID",
		Short: "Bring a container back from a verified backup, keeping the suspect as evidence",
		Long: `Recover verifies the chosen snapshot whole (every chunk, every digest, the
signature) before touching anything, then plans: the container now named NAME
(the suspect, which must be contained by Firebreak or stopped: one paused by
hand is refused) is renamed NAME.suspect-<case> (-2, -3 ... when an earlier
recover of the case kept one under that name) and kept with its volumes; each volume is restored into a
new volume (a bind mount taken with --include-binds too, bound instead of
the host directory; device nodes only with --restore-devices, sockets never,
each one left out named in the plan); a container is created from the snapshot's
configuration (the image it ran, pinned to the same image), with NAME, its
networks and aliases, and the new volumes, hardened with --harden (each
change in the plan); it is started and must be healthy (or keep running,
without a health check) within --health-timeout. On any failure or Ctrl-C
everything made is removed and the suspect gets its name back. --dry-run
prints the plan. On a terminal recover asks before acting; otherwise it
acts only with --yes (exit 7 without). Every act goes to the case's custody
log; the plan and outcome are stored in the case.`,
		Example: `  firebreak recover shop-db --case IR-42 --dry-run
  firebreak recover shop-db --case IR-42 --from 20261128T101500Z-3fa2c1 --yes
  firebreak recover shop-db --case IR-42 --harden --keep-cap NET_BIND_SERVICE --run-as 999:999`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecover(cmd.Context(), g, o, args[0], d)
		},
	}
	o.store.AddFlags(cmd)
	o.store.addBackupKeyFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "latest", "the snapshot: latest (of NAME) or an ID that firebreak backup ls lists")
	f.StringVar(&o.Case, "case", "", "the case (names the renamed suspect; labels what is made)")
	f.BoolVar(&o.DryRun, "dry-run", false, "verify and print the plan; change nothing")
	f.BoolVar(&o.Yes, "yes", false, "act without asking (scripted runs)")
	f.DurationVar(&o.HealthTimeout, "health-timeout", time.Minute, "how long the new container may take to be healthy")
	f.StringVar(&o.Image, "image", "", "an image to use instead of the snapshot's (pin it: REF@sha256:...)")
	f.StringVar(&o.PubKey, "pubkey", "", "trusted public key (base64); default: signing.pub in --key-dir")
	f.BoolVar(&o.Harden, "harden", false, "confine the new container beyond the original: read-only root with tmpfs where the suspect wrote, no-new-privileges, every capability dropped but --keep-cap, limits where it had none, the engine's default seccomp and AppArmor; each change is in the plan (Docker)")
	f.StringSliceVar(&o.KeepCaps, "keep-cap", nil, "with --harden: a capability to keep (one the original had), e.g. NET_BIND_SERVICE")
	f.StringVar(&o.RunAs, "run-as", "", "with --harden: a non-root user to run as, UID:GID or a name of the image")
	f.StringSliceVar(&o.Tmpfs, "tmpfs", nil, "with --harden: tmpfs paths under the read-only root (default: where the suspect wrote, from the case's fs diff of it; else /run and /tmp)")
	f.BoolVar(&o.KeepSuspect, "keep-suspect", true, "keep the suspect, contained and renamed; =false removes it once the service is back (only when the case holds its writable layer: collect it first)")
	f.BoolVar(&o.Devices, "restore-devices", false, "make the device nodes the snapshot lists in the new volumes (left out otherwise, each named in the plan)")
	f.StringVar(&o.Before, "before", "", "with --from latest: the newest snapshot taken before this time (RFC 3339, or an age such as 6h or 2d): the compromise time")
	return cmd
}

func runRecover(ctx context.Context, g *globalOptions, o *recoverOptions, name string, d *deps) error {
	if err := evidence.CheckCaseID(o.Case); err != nil {
		return usagef("--case: %v (recover needs the case it belongs to)", err)
	}
	if o.HealthTimeout <= 0 {
		return usagef("--health-timeout %s: give a positive duration", o.HealthTimeout)
	}
	spec := app.RecoverSpec{Name: name, Case: o.Case, From: o.From, DryRun: true, Image: o.Image, HealthTimeout: o.HealthTimeout, RemoveSuspect: !o.KeepSuspect, RestoreDevices: o.Devices}
	if o.Before != "" {
		if o.From != "latest" {
			return usagef("--before goes with --from latest")
		}
		t, err := recover.ParseWhen(o.Before)
		if err != nil {
			return usagef("--before %q: %v", o.Before, err)
		}
		spec.Before = t
	}
	if o.Harden {
		spec.Harden = &runtime.Hardening{KeepCaps: o.KeepCaps, User: o.RunAs, Tmpfs: o.Tmpfs}
	} else if len(o.KeepCaps) > 0 || o.RunAs != "" || len(o.Tmpfs) > 0 {
		return usagef("--keep-cap, --run-as and --tmpfs go with --harden")
	}
	key, err := trustedKey(o.store.KeyDir, o.PubKey)
	if err != nil {
		return err
	}
	spec.Trusted = key
	s, err := openSession(ctx, g, d, &o.store)
	if err != nil {
		return err
	}
	defer s.Close()
	plan, err := s.Recover(ctx, spec)
	if perr := printRecovery(d, g.Output, plan, "plan"); perr != nil {
		return perr
	}
	var he *recover.HardenError
	if errors.As(err, &he) {
		return usagef("%v", err)
	}
	if err != nil || o.DryRun {
		return usageOr(err)
	}
	if !o.Yes {
		if !isTerminal(d.stdin) || !isTerminal(d.stderr) {
			return &notConfirmedError{Verb: "recover", Target: name, Why: "not a terminal to answer on, and no --yes", Ask: "Answer y to the plan's question on a terminal"}
		}
		fmt.Fprintf(d.stderr, "carry out this plan? [y/N] ")
		line, _ := bufio.NewReader(d.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return &notConfirmedError{Verb: "recover", Target: name, Why: "declined", Ask: "Answer y to the plan's question on a terminal"}
		}
	}
	// The plan's snapshot and tmpfs paths, not worked out again: what was
	// approved is what runs.
	spec.DryRun, spec.From, spec.Before = false, plan.Snapshot, time.Time{}
	if spec.Harden != nil && spec.Harden.Tmpfs == nil {
		spec.Harden.Tmpfs = plan.Tmpfs
	}
	line := newProgressLine(d, g.Output)
	if line != nil {
		var start time.Time // the first report: the restore's start, after the verify
		spec.Progress = func(n progress.Count) {
			if start.IsZero() {
				start = time.Now()
			}
			line.show("restoring", n, time.Since(start))
		}
	}
	rec, err := s.Recover(ctx, spec)
	line.clear()
	if err == nil {
		fmt.Fprintf(d.stderr, "firebreak: recover logged in case %s (custody log and recovery.json)\n", o.Case)
	}
	if ev, everr := s.Evidence(); everr == nil && rec != nil {
		head := custodyHead(ctx, g, d, ev.Sink, o.Case)
		if rec.CustodyHead == "" {
			rec.CustodyHead = head
		}
	}
	return joinErrors([]error{err, printRecovery(d, g.Output, rec, "recover")})
}

func printRecovery(d *deps, output string, rec *recover.Recovery, what string) error {
	if rec == nil {
		return nil
	}
	if output == "json" {
		return jsonLine(d.stdout, what, rec) // the error, if any, follows on stderr
	}
	fmt.Fprintf(d.stdout, "%s from snapshot %s:\n", what, rec.Snapshot)
	for _, st := range rec.Steps {
		mark := "  ·"
		switch {
		case st.Done:
			mark = "  ✓"
		case st.Error != "":
			mark = "  ✗"
		}
		fmt.Fprintf(d.stdout, "%s %-8s %s\n", mark, st.Action, st.Detail)
		if st.Error != "" {
			fmt.Fprintf(d.stdout, "      error: %s\n", st.Error)
		}
	}
	if rec.RolledBack {
		fmt.Fprintln(d.stdout, "  rolled back: what was made is removed, the suspect has its name back")
	}
	return nil
}
