package tui

import (
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/internal/progress"
	"firebreak/playbooks"
)

// progressBar draws a step's progress against its total in w cells: a bar
// filled in proportion, then the percent, done of total, the rate and the
// time left (internal/progress's words, the CLI's too), the last of them
// left out when there is no room. elapsed is from the step's start to the
// report. The bar is marked in text (█ done, ░ to do), so a terminal
// without colour shows it.
func progressBar(n progress.Count, elapsed time.Duration, w int) string {
	if w <= 0 {
		return ""
	}
	// The words first: the bar gives way (down to ten cells) before the
	// rate and the time left do.
	barMax := min(max(w/3, 10), 40)
	parts := n.Parts(elapsed)
	barW, text := max(min(barMax, w-8), 0), parts[0]
	for k := len(parts); k > 0; k-- {
		s := strings.Join(parts[:k], " · ")
		if room := w - 3 - Width(s); room >= 10 {
			barW, text = min(barMax, room), s
			break
		}
	}
	filled := int(n.Fraction() * float64(barW))
	bar := "[" + strings.Repeat("█", filled) + strings.Repeat("░", barW-filled) + "] "
	if barW == 0 {
		bar = ""
	}
	return Cut(bar+text, w)
}

// progressGate passes a run's events on, holding back step progress so
// that the console redraws for each step at most once every interval
// however fast an action reports: a report that comes sooner waits out
// the interval, replaced by any later one (a timer sends the latest); a
// step's other events drop the report held for it, since they come after
// it and say more. Events keep their order per step.
type progressGate struct {
	mu    sync.Mutex
	send  func(playbooks.Event)
	every time.Duration
	last  map[string]time.Time
	held  map[string]playbooks.Event
	armed map[string]bool // a timer will look at the step's held report
}

// progressEvery is at most ten progress redraws a second per step.
const progressEvery = 100 * time.Millisecond

func newProgressGate(every time.Duration, send func(playbooks.Event)) *progressGate {
	return &progressGate{send: send, every: every, last: map[string]time.Time{}, held: map[string]playbooks.Event{}, armed: map[string]bool{}}
}

// event is called from the engine's goroutines. Sending under the lock
// keeps a step's events in order; the console's Update never calls back
// into the gate, so a send that waits for it cannot deadlock.
func (g *progressGate) event(ev playbooks.Event) {
	key := ev.Target + "\x00" + ev.Step
	g.mu.Lock()
	defer g.mu.Unlock()
	if ev.Type != playbooks.EventStepProgress {
		delete(g.held, key)
		g.send(ev)
		return
	}
	now := time.Now()
	since := now.Sub(g.last[key])
	if since >= g.every {
		delete(g.held, key)
		g.last[key] = now
		g.send(ev)
		return
	}
	g.held[key] = ev
	g.arm(key, g.every-since)
}

// arm has a timer flush key's held report after d, unless one will.
func (g *progressGate) arm(key string, d time.Duration) {
	if !g.armed[key] {
		g.armed[key] = true
		time.AfterFunc(d, func() { g.flush(key) })
	}
}

func (g *progressGate) flush(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed[key] = false
	ev, ok := g.held[key]
	if !ok {
		return
	}
	now := time.Now()
	if since := now.Sub(g.last[key]); since < g.every {
		g.arm(key, g.every-since) // a report went out directly since this timer was set
		return
	}
	delete(g.held, key)
	g.last[key] = now
	g.send(ev)
}

// runEvents is a run's event callback: progress through the gate, every
// event to the console as a runEventMsg.
func runEvents(id int, send func(tea.Msg)) func(playbooks.Event) {
	g := newProgressGate(progressEvery, func(ev playbooks.Event) { send(runEventMsg{run: id, ev: ev}) })
	return g.event
}
