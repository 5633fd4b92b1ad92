package tui

import (
	"context"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/evidence"
	"firebreak/recover"
)

// The acts that capture and restore: collect (evidence, the container
// untouched), backup (a snapshot to restore from) and recover (a new
// container from a verified snapshot, the suspect kept aside). Each asks
// first with its CLI line; recover shows its plan and asks for the name.

// doneActMsg is the answer of a capture, backup or recover.
type doneActMsg struct {
	act  Act
	item Item
	text string // what to tell the responder
	err  error
}

// caseFor is the case an act on items belongs to: the one their
// containment was recorded under, else a live drill's, else a new one.
func (m *Model) caseFor(items []Item) string {
	for _, it := range items {
		if it.Held != nil && it.Held.Case != "" {
			return it.Held.Case
		}
	}
	if m.live != nil && m.live.caseID() != "" {
		return m.live.caseID()
	}
	return evidence.NewCaseID(m.opts.Now())
}

// storeCLI is the command line of an act that writes to the store.
func (m *Model) storeCLI(verb string, it Item, extra ...string) string {
	if m.opts.StoreFlags != "" {
		extra = append(extra, m.opts.StoreFlags)
	}
	return m.cliFor(verb, it, extra...)
}

// collectDialog asks to capture the targets' evidence into a case.
func (m *Model) collectDialog(targets []Item) tea.Cmd {
	if cmd, ok := m.podFor("collect", targets); ok {
		return cmd // a pod's container: the pod is acted on as one
	}
	if !m.canAct("collect", targets) {
		return nil
	}
	engine := targets[0].Engine
	for _, t := range targets {
		if t.Engine != engine {
			m.fail("a capture acts on one engine: the selection spans %s and %s", engine, t.Engine)
			return nil
		}
	}
	caseID := m.caseFor(targets)
	var refs []string
	for _, t := range targets {
		refs = append(refs, ShellQuote(t.CLIRef()))
	}
	line := m.cliFor("collect", targets[0], "--case", caseID)
	line = strings.TrimSuffix(line, " "+ShellQuote(targets[0].CLIRef()))
	if m.opts.StoreFlags != "" {
		line += " " + m.opts.StoreFlags
	}
	line += " " + strings.Join(refs, " ")
	m.dialog = &dialog{
		title: "Capture evidence of " + Inert(names(targets)) + "?",
		lines: []string{
			"Metadata, filesystem diff, processes, network state and logs go to",
			"case " + caseID + " in " + Inert(storeName(m)) + ", signed.",
			"The containers are not changed (a frozen one stays frozen).",
		},
		command: line, confirm: "Capture",
		onYes: func(m *Model) tea.Cmd {
			b, report := m.b, m.actProgress("collect/"+caseID)
			return m.call("collect/"+caseID, "capturing "+Inert(names(targets)), func(ctx context.Context) tea.Msg {
				got, err := b.Collect(ctx, targets, caseID, report)
				msg := doneActMsg{act: Act{Act: "collect", Target: keys(targets), Command: line}, item: targets[0], err: err}
				if err == nil {
					msg.text = fmt.Sprintf("case %s: %d artifacts", caseID, got.Artifacts)
					if len(got.Failed) > 0 {
						msg.err = fmt.Errorf("%s", strings.Join(got.Failed, "; "))
					}
					if got.Pending != "" {
						msg.text += "; " + got.Pending
					}
				}
				return msg
			})
		},
	}
	return nil
}

// backupDialog asks to snapshot one container.
func (m *Model) backupDialog(targets []Item) tea.Cmd {
	if !m.canAct("backup", targets) {
		return nil
	}
	if len(targets) > 1 {
		m.fail("back up one container at a time (%d are selected)", len(targets))
		return nil
	}
	it := targets[0]
	line := m.storeCLI("backup", it)
	m.dialog = &dialog{
		title: "Back up " + Inert(it.Ref()) + "?",
		lines: []string{
			"Its create-time configuration and the data of its named volumes go",
			"to " + Inert(storeName(m)) + ", deduplicated and signed. It runs on while it",
			"is read: the snapshot records that it was live.",
		},
		command: line, confirm: "Back up",
		onYes: func(m *Model) tea.Cmd {
			b := m.b
			return m.call("backup/"+it.Key(), "backing up "+Inert(it.Ref()), func(ctx context.Context) tea.Msg {
				snap, err := b.Backup(ctx, it)
				msg := doneActMsg{act: Act{Act: "backup", Target: it.Key(), Command: line}, item: it, err: err}
				if err == nil {
					msg.text = fmt.Sprintf("snapshot %s: %d files, %d new chunks", snap.ID, snap.Totals.Files, snap.Totals.NewChunks)
				}
				return msg
			})
		},
	}
	return nil
}

type recoverPlanMsg struct {
	gen  uint64
	plan *recover.Recovery
	err  error
}

// recoverDialog shows the plan of a recover and asks for the container's
// name before it carries it out.
func (m *Model) recoverDialog(targets []Item) tea.Cmd {
	if !m.canAct("recover", targets) {
		return nil
	}
	if len(targets) > 1 {
		m.fail("recover one container at a time (%d are selected)", len(targets))
		return nil
	}
	it := targets[0]
	if it.Name == "" {
		m.fail("recover restores a container by name: this one has none")
		return nil
	}
	caseID := m.caseFor(targets)
	gen := m.next("recover-plan")
	d := &dialog{
		title:   "Recover " + Inert(it.Name) + " from its latest backup?",
		command: m.storeCLI("recover", it, "--case", caseID, "--from", "latest"),
		confirm: "Recover", typed: it.TypedName(), pending: true,
	}
	var snapshot string
	d.planned = func(m *Model, msg tea.Msg) bool {
		p, ok := msg.(recoverPlanMsg)
		if !ok || !m.current("recover-plan", p.gen) {
			return false
		}
		if p.err != nil {
			d.notAllowed = "the plan failed: " + p.err.Error()
			return true
		}
		snapshot = p.plan.Snapshot
		d.lines = append(d.lines, "plan, from snapshot "+Inert(p.plan.Snapshot)+":")
		for _, st := range p.plan.Steps {
			d.lines = append(d.lines, "  · "+Inert(st.Action)+": "+Inert(st.Detail))
		}
		d.lines = append(d.lines, "The suspect is kept, renamed; on any failure all is rolled back.")
		return true
	}
	d.onYes = func(m *Model) tea.Cmd {
		b, report := m.b, m.actProgress("recover/"+it.Key())
		line := m.storeCLI("recover", it, "--case", caseID, "--from", snapshot, "--yes")
		return m.call("recover/"+it.Key(), "recovering "+Inert(it.Name), func(ctx context.Context) tea.Msg {
			rec, err := b.Recover(ctx, it, caseID, snapshot, false, report)
			msg := doneActMsg{act: Act{Act: "recover", Target: it.Key(), Command: line}, item: it, err: err}
			if err == nil {
				msg.text = fmt.Sprintf("recovered from snapshot %s as %s; case %s", rec.Snapshot, rec.Container.ShortID(), caseID)
			}
			return msg
		})
	}
	m.dialog = d
	b := m.b
	return func() tea.Msg {
		plan, err := b.Recover(m.ctx, it, caseID, "latest", true, nil)
		return recoverPlanMsg{gen: gen, plan: plan, err: err}
	}
}

// drillEvent tells a drill in progress what the responders did in the
// console, so its expectations are met by the act itself. An event the
// scenario does not know is not an error here.
func (m *Model) drillEvent(event string) {
	if m.drill != nil && event != "" {
		_ = m.drill.t.Record(event, m.opts.Actor)
	}
}

// canAct says whether an act may be asked for at all: something to act on,
// not read-only, an engine connected.
func (m *Model) canAct(verb string, targets []Item) bool {
	switch {
	case len(targets) == 0:
		m.notify("no container to %s", verb)
	case m.refuseIfReadOnly(verb):
	case m.opts.Offline:
		m.fail("offline: no engine to %s on", verb)
	default:
		return true
	}
	return false
}

// doneAct journals a capture, backup or recover and says how it went.
func (m *Model) doneAct(msg doneActMsg) tea.Cmd {
	a := msg.act
	if msg.err != nil {
		a.Result = "failed: " + msg.err.Error()
		m.fail("%s %s failed: %v", a.Act, msg.item.Ref(), msg.err)
	} else {
		a.Result = "done: " + msg.text
		m.drillEvent(map[string]string{"collect": "evidence", "recover": "restored"}[a.Act])
		m.notify("%s %s: %s · %s", a.Act, msg.item.Ref(), msg.text, a.Command)
	}
	m.journal(a)
	m.detail.note(m, msg.item, a)
	return tea.Batch(m.fleet.update(m, engineEventMsg{EngineEvent{Engine: msg.item.Engine, ID: msg.item.ID, Action: "firebreak"}}), m.fleet.loadMarks(m))
}
