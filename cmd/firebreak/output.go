package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"firebreak/contain"
)

// jsonLine writes one JSON object on its own line, with a type field first.
func jsonLine(w io.Writer, typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > 1 && b[0] == '{' {
		sep := ","
		if b[1] == '}' {
			sep = ""
		}
		b = append([]byte(`{"type":`+strconv.Quote(typ)+sep), b[1:]...)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// outcomeJSON is the JSON line for one target of contain or release.
type outcomeJSON struct {
	Ref   string `json:"ref"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	*contain.Result
}

func printOutcomes(w io.Writer, output, verb string, outs []contain.Outcome) error {
	for _, o := range outs {
		if output == "json" {
			line := outcomeJSON{Ref: o.Ref, OK: o.Err == nil, Result: o.Result}
			if o.Err != nil {
				line.Error = o.Err.Error()
			}
			if err := jsonLine(w, verb, line); err != nil {
				return err
			}
			continue
		}
		printOutcomeText(w, verb, o)
	}
	return nil
}

func printOutcomeText(w io.Writer, verb string, o contain.Outcome) {
	r := o.Result
	name := safe(o.Ref)
	if r != nil && r.Container.ID != "" {
		name = fmt.Sprintf("%s (%s)", r.Container.ShortID(), safe(r.Container.Name))
	}
	status := "done"
	switch {
	case o.Err != nil:
		status = "FAILED"
	case r != nil && r.DryRun:
		status = "dry run: would change"
	case r != nil && r.Unchanged:
		status = "unchanged"
	}
	fmt.Fprintf(w, "%s %s: %s\n", verb, name, status)
	if r != nil {
		for _, c := range r.Changes {
			mark := "  -"
			switch {
			case c.Done:
				mark = "  ✓"
			case c.Error != "":
				mark = "  ✗"
			case r.DryRun:
				mark = "  ·"
			}
			fmt.Fprintf(w, "%s %-12s %s\n", mark, c.Action, safe(c.Detail))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", safe(n))
		}
		if v := r.Verification; v != nil {
			fmt.Fprintf(w, "  verification: %s (%s); drop rules %s\n", strings.ToUpper(v.Verdict), safe(v.Detail), v.Firewall)
			for i, b := range v.Before {
				after := ""
				for _, a := range v.After {
					if a.Target == b.Target {
						after = ", after: " + a.Detail
					}
				}
				if i < 8 {
					fmt.Fprintf(w, "    %s before: %s%s\n", b.Target, b.Detail, after)
				}
			}
		}
		if t := r.Timings; t != nil {
			fmt.Fprintf(w, "  timings: cut %s, cut+frozen %s, all done %s\n", ms(t.Cut), ms(t.Frozen), ms(t.Total))
		}
	}
	if o.Err != nil {
		fmt.Fprintf(w, "  error: %s\n", safe(o.Err.Error()))
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// safeLines escapes control characters line by line, keeping the line
// breaks of a message that has several (joined errors, playbook errors).
func safeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = safe(l)
	}
	return strings.Join(lines, "\n")
}

// safe escapes control characters in strings that came from a container or
// an engine before they reach a terminal.
func safe(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
