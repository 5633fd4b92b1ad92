package tui

import (
	"context"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/contain"
)

// The acts the console takes on containers. Each asks first in a dialog
// that shows the plan (a dry run through the same call), the default
// button Cancel; each is journalled with the CLI command line that does the
// same.

// planMsg is a dry run's answer for a dialog.
type planMsg struct {
	gen   uint64
	lines []string
	err   error
}

// actedMsg is an act's answer.
type actedMsg struct {
	act  Act
	item Item
	res  *contain.Result
	err  error
}

// cliFor is the command line that does verb to it from a shell.
func (m *Model) cliFor(verb string, it Item, extra ...string) string {
	parts := []string{m.opts.CLI}
	engine, ns, _ := strings.Cut(it.Engine, "/")
	parts = append(parts, "--runtime", engine)
	if ns != "" {
		parts = append(parts, "--namespace", ShellQuote(ns))
	}
	parts = append(parts, verb)
	parts = append(parts, extra...)
	parts = append(parts, ShellQuote(it.CLIRef()))
	return strings.Join(parts, " ")
}

// ShellQuote quotes s for a POSIX shell when it needs it.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// keys names items in the journal: each one's engine/ID, joined by ", ",
// so the detail view finds every act on a container however many targets
// the act had.
func keys(items []Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.Key())
	}
	return strings.Join(out, ", ")
}

func names(items []Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.Ref())
	}
	if len(out) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(out[:3], ", "), len(out)-3)
	}
	return strings.Join(out, ", ")
}

// containDialog asks to contain targets, showing the plan first.
func (m *Model) containDialog(targets []Item) tea.Cmd {
	return m.actDialog("contain", "Contain", targets, m.b.Contain)
}

// releaseDialog asks to release targets, showing the plan first.
func (m *Model) releaseDialog(targets []Item) tea.Cmd {
	return m.actDialog("release", "Release", targets, m.b.Release)
}

func (m *Model) actDialog(verb, label string, targets []Item, fn func(context.Context, Item, bool) (*contain.Result, error)) tea.Cmd {
	if cmd, ok := m.podFor(verb, targets); ok {
		return cmd // a pod's container: the pod is acted on as one
	}
	if !m.canAct(verb, targets) {
		return nil
	}
	var cmds []string
	for _, t := range targets {
		cmds = append(cmds, m.cliFor(verb, t))
	}
	gen := m.next("plan")
	d := &dialog{
		title:   fmt.Sprintf("%s %s?", label, Inert(names(targets))),
		command: strings.Join(cmds, "; "),
		confirm: label,
		pending: true,
	}
	d.planned = func(m *Model, msg tea.Msg) bool {
		p, ok := msg.(planMsg)
		if !ok || !m.current("plan", p.gen) {
			return false
		}
		d.lines = p.lines
		if p.err != nil {
			d.notAllowed = "the plan failed: " + p.err.Error()
		}
		return true
	}
	d.onYes = func(m *Model) tea.Cmd {
		var run []tea.Cmd
		for i, t := range targets {
			t, line := t, cmds[i]
			run = append(run, m.call("act/"+t.Key(), verb+" "+Inert(t.Ref()), func(ctx context.Context) tea.Msg {
				res, err := fn(ctx, t, false)
				return actedMsg{act: Act{Act: verb, Target: t.Key(), Command: line}, item: t, res: res, err: err}
			}))
		}
		return tea.Batch(run...)
	}
	m.dialog = d
	return func() tea.Msg {
		var lines []string
		var errs []string
		for _, t := range targets {
			res, err := fn(m.ctx, t, true)
			if err != nil {
				errs = append(errs, t.Ref()+": "+err.Error())
				continue
			}
			lines = append(lines, planLines(t, res)...)
		}
		var err error
		if len(errs) > 0 {
			err = fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return planMsg{gen: gen, lines: lines, err: err}
	}
}

// planLines words a dry run's changes, one line each.
func planLines(t Item, res *contain.Result) []string {
	head := Inert(t.Ref()) + " (" + t.Engine + "):"
	if res == nil {
		return []string{head + " nothing to do"}
	}
	if res.Unchanged || len(res.Changes) == 0 {
		return []string{head + " nothing to change"}
	}
	lines := []string{head}
	for _, c := range res.Changes {
		lines = append(lines, "  · "+Inert(c.Action)+": "+Inert(c.Detail))
	}
	for _, n := range res.Notes {
		lines = append(lines, "  note: "+Inert(n))
	}
	return lines
}

// acted journals an act's outcome, says it, and reads the container again.
func (m *Model) acted(msg actedMsg) tea.Cmd {
	a := msg.act
	switch {
	case msg.err != nil:
		a.Result = "failed: " + msg.err.Error()
		m.fail("%s %s failed: %v", a.Act, msg.item.Ref(), msg.err)
	case msg.res != nil && msg.res.Unchanged:
		a.Result = "unchanged"
		m.notify("%s %s: nothing to change · %s", a.Act, msg.item.Ref(), a.Command)
	default:
		a.Result = "done"
		if a.Act == "contain" {
			m.drillEvent("contained")
		}
		verdict := ""
		if msg.res != nil && msg.res.Verification != nil {
			verdict = " (" + string(msg.res.Verification.Verdict) + ")"
		}
		m.notify("%s %s: done%s · %s", a.Act, msg.item.Ref(), verdict, a.Command)
	}
	m.journal(a)
	m.detail.note(m, msg.item, a)
	return m.fleet.update(m, engineEventMsg{EngineEvent{Engine: msg.item.Engine, ID: msg.item.ID, Action: "firebreak"}})
}
