package tui

import (
	"slices"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"firebreak/runtime"
)

// BenchmarkFleetUpdateView drives the fleet view of 500 containers at
// 160x48 as the program's loop does, with no daemon: each iteration is one
// synthetic engine event or one key press. An event is delivered as the
// program delivers it: the event itself, then the answer of the Get it asks
// (itemMsg), then the answer of the triage that one asks (assessMsg); a
// destroy is the event alone. A key press is one message. Every message is
// one Update followed by View() (Bubble Tea v1 calls View after every
// Update), and each Update+View is one sample; the backend's calls run
// between samples, outside the timing. Samples are drawn with the 256-colour
// profile of the tmux benchmark (the golden tests' plain-text profile is
// restored after). Reported: p50-us, p99-us and max-us of the samples,
// and samples/op.
//
//	go test -run '^$' -bench BenchmarkFleetUpdateView -benchtime 20000x ./tui
func BenchmarkFleetUpdateView(b *testing.B) {
	lipgloss.SetColorProfile(termenv.ANSI256)
	defer lipgloss.SetColorProfile(termenv.Ascii)

	fb := fleetOf(500)
	m := started(fb, 160, 48, Options{})
	if n := len(m.fleet.visible()); n != 500 {
		b.Fatalf("the fleet shows %d rows, want 500", n)
	}
	_ = m.View()

	ev := &eventSource{fb: fb}
	keys := benchKeys()
	samples := make([]time.Duration, 0, 1<<16)
	step := func(msg tea.Msg) tea.Cmd {
		start := time.Now()
		_, cmd := m.Update(msg)
		_ = m.View()
		samples = append(samples, time.Since(start))
		return cmd
	}
	// deliver sends msg and then what its commands answer, as the
	// program's loop would, each message timed apart.
	var deliver func(msg tea.Msg)
	deliver = func(msg tea.Msg) {
		for _, next := range answers(step(msg)) {
			deliver(next)
		}
	}

	b.ReportAllocs()
	iters := 0
	for i := 0; b.Loop(); i++ {
		iters++
		if i%2 == 0 {
			deliver(ev.next())
		} else {
			deliver(keyMsg(keys[(i/2)%len(keys)]))
		}
	}
	b.StopTimer()

	if len(m.fleet.rows) < 499 || len(m.fleet.rows) > 500 {
		b.Fatalf("the fleet holds %d rows after the run, want 499-500", len(m.fleet.rows))
	}
	slices.Sort(samples)
	pct := func(p float64) float64 {
		i := min(len(samples)-1, int(p*float64(len(samples))))
		return float64(samples[i].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
	b.ReportMetric(float64(samples[len(samples)-1].Nanoseconds())/1e3, "max-us")
	b.ReportMetric(float64(len(samples))/float64(iters), "samples/op")
}

// answers runs a command's functions and returns their messages; the
// spinner's tick (time-driven, not an answer) is left out.
func answers(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case nil, spinMsg:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, answers(c)...)
		}
		return out
	default:
		return []tea.Msg{msg}
	}
}

// benchKeys is the keys the benchmark presses in turn: moving down (past
// the screen's end, so it scrolls) and back up, typing a filter, keeping
// and clearing it, sorting by the next column and reversing.
func benchKeys() []string {
	var keys []string
	for range 60 {
		keys = append(keys, "down")
	}
	for range 20 {
		keys = append(keys, "up")
	}
	keys = append(keys, "/", "s", "v", "c", "-", "1", "enter", "down", "down", "esc")
	keys = append(keys, "/", "t", "i", "e", "r", "=", "d", "b", "backspace", "backspace", "esc")
	keys = append(keys, "s", "down", "S", "pgdown", "g")
	return keys
}

// eventSource makes the engine's events: pause, unpause, stop, start,
// destroy and create again, on one container after another across the 500,
// changing the fake engine first so that the Get each event asks reads the
// new state.
type eventSource struct {
	fb      *fakeBackend
	n       int
	removed Item
}

var benchActions = []string{runtime.ActionPause, runtime.ActionUnpause, runtime.ActionStop, runtime.ActionStart, runtime.ActionDestroy, runtime.ActionCreate}

func (e *eventSource) next() tea.Msg {
	action := benchActions[e.n%len(benchActions)]
	c := (e.n / len(benchActions) * 37) % 500
	e.n++
	f := e.fb
	f.mu.Lock()
	defer f.mu.Unlock()
	if action == runtime.ActionCreate {
		it := e.removed
		it.State = runtime.StateCreated
		f.items = append(f.items, it)
		return engineEventMsg{EngineEvent{Engine: it.Engine, ID: it.ID, Action: action}}
	}
	i := slices.IndexFunc(f.items, func(it Item) bool { return it.Name == svcName(c) })
	it := &f.items[i]
	switch action {
	case runtime.ActionPause:
		it.State = runtime.StatePaused
	case runtime.ActionUnpause, runtime.ActionStart:
		it.State = runtime.StateRunning
	case runtime.ActionStop:
		it.State = runtime.StateStopped
	case runtime.ActionDestroy:
		e.removed = *it
		f.items = slices.Delete(f.items, i, i+1)
		return engineEventMsg{EngineEvent{Engine: e.removed.Engine, ID: e.removed.ID, Action: action}}
	}
	return engineEventMsg{EngineEvent{Engine: it.Engine, ID: it.ID, Action: action}}
}

func svcName(i int) string {
	const digits = "0123456789"
	return "svc-" + string([]byte{digits[i/100], digits[i/10%10], digits[i%10]})
}
