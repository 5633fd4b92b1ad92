package tui

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/drill"
)

// A live drill beside the fleet: the console is where the team responds
// to the drill's decoy (contain it, capture it), and a panel beside the
// fleet shows the drill as it stands: the scenario, the clock since the
// incident began, each target with its time once met, the outcome checks
// as they pass, the newest lines of its timeline. The drill runs in its
// own goroutines (drill.RunLive, started by the CLI); what it says reaches
// the console as messages read from a channel by a command, so Update
// does no I/O and never waits for the drill.

// LiveDrillOptions put a live drill beside the fleet.
type LiveDrillOptions struct {
	Scenario *drill.Scenario
	// Updates carries the drill's standing as it changes, then, once it
	// has ended, its reports. Closed when there is nothing more.
	Updates <-chan LiveUpdate
}

// LiveUpdate is what the console hears of a live drill.
type LiveUpdate struct {
	Status    drill.LiveStatus
	ReportDir string   // once the reports are written
	Reports   []string // their files
	Err       error    // why the drill, or the writing of its reports, failed
}

type liveUpdateMsg struct {
	u  LiveUpdate
	ok bool // false: the channel closed
}

type liveTickMsg struct{}

// liveView is the drill panel and the drill tab.
type liveView struct {
	sc      *drill.Scenario
	updates <-chan LiveUpdate
	st      drill.LiveStatus
	have    bool
	dir     string
	reports []string
	err     error
	closed  bool
	ticking bool
}

func newLiveView(o *LiveDrillOptions) *liveView {
	if o == nil || o.Updates == nil {
		return nil
	}
	return &liveView{sc: o.Scenario, updates: o.Updates}
}

func (v *liveView) title() string   { return "drill" }
func (v *liveView) capturing() bool { return false }

func (v *liveView) keys() []keyHelp {
	return []keyHelp{
		{"1", "the fleet, with the drill beside it: find the decoy (/), contain it (c), capture it (e)"},
		{"q", "end the drill (what was done is measured and checked, the sandbox removed) and quit"},
	}
}

// ended says the drill has ended (cleaned up); its reports may still be
// being written.
func (v *liveView) ended() bool { return v.closed || v.st.Ended }

// caseID is the drill's case: the console's captures go there.
func (v *liveView) caseID() string { return v.st.Case }

// start waits for the first word of the drill and starts the clock.
func (v *liveView) start(m *Model) tea.Cmd { return tea.Batch(v.wait(m), v.tick()) }

// wait reads the next update from the drill (a command: it blocks until
// one comes or the console quits).
func (v *liveView) wait(m *Model) tea.Cmd {
	ch, ctx := v.updates, m.ctx
	return func() tea.Msg {
		select {
		case u, ok := <-ch:
			return liveUpdateMsg{u: u, ok: ok}
		case <-ctx.Done():
			return nil
		}
	}
}

// tick moves the clock once a second while the drill runs.
func (v *liveView) tick() tea.Cmd {
	if v.ticking || v.ended() {
		return nil
	}
	v.ticking = true
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return liveTickMsg{} })
}

func (v *liveView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case liveTickMsg:
		v.ticking = false
		return v.tick()
	case liveUpdateMsg:
		if !msg.ok {
			v.closed = true
			return nil
		}
		u := msg.u
		wasEnded := v.st.Ended
		v.st, v.have = u.Status, true
		if u.Err != nil {
			v.err = u.Err
		}
		if u.ReportDir != "" {
			v.dir, v.reports = u.ReportDir, u.Reports
			m.notify("the drill has ended: result and reports in %s (q quits)", Inert(u.ReportDir))
			m.journal(Act{Act: "drill-ended", Target: v.st.Scenario, Command: "firebreak drill report " + ShellQuote(u.ReportDir), Result: "done"})
		} else if u.Status.Ended && !wasEnded {
			m.notify("the drill has ended: writing its reports")
		}
		return tea.Batch(v.wait(m), v.tick())
	}
	return nil
}

// elapsed is the drill's clock: since the incident began, until it ended.
func (v *liveView) elapsed(now time.Time) time.Duration {
	if v.st.Started.IsZero() {
		return 0
	}
	if v.st.Ended && !v.st.EndedAt.IsZero() {
		return max(0, v.st.EndedAt.Sub(v.st.Started))
	}
	return max(0, now.Sub(v.st.Started))
}

// clock is the drill's one-line state for the header.
func (v *liveView) clock(m *Model) string {
	met, of := 0, 0
	for _, ms := range v.st.Measures {
		if ms.Target > 0 || ms.Name != "detect" {
			of++
			if ms.Done {
				met++
			}
		}
	}
	state := ""
	if v.ended() {
		state = " ended"
	}
	return fmt.Sprintf("live drill %s%s %d/%d", clockText(v.elapsed(m.opts.Now())), state, met, of)
}

// clockText is a clock's reading: m:ss, or h:mm:ss.
func clockText(d time.Duration) string {
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func secs(ms drill.Millis) string { return fmt.Sprintf("%.1f s", float64(ms)/1000) }

// view draws the panel in w x h: everything from the drill (names,
// findings, the timeline) is made inert and cut to the width.
func (v *liveView) view(m *Model, w, h int) string {
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	name, title := "", ""
	if v.sc != nil {
		name, title = v.sc.Name, v.sc.Title
	}
	if v.have {
		name, title = v.st.Scenario, v.st.Title
	}
	line(m.st.head.Render(Cut("LIVE DRILL "+name, w-10)) + " " + m.st.warn.Render(clockText(v.elapsed(m.opts.Now()))))
	line(Cut(title, w))
	if !v.have {
		line(m.st.dim.Render("waiting for the drill…"))
		return b.String()
	}
	st := v.st
	line(Cut("decoy  "+st.Suspect, w))
	line(Cut("case   "+st.Case, w))
	step := st.Step
	switch {
	case st.Ended && st.Aborted != "":
		step = "ended early: " + st.Aborted
	case st.Ended:
		step = "ended, sandbox removed"
	}
	line(Cut("step   "+step, w))
	line("")
	line(m.st.head.Render("targets"))
	for _, ms := range st.Measures {
		took := "—"
		if ms.Done {
			took = secs(ms.Took)
		}
		target := ""
		if ms.Target > 0 {
			target = "≤ " + secs(ms.Target)
		}
		verdict := ""
		switch {
		case ms.Done && ms.Met:
			verdict = m.st.good.Render("met")
		case ms.Done:
			verdict = m.st.bad.Render("MISSED")
		}
		l := Fit(ms.Name, 9) + " " + Fit(took, 8) + " " + Fit(target, 9) + " "
		b.WriteString(Cut(l, w) + verdict)
		if ms.Done && ms.Source != "" && Width(l)+8 < w {
			b.WriteString(" " + m.st.dim.Render(Cut("("+ms.Source+")", w-Width(l)-8)))
		}
		b.WriteString("\n")
	}
	line("")
	head := "checks as they pass"
	if st.Final {
		head = "checks"
	}
	line(m.st.head.Render(head))
	for _, c := range st.Checks {
		mark := "· "
		switch {
		case c.OK:
			mark = m.st.good.Render("✓ ")
		case st.Final:
			mark = m.st.bad.Render("✗ ")
		}
		detail := ""
		if c.OK || st.Final {
			detail = " " + c.Detail
		}
		b.WriteString(mark + Cut(c.Name+detail, w-2) + "\n")
	}
	if v.dir != "" {
		line("")
		line(m.st.good.Render(Cut("reports: "+v.dir, w)))
	}
	if v.err != nil {
		line(m.st.bad.Render(Cut(v.err.Error(), w)))
	}
	used := strings.Count(b.String(), "\n")
	if room := h - used - 2; room > 0 && len(st.Timeline) > 0 {
		line("")
		line(m.st.head.Render("timeline"))
		es := st.Timeline
		if len(es) > room {
			es = es[len(es)-room:]
		}
		for _, e := range es {
			line(Cut(drill.FormatOffset(time.Duration(e.Offset)*time.Millisecond)+" "+e.Text, w))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// livePanelWidth is the panel's width beside the fleet; 0 when the
// terminal is too narrow (the drill tab shows it then).
func livePanelWidth(w int) int {
	if w < 100 {
		return 0
	}
	return min(56, w*2/5)
}

// besideLive draws body (w x h, the fleet or the detail) with the live
// drill's panel at its right.
func (m *Model) besideLive(body func(w int) string, w, h int) string {
	pw := livePanelWidth(w)
	left := fitBlock(body(w-pw-1), w-pw-1, h)
	right := fitBlock(m.live.view(m, pw-1, h), pw-1, h)
	ls, rs := strings.Split(left, "\n"), strings.Split(right, "\n")
	var out strings.Builder
	for i := range ls {
		out.WriteString(ls[i] + " " + m.st.dim.Render("│") + rs[i])
		if i < len(ls)-1 {
			out.WriteString("\n")
		}
	}
	return out.String()
}

// confirmEndDrill asks before a quit ends the live drill.
func (m *Model) confirmEndDrill() {
	m.dialog = &dialog{
		title: "End the drill and quit?",
		lines: []string{
			"The drill ends now: what was done is measured and checked,",
			"its reports are written, and its sandbox is removed.",
		},
		confirm: "End",
		onYes: func(m *Model) tea.Cmd {
			m.stop()
			return tea.Quit
		},
	}
}
