package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/drill"
)

// drillView is the console's drill mode: a tabletop exercise run beside the
// normal views. The facilitator plays, skips and adds injects, pauses the
// clock, judges answers and ends the exercise with a rating per objective;
// the responders' acts in the console (contain, capture, recover) are
// recorded as the drill's events, so their expectations are met by what
// was done, not by a click. The exercise itself is drill.Tabletop's logic:
// the view only calls it and draws it.
type drillView struct {
	t       *drill.Tabletop
	s       *drill.Scenario
	who     string // the facilitator, for the timeline
	dir     string // where the reports go
	cursor  int    // the inject selected
	expect  int    // the expectation of that inject selected
	input   *drillInput
	rating  []drill.ObjectiveRating // the closing being filled in
	rateIdx int
	closing bool
	written []string // the reports, once written
	ticking bool
}

// drillInput is a line being typed for a drill act.
type drillInput struct {
	what string // note, decision, answer, event, inject
	text string
}

type drillTickMsg struct{}

type drillReportsMsg struct {
	paths []string
	err   error
}

// DrillOptions put the console in drill mode.
type DrillOptions struct {
	Tabletop    *drill.Tabletop
	Scenario    *drill.Scenario
	Facilitator string
	ReportDir   string
}

func newDrillView(o *DrillOptions) *drillView {
	if o == nil || o.Tabletop == nil {
		return nil
	}
	return &drillView{t: o.Tabletop, s: o.Scenario, who: o.Facilitator, dir: o.ReportDir}
}

func (v *drillView) title() string   { return "drill" }
func (v *drillView) capturing() bool { return v.input != nil || v.closing }

func (v *drillView) keys() []keyHelp {
	return []keyHelp{
		{"space", "pause / resume the exercise clock"},
		{"↑↓ j k", "choose an inject; [ ] choose its expectation"},
		{"P / S", "play the inject now (a reserve one too) / skip it"},
		{"m / x", "judge the expectation met / missed"},
		{"n d a", "note, decision, answer to the inject (type, enter)"},
		{"v", "record an event (contained, evidence, detected, ...)"},
		{"A", "add an ad-hoc inject (TITLE: TEXT)"},
		{"E", "end: rate each objective P/S/M/U, write the reports"},
	}
}

// start starts the exercise clock and the view's tick (once a second while
// the exercise runs: the clock moves, injects come due).
func (v *drillView) start(m *Model) tea.Cmd {
	if err := v.t.Start(v.who); err != nil {
		m.fail("drill: %v", err)
		return nil
	}
	return v.tick()
}

func (v *drillView) tick() tea.Cmd {
	if v.ticking {
		return nil
	}
	v.ticking = true
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return drillTickMsg{} })
}

func (v *drillView) update(m *Model, msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case drillTickMsg:
		v.ticking = false
		v.t.Tick()
		if v.t.Ended() {
			return nil
		}
		return v.tick()
	case drillReportsMsg:
		if msg.err != nil {
			m.fail("drill reports: %v", msg.err)
			return nil
		}
		v.written = msg.paths
		m.notify("drill ended: reports in %s", v.dir)
		m.journal(Act{Act: "drill-ended", Target: v.s.Name, Command: "firebreak drill report " + ShellQuote(v.dir), Result: "done"})
	case tea.KeyMsg:
		if m.active != screenDrill {
			return nil
		}
		return v.key(m, msg)
	}
	return nil
}

func (v *drillView) injects() []drill.InjectStatus { return v.t.Injects() }

func (v *drillView) selected() *drill.InjectStatus {
	ins := v.injects()
	if v.cursor >= 0 && v.cursor < len(ins) {
		return &ins[v.cursor]
	}
	return nil
}

func (v *drillView) selectedExpectation() *drill.Expectation {
	in := v.selected()
	if in == nil || len(in.Inject.Expectations) == 0 {
		return nil
	}
	v.expect = max(0, min(v.expect, len(in.Inject.Expectations)-1))
	return in.Inject.Expectations[v.expect]
}

func (v *drillView) key(m *Model, k tea.KeyMsg) tea.Cmd {
	if v.closing {
		return v.rateKey(m, k)
	}
	if v.input != nil {
		return v.inputKey(m, k)
	}
	report := func(err error) {
		if err != nil {
			m.fail("drill: %v", err)
		}
	}
	switch k.String() {
	case "up", "k":
		v.cursor, v.expect = max(0, v.cursor-1), 0
	case "down", "j":
		v.cursor, v.expect = min(len(v.injects())-1, v.cursor+1), 0
	case "[":
		v.expect = max(0, v.expect-1)
	case "]":
		v.expect++
	case " ", "space":
		if v.t.Paused() {
			report(v.t.Resume(v.who))
		} else {
			report(v.t.Pause(v.who))
		}
	case "P":
		if in := v.selected(); in != nil {
			report(v.t.PlayReserve(in.Inject.ID, v.who))
		}
	case "S":
		if in := v.selected(); in != nil {
			report(v.t.Skip(in.Inject.ID, v.who))
		}
	case "m", "x":
		if e := v.selectedExpectation(); e != nil {
			report(v.t.Judge(e.ID, k.String() == "m", v.who))
		}
	case "n":
		v.input = &drillInput{what: "note"}
	case "d":
		v.input = &drillInput{what: "decision"}
	case "a":
		if v.selected() != nil {
			v.input = &drillInput{what: "answer"}
		}
	case "v":
		v.input = &drillInput{what: "event"}
	case "A":
		v.input = &drillInput{what: "inject"}
	case "E":
		if v.t.Ended() && v.written != nil {
			m.notify("the drill has ended: reports in %s", v.dir)
			return nil
		}
		v.closing, v.rateIdx = true, 0
		v.rating = nil
		for _, o := range v.s.Objectives {
			v.rating = append(v.rating, drill.ObjectiveRating{ID: o.ID, Text: o.Text})
		}
		if len(v.rating) == 0 {
			return v.end(m)
		}
	}
	return nil
}

func (v *drillView) inputKey(m *Model, k tea.KeyMsg) tea.Cmd {
	in := v.input
	switch k.Type {
	case tea.KeyEsc:
		v.input = nil
	case tea.KeyBackspace:
		if r := []rune(in.text); len(r) > 0 {
			in.text = string(r[:len(r)-1])
		}
	case tea.KeySpace:
		in.text += " "
	case tea.KeyRunes:
		in.text += string(k.Runes)
	case tea.KeyEnter:
		v.input = nil
		text := strings.TrimSpace(in.text)
		if text == "" {
			return nil
		}
		var err error
		switch in.what {
		case "note":
			err = v.t.Note(text, v.who)
		case "decision":
			err = v.t.Decision(text, v.who)
		case "answer":
			if s := v.selected(); s != nil {
				err = v.t.Answer(s.Inject.ID, v.who, text)
			}
		case "event":
			err = v.t.Record(text, v.who)
		case "inject":
			title, body, _ := strings.Cut(text, ":")
			_, err = v.t.AddInject(strings.TrimSpace(title), strings.TrimSpace(body), v.who)
		}
		if err != nil {
			m.fail("drill: %v", err)
		}
	}
	return nil
}

// rateKey takes the rating of each objective in turn: P, S, M or U; esc
// goes back to the exercise without ending it.
func (v *drillView) rateKey(m *Model, k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyEsc {
		v.closing = false
		return nil
	}
	r := drill.Rating(strings.ToUpper(k.String()))
	switch r {
	case drill.RatingP, drill.RatingS, drill.RatingM, drill.RatingU:
		v.rating[v.rateIdx].Rating = r
		v.rateIdx++
		if v.rateIdx == len(v.rating) {
			return v.end(m)
		}
	}
	return nil
}

// end ends the exercise with the ratings and writes the reports (a command:
// files are I/O).
func (v *drillView) end(m *Model) tea.Cmd {
	v.closing = false
	res, err := v.t.End(drill.Closing{Ratings: v.rating}, v.who)
	if err != nil {
		m.fail("drill: %v", err)
		return nil
	}
	dir := v.dir
	return m.call("drill-reports", "writing the drill's reports", func(context.Context) tea.Msg {
		paths, err := drill.WriteReports(dir, res)
		return drillReportsMsg{paths: paths, err: err}
	})
}

// clock is the exercise's one-line state for the header.
func (v *drillView) clock() string {
	state := ""
	switch {
	case v.t.Ended():
		state = " ended"
	case v.t.Paused():
		state = " PAUSED"
	}
	pts, of := 0, 0
	for _, s := range v.t.Scores() {
		pts += s.Points
		of += s.Of
	}
	return fmt.Sprintf("drill %s%s %d/%d", strings.TrimPrefix(drill.FormatOffset(v.t.Elapsed().Truncate(time.Second)), "+"), state, pts, of)
}

func (v *drillView) view(m *Model, w, h int) string {
	var b strings.Builder
	b.WriteString(m.st.head.Render(Cut(v.s.Title, w-30)) + "  " + m.st.accent.Render(v.clock()) + "\n")
	if v.closing {
		b.WriteString("\nEnd the exercise: rate each objective (P performed without challenges, S with some,\nM with major challenges, U unable to be performed); esc goes back.\n\n")
		for i, r := range v.rating {
			mark := "  "
			if i == v.rateIdx {
				mark = "> "
			}
			rt := string(r.Rating)
			if rt == "" {
				rt = "·"
			}
			b.WriteString(mark + rt + " " + Cut(r.ID+" "+r.Text, w-6) + "\n")
		}
		return b.String()
	}
	ins := v.injects()
	listH := min(len(ins), max(3, h/3))
	top := max(0, min(v.cursor-listH/2, len(ins)-listH))
	for i := top; i < top+listH && i < len(ins); i++ {
		in := ins[i]
		when := ""
		switch in.State {
		case drill.InjectScheduled:
			when = "due " + drill.FormatOffset(in.Due)
		case drill.InjectPlayed:
			when = "played " + drill.FormatOffset(in.Played)
		}
		mark := "  "
		if i == v.cursor {
			mark = "> "
		}
		trig := string(in.Inject.Trigger)
		if in.AdHoc {
			trig = "ad hoc"
		}
		line := mark + Fit(in.Inject.ID, 4) + " " + Fit(string(in.State), 9) + " " + Fit(when, 16) + " " + Fit(trig, 7) + " " + Cut(in.Inject.Title, max(0, w-44))
		if i == v.cursor {
			line = m.st.sel.Render(Fit(line, w-1))
		}
		b.WriteString(line + "\n")
	}
	if s := v.selected(); s != nil {
		b.WriteString("\n")
		for _, l := range Lines(strings.TrimSpace(s.Inject.Text)) {
			b.WriteString(Cut(l, w) + "\n")
		}
		if s.Inject.Question != "" {
			b.WriteString(m.st.head.Render(Cut("? "+s.Inject.Question, w)) + "\n")
		}
		scores := map[string]drill.Score{}
		for _, sc := range v.t.Scores() {
			scores[sc.Expectation] = sc
		}
		for i, e := range s.Inject.Expectations {
			mark := "  "
			if i == v.expect {
				mark = "» "
			}
			out := "not played"
			if sc, ok := scores[e.ID]; ok {
				out = string(sc.Outcome)
				if sc.Outcome == drill.OutcomeMet {
					out = fmt.Sprintf("met %d/%d", sc.Points, sc.Of)
				}
			}
			b.WriteString(mark + Fit(e.ID, 4) + " " + Fit(out, 12) + " " + Cut(string(e.Kind)+": "+e.Text, max(0, w-20)) + "\n")
		}
	}
	if v.input != nil {
		b.WriteString("\n" + v.input.what + "> " + Cut(v.input.text, w-len(v.input.what)-4) + "▏\n")
	}
	b.WriteString("\n" + m.st.head.Render("timeline") + "\n")
	entries := v.t.Entries(0)
	used := strings.Count(b.String(), "\n")
	room := max(1, h-used-1)
	if len(entries) > room {
		entries = entries[len(entries)-room:]
	}
	for _, e := range entries {
		who := ""
		if e.Who != "" {
			who = " (" + e.Who + ")"
		}
		b.WriteString(Cut(drill.FormatOffset(time.Duration(e.Offset)*time.Millisecond)+" "+e.Kind+" "+e.Text+who, w) + "\n")
	}
	if v.written != nil {
		b.WriteString(m.st.good.Render(Cut("reports: "+strings.Join(v.written, " "), w)))
	}
	return strings.TrimRight(b.String(), "\n")
}
