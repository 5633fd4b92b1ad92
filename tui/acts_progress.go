package tui

import (
	"sort"
	"sync"
	"time"

	"firebreak/internal/progress"
)

// A capture or restore the console started (not a playbook's: those show
// in the run view) tells how far it has come on the status line, with the
// run view's bar: done of total, rate, time left.

// actProgressMsg is how far an act's capture or restore has come.
type actProgressMsg struct {
	stream string
	n      progress.Count
}

// actProgress is the report function of the act whose call runs under
// stream: it passes reports on at most ten times a second, and always the
// one that completes a count. nil without a way to send (component tests
// that do not set one).
func (m *Model) actProgress(stream string) func(progress.Count) {
	send := m.send
	if send == nil {
		return nil
	}
	var (
		mu   sync.Mutex
		last time.Time
	)
	return func(n progress.Count) {
		mu.Lock()
		now := time.Now()
		if !n.Complete() && now.Sub(last) < progressEvery {
			mu.Unlock()
			return
		}
		last = now
		mu.Unlock()
		send(actProgressMsg{stream: stream, n: n})
	}
}

// actProgressed keeps a report on the act's busy entry; a count that
// starts again (the next target, or a volume after the writable layer)
// starts its rate again too. A report for an act that has ended is
// dropped.
func (m *Model) actProgressed(msg actProgressMsg) {
	op, ok := m.busy[msg.stream]
	if !ok {
		return
	}
	if op.progStart.IsZero() || msg.n.Restarted(op.prog) {
		op.progStart = m.opts.Now()
	}
	op.prog = msg.n
	m.busy[msg.stream] = op
}

// busyWords says what is under way, sorted, each with its bar when it
// reports a total; w is the status line's width.
func (m *Model) busyWords(w int) []string {
	ops := make([]busyOp, 0, len(m.busy))
	for _, op := range m.busy {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].what < ops[j].what })
	var out []string
	for _, op := range ops {
		s := op.what
		if op.prog.Known() {
			room := w - 4 - Width(s)
			if len(ops) > 1 {
				room = min(room, 40)
			}
			if room >= 16 {
				s += " " + progressBar(op.prog, m.opts.Now().Sub(op.progStart), room)
			}
		}
		out = append(out, s)
	}
	return out
}
