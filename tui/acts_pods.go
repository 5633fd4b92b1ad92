package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/internal/app"
	"firebreak/runtime"
)

// The acts on a Kubernetes pod as one: contain, release and capture, each
// the call `firebreak contain|release|collect pod/NS/NAME` makes, asked
// first with the pod's plan and journalled with that command line. A
// container of a pod opens its pod's dialog: the pod is acted on as one.

// podActedMsg is the answer of an act on a pod.
type podActedMsg struct {
	act  Act
	pod  PodItem
	res  *app.PodResult
	text string // a capture's: what it left in the case
	err  error
}

// podCLI is the command line that does verb to the pod from a shell.
func (m *Model) podCLI(verb string, p PodItem, extra ...string) string {
	parts := []string{m.opts.CLI}
	engine, ns, _ := strings.Cut(p.Engine, "/")
	parts = append(parts, "--runtime", engine)
	if ns != "" {
		parts = append(parts, "--namespace", ShellQuote(ns))
	}
	parts = append(parts, verb)
	parts = append(parts, extra...)
	return strings.Join(append(parts, ShellQuote(p.Ref())), " ")
}

// podKeys names the pod's members in the journal, as keys does items, so
// the detail view of each finds the act.
func podKeys(p PodItem) string {
	var out []string
	for _, c := range p.Members() {
		out = append(out, p.Engine+"/"+c.ID)
	}
	return strings.Join(out, ", ")
}

// podFor routes an act on containers that belong to a pod to the pod's
// dialog: it reports whether it took the act (opened the dialog, or said
// why not).
func (m *Model) podFor(verb string, targets []Item) (tea.Cmd, bool) {
	if !isPodBackend(m.b) {
		return nil, false
	}
	var in []Item
	for _, t := range targets {
		if t.PodName() != "" {
			in = append(in, t)
		}
	}
	if len(in) == 0 {
		return nil, false
	}
	if len(targets) > 1 {
		m.fail("%s is in %s, and a pod is acted on as one: %s it alone, or press P for the pods", in[0].Ref(), podRef(in[0].PodName()), verb)
		return nil, true
	}
	it := in[0]
	g := m.fleet.pods
	p, ok := g.podOf(it)
	if !ok {
		// its pod is not read yet (the console just started, or the pod
		// is new): the dialog opens once it is
		g.pending = &pendingPodAct{verb: verb, item: it}
		m.notify("reading the pods of %s: %s is acted on as one", it.Engine, podRef(it.PodName()))
		return g.refresh(m, it.Engine), true
	}
	return m.podDialogFor(verb, it, p), true
}

// pendingPodAct is an act asked on a pod's container before its pod was
// read.
type pendingPodAct struct {
	verb string
	item Item
}

// podDialogFor opens the pod's dialog for an act asked on its container it.
func (m *Model) podDialogFor(verb string, it Item, p PodItem) tea.Cmd {
	role := "a container"
	if it.ID == p.SandboxID {
		role = "the sandbox"
	}
	why := fmt.Sprintf("%s is %s of %s: the pod is acted on as one.", Inert(it.Ref()), role, Inert(p.Ref()))
	switch verb {
	case "contain":
		return m.containPodDialog(p, why)
	case "release":
		return m.releasePodDialog(p, why)
	default:
		return m.collectPodDialog(p, why)
	}
}

// canActPod says why an act on a pod cannot be asked for.
func (m *Model) canActPod(verb string) bool {
	if m.refuseIfReadOnly(verb) {
		return false
	}
	if m.opts.Offline {
		m.fail("offline: no engine to %s on", verb)
		return false
	}
	return true
}

// containPodDialog asks to contain the pod, its plan first.
func (m *Model) containPodDialog(p PodItem, why string) tea.Cmd {
	return m.podActDialog("contain", "Contain", p, why, func(ctx context.Context, pb PodBackend, p PodItem, dryRun bool) (*app.PodResult, error) {
		return pb.ContainPod(ctx, p, dryRun)
	})
}

// releasePodDialog asks to release the pod, its plan first.
func (m *Model) releasePodDialog(p PodItem, why string) tea.Cmd {
	return m.podActDialog("release", "Release", p, why, func(ctx context.Context, pb PodBackend, p PodItem, dryRun bool) (*app.PodResult, error) {
		return pb.ReleasePod(ctx, p, dryRun)
	})
}

func (m *Model) podActDialog(verb, label string, p PodItem, why string, fn func(context.Context, PodBackend, PodItem, bool) (*app.PodResult, error)) tea.Cmd {
	pb, ok := m.b.(PodBackend)
	if !ok || !m.canActPod(verb) {
		return nil
	}
	line := m.podCLI(verb, p)
	gen := m.next("plan")
	var head []string
	if why != "" {
		head = []string{why, ""}
	}
	d := &dialog{title: label + " " + Inert(p.Ref()) + "?", lines: head, command: line, confirm: label, pending: true}
	d.planned = func(m *Model, msg tea.Msg) bool {
		pl, ok := msg.(planMsg)
		if !ok || !m.current("plan", pl.gen) {
			return false
		}
		d.lines = append(head, pl.lines...)
		if pl.err != nil {
			d.notAllowed = "the plan failed: " + pl.err.Error()
		}
		return true
	}
	d.onYes = func(m *Model) tea.Cmd {
		return m.call("act/"+p.Key(), verb+" "+Inert(p.Ref()), func(ctx context.Context) tea.Msg {
			res, err := fn(ctx, pb, p, false)
			return podActedMsg{act: Act{Act: verb, Target: podKeys(p), Command: line}, pod: p, res: res, err: err}
		})
	}
	m.dialog = d
	ctx := m.ctx
	return func() tea.Msg {
		res, err := fn(ctx, pb, p, true)
		lines := podPlanLines(verb, p, res)
		if err == nil && verb == "release" && (res == nil || len(res.Members) == 0) {
			err = errors.New(p.Ref() + " is not held by Firebreak: nothing to release")
		}
		return planMsg{gen: gen, lines: lines, err: err}
	}
}

// podPlanLines words a pod's planned containment (PlanPod's steps and
// warnings, then each member) or release (each member's changes).
func podPlanLines(verb string, p PodItem, res *app.PodResult) []string {
	lines := []string{Inert(p.Ref()) + " (sandbox " + runtime.ShortID(p.SandboxID) + ", " + p.Engine + "):"}
	if res == nil {
		return lines
	}
	if verb == "contain" {
		for i, st := range res.Plan.Steps {
			lines = append(lines, fmt.Sprintf("  %d. %s", i+1, Inert(st)))
		}
		for _, w := range res.Plan.Warnings {
			lines = append(lines, "  WARNING: "+Inert(w))
		}
		lines = append(lines, "members:")
		for _, c := range append(p.Current(), runtime.PodContainer{Container: p.Sandbox}) {
			lines = append(lines, fmt.Sprintf("  · %s (%s, %s)", Inert(memberRole(p.Pod, c.Container)), c.ShortID(), c.State))
		}
	} else {
		for _, r := range res.Members {
			if r == nil {
				continue
			}
			var acts []string
			for _, ch := range r.Changes {
				acts = append(acts, ch.Action)
			}
			if len(acts) == 0 {
				acts = append(acts, "nothing to change")
			}
			lines = append(lines, fmt.Sprintf("  · %s (%s): %s", Inert(memberRole(p.Pod, r.Container)), r.Container.ShortID(), Inert(strings.Join(acts, ", "))))
		}
	}
	for _, n := range res.Notes {
		lines = append(lines, "  note: "+Inert(n))
	}
	return lines
}

// collectPodDialog asks to capture the pod's evidence into a case.
func (m *Model) collectPodDialog(p PodItem, why string) tea.Cmd {
	pb, ok := m.b.(PodBackend)
	if !ok || !m.canActPod("collect") {
		return nil
	}
	caseID := ""
	for _, rec := range p.Held {
		if rec.Case != "" {
			caseID = rec.Case
			break
		}
	}
	if caseID == "" {
		caseID = m.caseFor(nil)
	}
	extra := []string{"--case", caseID}
	if m.opts.StoreFlags != "" {
		extra = append(extra, m.opts.StoreFlags)
	}
	line := m.podCLI("collect", p, extra...)
	var lines []string
	if why != "" {
		lines = append(lines, why, "")
	}
	lines = append(lines,
		"Each member's metadata, filesystem diff, processes and logs, the pod's",
		"network state, its CRI record and its log directory go to case "+caseID,
		"in "+Inert(storeName(m))+", as one signed run. The pod is not changed.")
	m.dialog = &dialog{
		title: "Capture evidence of " + Inert(p.Ref()) + "?", lines: lines, command: line, confirm: "Capture",
		onYes: func(m *Model) tea.Cmd {
			report := m.actProgress("collect/" + caseID)
			return m.call("collect/"+caseID, "capturing "+Inert(p.Ref()), func(ctx context.Context) tea.Msg {
				got, err := pb.CollectPod(ctx, p, caseID, report)
				msg := podActedMsg{act: Act{Act: "collect", Target: podKeys(p), Command: line}, pod: p, err: err}
				if err == nil {
					msg.text = fmt.Sprintf("case %s: %d artifacts", caseID, got.Artifacts)
					if len(got.Failed) > 0 {
						msg.err = errors.New(strings.Join(got.Failed, "; "))
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

// podActed journals an act on a pod, says how it went, and reads the pod
// and its members again.
func (m *Model) podActed(msg podActedMsg) tea.Cmd {
	a, p := msg.act, msg.pod
	switch {
	case msg.err != nil:
		a.Result = "failed: " + msg.err.Error()
		m.fail("%s %s failed: %v", a.Act, p.Ref(), msg.err)
	case a.Act == "collect":
		a.Result = "done: " + msg.text
		m.drillEvent("evidence")
		m.notify("collect %s: %s · %s", p.Ref(), msg.text, a.Command)
	case podUnchanged(msg.res):
		a.Result = "unchanged"
		m.notify("%s %s: nothing to change · %s", a.Act, p.Ref(), a.Command)
	default:
		a.Result = "done"
		if a.Act == "contain" {
			m.drillEvent("contained")
		}
		verdict := ""
		for _, r := range msg.res.Members {
			if r != nil && r.Verification != nil {
				verdict = " (" + string(r.Verification.Verdict) + ")"
			}
		}
		m.notify("%s %s: done%s · %s", a.Act, p.Ref(), verdict, a.Command)
	}
	m.journal(a)
	cmds := []tea.Cmd{m.fleet.pods.refresh(m, p.Engine)}
	for _, c := range p.Members() {
		it := Item{Engine: p.Engine, Container: c}
		m.detail.note(m, it, a)
		cmds = append(cmds, m.fleet.update(m, engineEventMsg{EngineEvent{Engine: p.Engine, ID: c.ID, Action: "firebreak"}}))
	}
	if a.Act == "collect" {
		cmds = append(cmds, m.fleet.loadMarks(m))
	}
	return tea.Batch(cmds...)
}

// podUnchanged reports a pod act that changed nothing.
func podUnchanged(res *app.PodResult) bool {
	if res == nil {
		return true
	}
	for _, r := range res.Members {
		if r != nil && !r.Unchanged {
			return false
		}
	}
	return true
}
