package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"firebreak/internal/app"
	"firebreak/playbooks"
)

func newPlaybookCommand(g *globalOptions, d *deps) *cobra.Command {
	var dirs []string
	cmd := &cobra.Command{
		Use:   "playbook",
		Short: "Validate, list and show playbooks; list the actions they can use",
	}
	cmd.PersistentFlags().StringSliceVar(&dirs, "playbooks", splitList(os.Getenv("FIREBREAK_PLAYBOOKS")), "directories with your own playbooks ($FIREBREAK_PLAYBOOKS)")
	registry := app.NewRegistry
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE|NAME...",
		Short: "Check playbooks as a whole; every error with file:line:column and what to fix",
		Args:  withUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := registry()
			var errs []error
			for _, a := range args {
				pb, err := playbooks.Library{Dirs: dirs}.Check(a, reg)
				if err != nil {
					for _, line := range strings.Split(err.Error(), "\n") {
						fmt.Fprintln(d.stdout, safe(line))
					}
					errs = append(errs, usagef("%s is not valid", a))
					continue
				}
				fmt.Fprintf(d.stdout, "%s: ok (%s)\n", safe(a), plural(len(pb.Steps), "step"))
			}
			return joinErrors(errs)
		},
	}, &cobra.Command{
		Use:   "list",
		Short: "List the playbooks: yours (--playbooks) and the built-in ones; invalid ones are marked",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			lib := playbooks.Library{Dirs: dirs}
			entries, err := lib.List()
			if err != nil {
				return err
			}
			reg := registry()
			rows := make([]playbookRow, 0, len(entries))
			for _, e := range entries {
				row := playbookRow{Entry: e, Valid: true}
				ref := e.Source
				if ref == "builtin" {
					ref = e.Name
				}
				pb, err := lib.Check(ref, reg)
				if err != nil {
					row.Valid, row.Error = false, firstError(err)
				} else {
					row.Description = firstSentence(pb.Description)
				}
				rows = append(rows, row)
			}
			if g.Output == "json" {
				return writeJSON(d, rows)
			}
			for _, r := range rows {
				desc := r.Description
				if !r.Valid {
					desc = "INVALID: " + r.Error
				}
				fmt.Fprintf(d.stdout, "%-18s %-10s %s\n", safe(r.Name), safe(r.Source), safe(desc))
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "show NAME",
		Short: "Show a playbook as a readable outline",
		Args:  withUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			pb, err := playbooks.Library{Dirs: dirs}.Load(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			reg := registry()
			fmt.Fprintf(d.stdout, "%s\n  %s\n", safe(pb.Name), safeLines(pb.Description))
			if len(pb.Params) > 0 {
				fmt.Fprintln(d.stdout, "parameters:")
				for _, p := range pb.Params {
					fmt.Fprintf(d.stdout, "  %s (%s", p.Name, p.Type)
					if p.Required {
						fmt.Fprint(d.stdout, ", required")
					} else if p.Default != nil {
						fmt.Fprintf(d.stdout, ", default %s", safe(fmt.Sprint(p.Default)))
					}
					fmt.Fprintf(d.stdout, "): %s\n", safe(p.Description))
				}
			}
			fmt.Fprintln(d.stdout, "steps:")
			for i, s := range pb.Steps {
				fmt.Fprintf(d.stdout, "  %d. %s: %s", i+1, s.ID, s.Action)
				if a, ok := reg.Get(s.Action); ok {
					desc := a.Describe()
					if desc.Changes != "" {
						fmt.Fprintf(d.stdout, " (changes %s", desc.Changes)
						if desc.Undo != "" {
							fmt.Fprintf(d.stdout, "; undo: %s", desc.Undo)
						}
						fmt.Fprint(d.stdout, ")")
					}
				}
				fmt.Fprintln(d.stdout)
				if len(s.Needs) > 0 {
					fmt.Fprintf(d.stdout, "     after %s\n", strings.Join(s.Needs, ", "))
				}
				if s.When != "" {
					fmt.Fprintf(d.stdout, "     only when %s\n", safe(s.When))
				}
				for _, k := range slices.Sorted(maps.Keys(s.With)) {
					v := s.With[k]
					if v.Expr != "" {
						fmt.Fprintf(d.stdout, "     %s = ${{ %s }}\n", k, safe(v.Expr))
					} else {
						fmt.Fprintf(d.stdout, "     %s = %s\n", k, safe(fmt.Sprint(v.Literal)))
					}
				}
				if s.Approval != "" {
					fmt.Fprintf(d.stdout, "     asks first: %s\n", safe(s.Approval))
				}
				if s.Timeout > 0 || s.Retries > 0 || s.OnFailure != playbooks.OnFailureAbort {
					fmt.Fprintf(d.stdout, "     timeout %s, retries %d, on failure %s\n", s.Timeout, s.Retries, s.OnFailure)
				}
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "actions",
		Short: "List the actions steps can use, from their own descriptions",
		Args:  withUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			descs := registry().Descriptions()
			if g.Output == "json" {
				return writeJSON(d, descs)
			}
			for _, a := range descs {
				fmt.Fprintf(d.stdout, "%s\n  %s\n", a.Name, a.Summary)
				for _, p := range a.Params {
					req := ""
					if p.Required {
						req = ", required"
					} else if p.Default != nil {
						req = fmt.Sprintf(", default %v", p.Default)
					}
					fmt.Fprintf(d.stdout, "  param  %s (%s%s): %s\n", p.Name, p.Type, req, p.Doc)
				}
				for _, o := range a.Outputs {
					fmt.Fprintf(d.stdout, "  output %s (%s): %s\n", o.Name, o.Type, o.Doc)
				}
				if a.Changes != "" {
					fmt.Fprintf(d.stdout, "  changes: %s\n", a.Changes)
				} else {
					fmt.Fprintln(d.stdout, "  changes: nothing in the container")
				}
				if a.Undo != "" {
					fmt.Fprintf(d.stdout, "  undo: %s\n", a.Undo)
				}
				fmt.Fprintf(d.stdout, "  example:\n    %s\n", strings.ReplaceAll(a.Example, "\n", "\n    "))
			}
			return nil
		},
	})
	return cmd
}

// playbookRow is one playbook in `playbook list`.
type playbookRow struct {
	playbooks.Entry
	Description string `json:"description,omitempty"`
	Valid       bool   `json:"valid"`
	Error       string `json:"error,omitempty"` // the first error, when not valid
}

// firstError is the first line of an error (the first of a playbook's).
func firstError(err error) string {
	var es playbooks.Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es[0].Error()
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}
