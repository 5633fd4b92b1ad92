package tui

import (
	"context"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/contain"
	"firebreak/runtime"
)

// The acts that end a container's processes: stop (SIGTERM, then SIGKILL
// after the grace period) and kill (SIGKILL). Neither can be undone; each
// asks in a dialog that says what will change, and kill wants the
// container's name typed, as recover does. They call the session's Stop
// and Kill, which `firebreak stop` and `kill` call.

const (
	stopGrace  = 10 * time.Second // the CLI's default
	killSignal = "SIGKILL"
)

// endLines say what ending t does, from what the console knows of it: its
// state and its containment record (the same words the record will hold).
func endLines(t Item, signal string) []string {
	head := Inert(t.Ref()) + " (" + t.Engine + "):"
	if t.State != runtime.StateRunning && t.State != runtime.StatePaused {
		return []string{head + " not running (" + string(t.State) + "): nothing to end"}
	}
	lines := []string{head}
	if t.State == runtime.StatePaused {
		lines = append(lines, "  · unpause: "+contain.ThawDetail(t.Held))
	}
	lines = append(lines, "  · "+signal)
	return lines
}

// stopDialog asks to stop the targets.
func (m *Model) stopDialog(targets []Item) tea.Cmd {
	return m.endDialog("stop", "Stop", targets, "SIGTERM, then SIGKILL after "+stopGrace.String(), func(b Backend, ctx context.Context, it Item, caseID string) (*contain.Result, error) {
		return b.Stop(ctx, it, stopGrace, caseID)
	})
}

// killDialog asks to kill one target, once its name is typed.
func (m *Model) killDialog(targets []Item) tea.Cmd {
	if len(targets) > 1 {
		m.fail("kill one container at a time (%d are selected)", len(targets))
		return nil
	}
	return m.endDialog("kill", "Kill", targets, killSignal+" to its init", func(b Backend, ctx context.Context, it Item, caseID string) (*contain.Result, error) {
		return b.Kill(ctx, it, killSignal, caseID)
	})
}

func (m *Model) endDialog(verb, label string, targets []Item, signal string, fn func(Backend, context.Context, Item, string) (*contain.Result, error)) tea.Cmd {
	if !m.canAct(verb, targets) {
		return nil
	}
	for _, t := range targets {
		if err := contain.RefuseEnd(t.Container, verb); err != nil {
			m.fail("%v", err)
			return nil
		}
	}
	caseID := m.caseFor(targets)
	// the dialog shows the line that asks on a terminal; the journal the
	// one that acts as confirmed here
	var shown, run []string
	for _, t := range targets {
		shown = append(shown, m.cliFor(verb, t, "--case", caseID))
		if verb == "kill" {
			run = append(run, m.cliFor(verb, t, "--case", caseID, "--yes"))
		} else {
			run = append(run, shown[len(shown)-1])
		}
	}
	d := &dialog{
		title:   label + " " + Inert(names(targets)) + "?",
		command: strings.Join(shown, "; "),
		confirm: label,
	}
	for _, t := range targets {
		d.lines = append(d.lines, endLines(t, signal)...)
	}
	d.lines = append(d.lines,
		"Its processes end and cannot come back: memory not captured is lost.",
		"Recorded in its containment record, case "+caseID+".")
	if verb == "kill" {
		d.typed = targets[0].TypedName()
	}
	d.onYes = func(m *Model) tea.Cmd {
		b := m.b
		var cmds []tea.Cmd
		for i, t := range targets {
			line := run[i]
			cmds = append(cmds, m.call("act/"+t.Key(), verb+" "+Inert(t.Ref()), func(ctx context.Context) tea.Msg {
				res, err := fn(b, ctx, t, caseID)
				return actedMsg{act: Act{Act: verb, Target: t.Key(), Command: line}, item: t, res: res, err: err}
			}))
		}
		return tea.Batch(cmds...)
	}
	m.dialog = d
	return nil
}
