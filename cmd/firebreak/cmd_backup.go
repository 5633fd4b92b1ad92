package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/recover"
)

type backupOptions struct {
	store        storeOptions
	Volumes      []string
	IncludeBinds bool
	Pause        bool
	Case         string
	PreHook      string
	PostHook     string
	HookTimeout  time.Duration
	HookOnError  string
}

func newBackupCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup TARGET...",
		Short: "Back up containers: configuration and volume data, deduplicated, signed",
		Long: `Backup takes each target's create-time configuration (the engine's own
document) and the files of its volumes, read from the host side with every
open confined to the volume (no link followed), split by content-defined
chunking into compressed chunks stored once by their SHA-256: a second backup
of unchanged data stores only a small signed manifest. The container runs on
while it is read unless --pause freezes it (the freeze is measured).

  firebreak backup ls [TARGET]     snapshots, oldest first
  firebreak backup show ID         one snapshot
  firebreak backup verify ID       re-read every chunk, check every digest and the signature (exit 5)
  firebreak backup forget --keep-daily 7 --keep-weekly 4 [NAME...]   remove snapshots the rules do not keep`,
		Example: `  firebreak backup web-1
  firebreak backup --volumes db-data --pause db-1
  firebreak backup verify 20261128T101500Z-3fa2c1`,
		Args: withUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd.Context(), g, o, args, d)
		},
	}
	o.store.AddFlags(cmd)
	o.store.addBackupKeyFlag(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&o.Volumes, "volumes", nil, "volumes to take, by name or mount destination (default: all)")
	f.BoolVar(&o.IncludeBinds, "include-binds", false, "take bind mounts (host directories) too")
	f.StringVar(&o.Case, "case", "", "log the backup in this case's custody log")
	f.StringVar(&o.PreHook, "pre-hook", "", "a command run in the container (sh -c) before its files are read, e.g. a database's flush; never in a container Firebreak holds")
	f.StringVar(&o.PostHook, "post-hook", "", "a command run in the container (sh -c) after its files are read (also after a failed read)")
	f.DurationVar(&o.HookTimeout, "hook-timeout", recover.DefaultHookTimeout, "a hook still running after this is killed")
	f.StringVar(&o.HookOnError, "hook-on-error", recover.HookFail, "what a failed hook does: fail (no snapshot) or continue (noted in the snapshot)")
	f.BoolVar(&o.Pause, "pause", false, "freeze the container while its files are read (a consistent snapshot; the freeze is measured)")
	cmd.AddCommand(newBackupLsCommand(g, d), newBackupShowCommand(g, d), newBackupVerifyCommand(g, d), newBackupForgetCommand(g, d), newBackupPruneCommand(g, d), newBackupKeygenCommand(d))
	return cmd
}

func runBackup(ctx context.Context, g *globalOptions, o *backupOptions, refs []string, d *deps) error {
	if o.Case != "" {
		if err := evidence.CheckCaseID(o.Case); err != nil {
			return usagef("--case: %v", err)
		}
	}
	spec := app.BackupSpec{Volumes: o.Volumes, IncludeBinds: o.IncludeBinds, Pause: o.Pause, Case: o.Case}
	for _, h := range []struct {
		flag, cmd string
		to        **recover.Hook
	}{{"--pre-hook", o.PreHook, &spec.PreHook}, {"--post-hook", o.PostHook, &spec.PostHook}} {
		if h.cmd == "" {
			continue
		}
		hook := recover.Hook{Command: []string{"sh", "-c", h.cmd}, Timeout: o.HookTimeout, OnError: o.HookOnError}
		if strings.TrimSpace(h.cmd) == "" || o.HookTimeout <= 0 {
			return usagef("%s %q with --hook-timeout %s: give a command and a positive timeout", h.flag, h.cmd, o.HookTimeout)
		}
		if err := recover.CheckHook(hook); err != nil {
			return usagef("%s: %v", h.flag, err)
		}
		*h.to = &hook
	}
	s, err := openSession(ctx, g, d, &o.store)
	if err != nil {
		return err
	}
	defer s.Close()
	targets, err := s.Resolve(ctx, app.Selection{Refs: refs})
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range targets {
		start := time.Now()
		snap, err := s.Backup(ctx, t, spec)
		head := ""
		if o.Case != "" {
			if ev, everr := s.Evidence(); everr == nil {
				head = custodyHead(ctx, g, d, ev.Sink, o.Case)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.ShortID(), err))
			if g.Output == "json" {
				if jerr := jsonLine(d.stdout, "backup", map[string]any{"ref": t.ID, "ok": false, "error": err.Error()}); jerr != nil {
					errs = append(errs, jerr)
				}
			} else {
				fmt.Fprintf(d.stdout, "backup %s%s: FAILED: %s\n", t.ShortID(), nameSuffix(t), err)
			}
			continue
		}
		changed := []string{} // entries left out: changed while read
		for _, v := range snap.Volumes {
			for _, n := range v.Notes {
				changed = append(changed, "volume "+v.Name+": "+n)
			}
			if more := v.Changed - len(v.Notes); more > 0 {
				changed = append(changed, fmt.Sprintf("volume %s: and %d more changed while read: left out", v.Name, more))
			}
		}
		if g.Output == "json" {
			if err := jsonLine(d.stdout, "backup", map[string]any{"ref": t.ID, "ok": true, "snapshot": snap.ID, "totals": snap.Totals, "freeze_ms": snap.FreezeMS, "hooks": snap.Hooks, "changed": changed, "custody_head": head, "seconds": time.Since(start).Seconds()}); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		t := snap.Totals
		fmt.Fprintf(d.stdout, "backup %s%s: snapshot %s\n", snap.Container.ShortID(), nameSuffix(snap.Container), snap.ID)
		fmt.Fprintf(d.stdout, "  %s in %s, %s: %s, %d new (%s stored), manifest %s, %.1fs\n",
			plural(t.Files, "file"), plural(len(snap.Volumes), "volume"), plural(int(t.Bytes), "byte"), plural(t.Chunks, "chunk"), t.NewChunks, plural(int(t.StoredBytes), "byte"), plural(int(t.ManifestSize), "byte"), time.Since(start).Seconds())
		printHooks(d.stdout, snap.Hooks)
		switch {
		case snap.Live:
			fmt.Fprintln(d.stdout, "  read while it ran (--pause freezes it for a consistent snapshot)")
		case o.Pause && snap.FreezeMS > 0:
			fmt.Fprintf(d.stdout, "  frozen for %d ms while read\n", snap.FreezeMS)
		default:
			fmt.Fprintf(d.stdout, "  read while it was %s (nothing of it ran)\n", snap.Container.State)
		}
		for _, n := range changed {
			fmt.Fprintf(d.stdout, "  note: %s\n", n)
		}
	}
	return joinErrors(errs)
}

func newBackupLsCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "ls [TARGET]",
		Short: "List snapshots, oldest first (of one container when named: name or ID prefix)",
		Args:  withUsage(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := readRepo(cmd.Context(), o)
			if err != nil {
				return err
			}
			snaps, damaged, err := repo.ListAll(cmd.Context())
			if err != nil {
				return err
			}
			// A damaged snapshot cannot say whose it is: each is named
			// (on stderr, by the error) after the others are listed, and
			// the exit code is the verify's (5) whatever the target.
			var bad []error
			for _, v := range damaged {
				bad = append(bad, v)
			}
			var out []recover.Snapshot
			for _, s := range snaps {
				if len(args) == 0 || s.Container.Name == args[0] || strings.HasPrefix(s.Container.ID, args[0]) {
					s.Config = nil
					out = append(out, s)
				}
			}
			if g.Output == "json" {
				if out == nil {
					out = []recover.Snapshot{}
				}
				return joinErrors(append([]error{writeJSON(d, out)}, bad...))
			}
			if len(out) == 0 {
				fmt.Fprintln(d.stdout, "no snapshots")
			}
			for _, s := range out {
				fmt.Fprintf(d.stdout, "%s  %s  %s%s  %s, %s\n", s.ID, s.Time.Format(time.RFC3339), s.Container.ShortID(), nameSuffix(s.Container), plural(s.Totals.Files, "file"), plural(len(s.Volumes), "volume"))
			}
			return joinErrors(bad)
		},
	}
	o.addLocationFlags(cmd)
	o.addBackupKeyFlag(cmd)
	return cmd
}

func newBackupShowCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one snapshot: container, time, volumes and totals",
		Args:  withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := readRepo(cmd.Context(), o)
			if err != nil {
				return err
			}
			s, _, err := repo.Load(cmd.Context(), args[0], nil)
			if err != nil {
				return usageOr(err)
			}
			if g.Output == "json" {
				return writeJSON(d, s)
			}
			printSnapshot(d.stdout, s)
			return nil
		},
	}
	o.addLocationFlags(cmd)
	o.addBackupKeyFlag(cmd)
	return cmd
}

func printSnapshot(w io.Writer, s *recover.Snapshot) {
	fmt.Fprintf(w, "snapshot %s of %s%s (%s), %s by %s on %s with %s\n", s.ID, s.Container.ShortID(), nameSuffix(s.Container), s.Runtime,
		s.Time.Format(time.RFC3339), orUnknown(s.Actor), orUnknown(s.Host), orUnknown(s.Tool))
	fmt.Fprintf(w, "  image %s; %s\n", orUnknown(s.Image), readHow(s))
	for _, v := range s.Volumes {
		n := 0
		if v.List != nil {
			n = v.List.Entries
		}
		fmt.Fprintf(w, "  %s %s -> %s: %s\n", v.Type, v.Name, v.Destination, plural(n, "entry", "entries"))
	}
	t := s.Totals
	fmt.Fprintf(w, "  %s, %s (%d new when taken, %s stored)\n", plural(int(t.Bytes), "byte"), plural(t.Chunks, "chunk"), t.NewChunks, plural(int(t.StoredBytes), "byte"))
	printHooks(w, s.Hooks)
}

func printHooks(w io.Writer, runs []recover.HookRun) {
	for _, h := range runs {
		status := "ok"
		switch {
		case h.Error != "":
			status = "FAILED: " + h.Error
		case h.ExitCode != 0:
			status = fmt.Sprintf("FAILED: exit %d", h.ExitCode)
		}
		if h.Ignored {
			status += " (on-error continue)"
		}
		fmt.Fprintf(w, "  %s-hook %q: %s in %d ms\n", h.When, strings.Join(h.Command, " "), status, h.MS)
	}
}

func newBackupVerifyCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	var pub string
	cmd := &cobra.Command{
		Use:   "verify ID",
		Short: "Re-read every chunk of a snapshot and check every digest and the signature",
		Args:  withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := readRepo(cmd.Context(), o)
			if err != nil {
				return err
			}
			key, err := trustedKey(o.KeyDir, pub)
			if err != nil {
				return err
			}
			files, n, err := repo.Verify(cmd.Context(), args[0], key)
			var ve *recover.VerifyError
			errors.As(err, &ve)
			if g.Output == "json" {
				line := map[string]any{"snapshot": args[0], "ok": err == nil, "files": files, "bytes": n}
				if err != nil {
					line["error"] = err.Error()
				}
				if ve != nil {
					line["problems"] = ve.Problems
				}
				if jerr := jsonLine(d.stdout, "verify", line); jerr != nil {
					return jerr
				}
			} else if err == nil {
				fmt.Fprintf(d.stdout, "snapshot %s: OK: %s, %s re-read\n", args[0], plural(files, "file"), plural(int(n), "byte"))
			} else if ve != nil {
				// Every difference, one a line (the error names the first).
				fmt.Fprintf(d.stdout, "snapshot %s: %s:\n", args[0], plural(len(ve.Problems), "difference"))
				for _, p := range ve.Problems {
					fmt.Fprintf(d.stdout, "  %s\n", safe(p))
				}
			}
			return usageOr(err)
		},
	}
	o.addLocationFlags(cmd)
	o.addBackupKeyFlag(cmd)
	o.addKeyDirFlag(cmd)
	cmd.Flags().StringVar(&pub, "pubkey", "", "trusted public key (base64); default: signing.pub in --key-dir")
	return cmd
}

// readRepo opens the backups of a store only to read them.
func readRepo(ctx context.Context, o *storeOptions) (*recover.Repo, error) {
	st, err := o.open()
	if err != nil {
		return nil, err
	}
	var key []byte
	if o.BackupKey != "" {
		if key, err = recover.ReadKeyFile(o.BackupKey); err != nil {
			return nil, usagef("%v", err)
		}
	}
	repo, err := recover.OpenRepoWith(ctx, st, nil, key)
	if err != nil && strings.Contains(err.Error(), "encrypted") {
		return nil, usagef("%v", err)
	}
	return repo, err
}

// usageOr makes a missing snapshot bad input; other errors pass.
func usageOr(err error) error {
	if err != nil && strings.Contains(err.Error(), "no snapshot") {
		return usagef("%v", err)
	}
	return err
}

func newBackupForgetCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	var p recover.KeepPolicy
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "forget [NAME...] --keep-last N | --keep-daily N | ...",
		Short: "Remove the snapshots a keep policy does not keep (per container; the data stays until a prune)",
		Long: `Forget applies the keep rules to each container's snapshots (of the containers
named, or all), newest first: the newest --keep-last; the newest of each of
the last --keep-hourly hours, --keep-daily days, --keep-weekly ISO weeks and
--keep-monthly months that have one; every one taken --keep-within of the
newest. A snapshot kept by any rule is kept, and so is the one a recover of
a container Firebreak holds would use (its newest taken before it was
contained). The others' manifests are removed; a manifest under the store's
retention is kept and said so. The chunks stay until a prune finds them
unused. --dry-run prints the decisions only.`,
		Example: `  firebreak backup forget --keep-daily 7 --keep-weekly 4 --dry-run
  firebreak backup forget shop-db --keep-last 3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.Last < 0 || p.Hourly < 0 || p.Daily < 0 || p.Weekly < 0 || p.Monthly < 0 || p.Within < 0 {
				return usagef("the --keep-* rules take counts and a duration of zero or more")
			}
			s, err := openSession(cmd.Context(), g, d, o)
			if err != nil {
				return err
			}
			defer s.Close()
			decisions, err := s.Forget(cmd.Context(), app.ForgetSpec{Names: args, Policy: p, DryRun: dryRun})
			if g.Output == "json" {
				if decisions == nil {
					decisions = []recover.ForgetDecision{}
				}
				for i := range decisions {
					decisions[i].Snapshot.Config = nil
				}
				return errors.Join(err, writeJSON(d, decisions))
			}
			verb := "forgotten"
			if dryRun {
				verb = "would be forgotten"
			}
			for _, dc := range decisions {
				sn := dc.Snapshot
				what := verb
				if dc.Keep {
					what = "kept: " + strings.Join(dc.Reasons, "; ")
				}
				fmt.Fprintf(d.stdout, "%s  %s  %s  %s\n", sn.ID, sn.Time.Format(time.RFC3339), sn.Container.Name, what)
			}
			if len(decisions) == 0 {
				fmt.Fprintln(d.stdout, "no snapshots")
			}
			return err
		},
	}
	o.AddFlags(cmd)
	o.addBackupKeyFlag(cmd)
	f := cmd.Flags()
	f.IntVar(&p.Last, "keep-last", 0, "keep the newest N snapshots of each container")
	f.IntVar(&p.Hourly, "keep-hourly", 0, "keep the newest of each of the last N hours that have one")
	f.IntVar(&p.Daily, "keep-daily", 0, "keep the newest of each of the last N days that have one")
	f.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest of each of the last N ISO weeks that have one")
	f.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest of each of the last N months that have one")
	f.DurationVar(&p.Within, "keep-within", 0, "keep every snapshot taken within this of the newest (e.g. 72h)")
	f.BoolVar(&dryRun, "dry-run", false, "print what would be forgotten; remove nothing")
	return cmd
}

func newBackupPruneCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &storeOptions{}
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove the backup data no snapshot uses any more (after forget)",
		Long: `Prune removes the packs none of whose chunks a remaining snapshot uses, and
unused chunk objects of older stores. A pack that holds one used chunk is
kept (the unused bytes in kept packs are counted). It writes a new index
before removing anything, so a prune cut short leaves the repository whole
(prune again to finish). Packs no index names, left by a backup that
failed or was killed, are removed too once older than an hour. It refuses
while a backup holds the repository (a lock object under locks/, renewed
while the backup runs; one not renewed for an hour, or of a process gone
from this host, no longer counts), when an index object is damaged and
when a snapshot's manifest is (exit 5). A pack under the store's retention
is kept and counted. --dry-run counts and removes nothing.`,
		Example: `  firebreak backup forget --keep-daily 7 && firebreak backup prune --dry-run && firebreak backup prune`,
		Args:    withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openSession(cmd.Context(), g, d, o)
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Prune(cmd.Context(), dryRun)
			if err != nil {
				return err
			}
			if g.Output == "json" {
				return writeJSON(d, st)
			}
			verb := "removed"
			if dryRun {
				verb = "would be removed"
			}
			fmt.Fprintf(d.stdout, "%d snapshots use %d chunks: %s kept, %s %s (%d bytes), %s retained by the store, %d unused bytes left in kept packs, %d old chunk objects %s, %d index objects replaced\n",
				st.Snapshots, st.ChunksUsed, plural(st.PacksKept, "pack"), plural(st.PacksRemoved, "pack"), verb, st.BytesRemoved, plural(st.PacksRetained, "pack"), st.BytesUnused, st.ChunkObjects, verb, st.IndexRewritten)
			if st.PacksOrphaned > 0 {
				fmt.Fprintf(d.stdout, "%s of them named by no index (left by a backup that failed or was killed)\n", plural(st.PacksOrphaned, "pack"))
			}
			return nil
		},
	}
	o.AddFlags(cmd)
	o.addBackupKeyFlag(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be removed; remove nothing")
	return cmd
}

func newBackupKeygenCommand(d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen FILE",
		Short: "Make a key for encrypted backups (a new file, mode 0600)",
		Long: `Keygen writes a new random key for encrypted backups into FILE, which must
not exist. Give it with --backup-key (or $FIREBREAK_BACKUP_KEY) to the first
backup into a store: from then on that store's backups are sealed with
XChaCha20-Poly1305 under it (chunks, file lists, index and manifests), and
every command that reads them needs it. The key never goes to the store:
keep a copy apart from the host, or the backups cannot be read.`,
		Example: `  firebreak backup keygen /etc/firebreak/backup.key
  firebreak backup --backup-key /etc/firebreak/backup.key shop-db`,
		Args: withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := recover.WriteKeyFile(args[0]); err != nil {
				return usagef("%v", err)
			}
			key, err := recover.ReadKeyFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(d.stdout, "backup key written to %s (id %s): keep a copy apart from this host\n", args[0], recover.KeyID(key))
			return nil
		},
	}
}

// readHow says how a snapshot's container was while it was read.
func readHow(s *recover.Snapshot) string {
	switch {
	case s.Live:
		return "read while it ran"
	case s.FreezeMS > 0:
		return fmt.Sprintf("frozen %d ms while read", s.FreezeMS)
	}
	return fmt.Sprintf("read while it was %s", s.Container.State)
}
