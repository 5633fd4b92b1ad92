package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/runtime"
)

type psOptions struct {
	All      bool
	Pods     bool
	Selector []string
}

func (o *psOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.Pods, "pods", false, "list Kubernetes pods (containerd's CRI plugin, namespace k8s.io) with their containers, address and what Firebreak holds")
	cmd.Flags().StringSliceVar(&o.Selector, "selector", nil, "with --pods: only pods whose labels match (key=value or key; repeatable)")
	cmd.Flags().BoolVarP(&o.All, "all", "a", false, "show stopped and created containers too (without it: running and paused ones, and any that Firebreak holds)")
}

func newPsCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &psOptions{}
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the containers of the selected engine and whether Firebreak holds them",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPs(cmd.Context(), g, o, d)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// psRow is one container in `firebreak ps`.
type psRow struct {
	runtime.Container
	Runtime   string     `json:"runtime"`
	Contained bool       `json:"contained"`
	Since     *time.Time `json:"contained_since,omitempty"`
	Phase     string     `json:"phase,omitempty"`
}

func runPs(ctx context.Context, g *globalOptions, o *psOptions, d *deps) error {
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if o.Pods {
		return runPsPods(ctx, s, o, g, d)
	}
	if len(o.Selector) > 0 {
		return usagef("--selector goes with --pods")
	}
	rt := s.Runtime()
	list, err := rt.List(ctx)
	if err != nil {
		return err
	}
	held := map[string]*contain.Record{}
	var damaged error                          // records that do not read: the rest are listed, and it is said at the end
	if c, err := s.Containment(); err == nil { // without a records directory nothing is held
		recs, err := c.Held()
		if _, ok := contain.Readable(err); ok {
			damaged = err
		} else if err != nil {
			return err
		}
		for _, r := range recs {
			held[r.Container.ID] = r
		}
	}
	slices.SortFunc(list, func(a, b runtime.Container) int { return b.Created.Compare(a.Created) })
	rows := make([]psRow, 0, len(list))
	for _, c := range list {
		row := psRow{Container: c, Runtime: rt.Name()}
		if r := held[c.ID]; r != nil && r.Container.Created.Unix() == c.Created.Unix() {
			row.Contained, row.Phase = r.Held(), r.Phase
			since := r.Since
			row.Since = &since
		}
		if !o.All && c.State != runtime.StateRunning && c.State != runtime.StatePaused && row.Since == nil {
			continue
		}
		rows = append(rows, row)
	}
	if g.Output == "json" {
		return errors.Join(writeJSON(d, rows), damaged)
	}
	tw := tabwriter.NewWriter(d.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER ID\tNAME\tIMAGE\tSTATE\tCONTAINED")
	for _, r := range rows {
		held := "-"
		if r.Since != nil {
			held = r.Phase + " since " + r.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ShortID(), safe(r.Name), safe(trunc(r.Image, 40)), r.State, held)
	}
	return errors.Join(tw.Flush(), damaged)
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func writeJSON(d *deps, v any) error {
	return writeJSONDoc(d.stdout, v)
}
