package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/runtime"
)

func newStatusCommand(g *globalOptions, d *deps) *cobra.Command {
	return &cobra.Command{
		Use:   "status [TARGET...]",
		Short: "Show what Firebreak holds on containers, and since when",
		Long: `Status shows the containment record of each target, or of every held container when none is named.
A Kubernetes pod's records (pod/NAMESPACE/NAME) are shown as one entry, with what the kubelet did since:
a container it restarted or stopped beside the frozen one.
A held container that no longer runs as contained (thawed from outside, a network attached again,
drop rules gone) is shown with DRIFT, and status exits 4: a check from cron or a monitor fails.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), g, args, d)
		},
	}
}

// statusJSON is one record in `firebreak status --output json`.
type statusJSON struct {
	Ref  string        `json:"ref,omitempty"`
	Held bool          `json:"held"`
	Live *contain.Live `json:"live,omitempty"`
	*contain.Record
}

func runStatus(ctx context.Context, g *globalOptions, refs []string, d *deps) error {
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	c, err := s.Containment()
	if err != nil {
		return err
	}
	var rows []statusJSON
	var damaged error // records that do not read: the others are shown, and it is said at the end
	if len(refs) == 0 {
		recs, err := c.Held()
		if _, ok := contain.Readable(err); ok {
			damaged = err
		} else if err != nil {
			return err
		}
		for _, r := range recs {
			rows = append(rows, statusJSON{Held: r.Held(), Record: r})
		}
	}
	for _, ref := range refs {
		if runtime.IsPodRef(ref) {
			_, recs, err := s.FindHeldPod(ctx, ref)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				fmt.Fprintf(d.stdout, "%s: not held\n", safe(ref))
			}
			for _, r := range recs {
				rows = append(rows, statusJSON{Ref: ref, Held: r.Held(), Record: r})
			}
			continue
		}
		target, err := s.ResolveHeld(ctx, ref)
		if err != nil {
			return err
		}
		r, err := c.Status(target.ID)
		if err != nil {
			return err
		}
		rows = append(rows, statusJSON{Ref: ref, Held: r.Held(), Record: r})
		if r == nil {
			rows[len(rows)-1].Record = &contain.Record{Container: target}
		}
	}
	if rows == nil {
		rows = []statusJSON{}
	}
	for i := range rows {
		if !rows[i].Held {
			continue
		}
		live, err := c.Check(ctx, rows[i].Record)
		if err != nil {
			return err
		}
		rows[i].Live = &live
	}
	if len(refs) == 0 {
		// Holds kept for another engine or namespace are not shown here,
		// but never hidden: say where they are.
		others, err := c.Elsewhere()
		if err != nil {
			return err
		}
		for _, where := range slices.Sorted(maps.Keys(others)) {
			rt, ns, _ := strings.Cut(where, "/")
			flags := "--runtime " + rt
			if ns != "" {
				flags += " --namespace " + ns
			}
			fmt.Fprintf(d.stderr, "note: %s held on %s (this is %s): firebreak status %s\n", plural(others[where], "container"), where, s.Runtime().Name(), flags)
		}
	}
	if g.Output == "json" {
		if err := writeJSON(d, rows); err != nil {
			return err
		}
		return errors.Join(drifted(rows), damaged)
	}
	if len(rows) == 0 && damaged == nil {
		fmt.Fprintln(d.stdout, "nothing held")
		return nil
	}
	for _, r := range printPodStatus(ctx, s, d, rows) {
		printStatusText(d, r)
	}
	return errors.Join(drifted(rows), damaged)
}

// driftError says that held containers no longer run as contained
// (thawed, a network attached again, drop rules gone): status exits with
// the not-isolated code, so that a check from cron or a monitor fails.
type driftError struct{ names []string }

func (e *driftError) Error() string {
	return fmt.Sprintf("%s no longer held as contained (%s): run `firebreak contain` on it again",
		plural(len(e.names), "container"), strings.Join(e.names, ", "))
}

// drifted is a driftError for the rows whose live state drifted from
// their record, or nil.
func drifted(rows []statusJSON) error {
	var names []string
	for _, r := range rows {
		if l := r.Live; l != nil && !l.Gone && l.Drift != "" {
			names = append(names, r.Record.Container.ShortID()+nameSuffix(r.Record.Container))
		}
	}
	if names == nil {
		return nil
	}
	return &driftError{names}
}

func printStatusText(d *deps, r statusJSON) {
	w := d.stdout
	c := r.Record.Container
	if !r.Held {
		fmt.Fprintf(w, "%s%s: not held\n", c.ShortID(), nameSuffix(c))
		return
	}
	rec := r.Record
	name := nameSuffix(c)
	if l := r.Live; l != nil && l.Name != "" {
		// renamed since (a recover keeps the suspect as NAME.suspect-CASE)
		name = " (" + safe(l.Name) + ", contained as " + safe(c.Name) + ")"
	}
	fmt.Fprintf(w, "%s%s: %s since %s (%s ago)", c.ShortID(), name, rec.Phase, rec.Since.UTC().Format(time.RFC3339), time.Since(rec.Since).Round(time.Second))
	if rec.Case != "" {
		fmt.Fprintf(w, ", case %s", safe(rec.Case))
	}
	if rec.Actor != "" {
		fmt.Fprintf(w, ", by %s", safe(rec.Actor))
	}
	fmt.Fprintln(w)
	if n := rec.Network; n != nil {
		if n.Firewall {
			fmt.Fprintf(w, "  drop rules in %s", n.NetNSPath)
			if len(n.Allow) > 0 {
				fmt.Fprintf(w, " (allowing %v)", n.Allow)
			}
			fmt.Fprintln(w)
		}
		for _, det := range n.Detached {
			if det.Done {
				fmt.Fprintf(w, "  detached from %s\n", describe(det))
			}
		}
		if q := n.Quarantine; q != nil && q.Attached {
			fmt.Fprintf(w, "  attached to quarantine network %s %v\n", q.Network.Name, q.Network.Subnets)
		}
	}
	if p := rec.Pause; p != nil && p.Paused {
		fmt.Fprintln(w, "  paused")
	}
	if e := rec.Ended; e != nil {
		fmt.Fprintf(w, "  processes ended by Firebreak: %s (cannot be undone; `firebreak release` retires the record)\n", safe(e.String()))
	}
	if l := r.Live; l != nil {
		switch {
		case l.Gone:
			fmt.Fprintln(w, "  now: the container is gone or was replaced (`firebreak release` retires the record)")
		default:
			fmt.Fprintf(w, "  now: %s, drop rules %s, networks %v", l.State, l.Firewall, l.Networks)
			switch {
			case l.State != runtime.StateRunning && l.State != runtime.StatePaused:
				fmt.Fprint(w, " (not running: nothing of it can reach out)")
			case l.Drift != "":
				fmt.Fprintf(w, "  -- DRIFT: %s; run `firebreak contain` again", l.Drift)
			}
			fmt.Fprintln(w)
		}
	}
	if len(rec.Log) > 0 {
		last := rec.Log[len(rec.Log)-1]
		act := last.Action
		if last.Detail != "" {
			act += " " + safe(last.Detail)
		}
		fmt.Fprintf(w, "  last act: %s at %s", act, last.Time.Format(time.RFC3339))
		if last.Error != "" {
			fmt.Fprintf(w, " (error: %s)", safe(last.Error))
		}
		fmt.Fprintln(w)
	}
}

func describe(det contain.Detachment) string {
	a := det.Attachment
	s := a.Network
	if a.IPv4Address != "" {
		s += " " + a.IPv4Address
	}
	if len(a.Aliases) > 0 {
		s += fmt.Sprintf(" aliases %v", a.Aliases)
	}
	return s
}
