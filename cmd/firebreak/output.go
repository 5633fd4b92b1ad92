package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"firebreak/contain"
)

// encodeJSON is the one way JSON leaves Firebreak: encoded, then with every
// rune a terminal would act on escaped as \uXXXX (json escapes only those
// below 0x20).
func encodeJSON(v any, indent bool) ([]byte, error) {
	var b []byte
	var err error
	if indent {
		b, err = json.MarshalIndent(v, "", "  ")
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsFunc(b, jsonUnsafe) {
		return b, nil
	}
	var out bytes.Buffer
	for _, r := range string(b) {
		if jsonUnsafe(r) {
			fmt.Fprintf(&out, "\\u%04x", r)
			continue
		}
		out.WriteRune(r)
	}
	return out.Bytes(), nil
}

// jsonUnsafe is terminalUnsafe for encoded JSON: below 0x20 only the
// layout's own white space is left (json escaped the rest inside strings).
func jsonUnsafe(r rune) bool { return r >= 0x7f && terminalUnsafe(r) }

// writeJSONDoc writes one indented JSON document.
func writeJSONDoc(w io.Writer, v any) error {
	b, err := encodeJSON(v, true)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// jsonLine writes one JSON object on its own line, with a type field first.
func jsonLine(w io.Writer, typ string, v any) error {
	b, err := encodeJSON(v, false)
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
		name = r.Container.ShortID() + nameSuffix(r.Container)
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
			fmt.Fprintf(w, "  verification: %s (%s); drop rules %s\n", strings.ToUpper(string(v.Verdict)), safe(v.Detail), v.Firewall)
			for _, n := range v.Notes {
				fmt.Fprintf(w, "    note: %s\n", safe(n))
			}
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
			var parts []string
			if t.Cut > 0 {
				parts = append(parts, "cut "+ms(t.Cut))
			}
			if t.Frozen > 0 && t.Frozen != t.Cut {
				parts = append(parts, "cut+frozen "+ms(t.Frozen))
			}
			parts = append(parts, "all done "+ms(t.Total))
			fmt.Fprintf(w, "  timings: %s\n", strings.Join(parts, ", "))
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

// terminalUnsafe reports a rune a terminal acts on or that reorders what it
// shows: C0 and C1 controls, DEL, and the bidirectional formatting marks.
func terminalUnsafe(r rune) bool {
	switch {
	case unicode.IsControl(r) && r != '\t':
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// safe escapes what a terminal would act on in strings that came from a
// container, an engine or a playbook, before they reach a terminal.
func safe(s string) string {
	if strings.IndexFunc(s, terminalUnsafe) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !terminalUnsafe(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// reportedError is a failure whose parts were already printed with the
// results (each target's error under its own line): the command's last
// word only counts them, instead of printing each a second time. Its exit
// code is the wrapped error's.
type reportedError struct {
	err          error
	failed, of   int
	verb, output string
}

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// summary is what stderr says for it in text.
func (e *reportedError) summary() string {
	return fmt.Sprintf("%s failed for %d of %d targets (each is reported above)", e.verb, e.failed, e.of)
}

// outcomesError is the error of a contain or release over many targets.
func outcomesError(verb, output string, outs []contain.Outcome) error {
	err := contain.Errors(outs)
	if err == nil {
		return nil
	}
	failed := 0
	for _, o := range outs {
		if o.Err != nil {
			failed++
		}
	}
	return &reportedError{err: err, failed: failed, of: len(outs), verb: verb, output: output}
}

// terminalSafe is how every text line leaves Firebreak: whatever a terminal
// would act on (terminalUnsafe: C0 and C1 controls, DEL, bidi marks) and
// bytes that are not UTF-8 (a lone 0x9b is a CSI to some terminals) are
// escaped as they are written, except line feeds and tabs. It guards the
// places a value was printed without safe(); JSON passes through it
// unchanged (encodeJSON escaped it already). Artifact bytes and the
// progress line go to the raw writers beside it.
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	if !needsEscape(p) {
		return t.w.Write(p)
	}
	var b bytes.Buffer
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, "\\x%02x", p[i])
		case r == '\n' || r == '\t' || !terminalUnsafe(r):
			b.Write(p[i : i+n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	if _, err := t.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func needsEscape(p []byte) bool {
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRune(p[i:])
		if (r == utf8.RuneError && n <= 1) || (r != '\n' && r != '\t' && terminalUnsafe(r)) {
			return true
		}
		i += n
	}
	return false
}

// Fd lets isTerminal see the terminal behind it.
func (t terminalSafe) Fd() uintptr {
	if f, ok := t.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}
