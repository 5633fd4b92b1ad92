package tui

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// An engine event is read as it comes, and an act taken from another shell
// (`firebreak contain` beside the console) pauses the container before it
// records its end: read then, the record is still mid-act ("containing",
// "releasing") and nothing else would come to change the row. Such a row
// is read again a little later, a few times at most, so that a record left
// mid-act by a crash does not become a poll.

// recheckMsg reads a container again.
type recheckMsg struct {
	engine, id string
	tries      int
}

const (
	recheckEvery = 500 * time.Millisecond
	recheckTries = 10
)

// read asks the backend for one container, under its item generation.
func (f *fleetView) read(m *Model, engine, id string, tries int) tea.Cmd {
	key := engine + "/" + id
	gen := m.next("item/" + key)
	b := m.b
	return func() tea.Msg {
		it, err := b.Get(m.ctx, engine, id)
		return itemMsg{gen: gen, key: key, item: it, err: err, tries: tries}
	}
}

// recheck is the later read of a row whose record is mid-act; nil when it
// is not, or after recheckTries.
func recheck(msg itemMsg) tea.Cmd {
	h := msg.item.Held
	if h == nil || (h.Phase != "containing" && h.Phase != "releasing") || msg.tries >= recheckTries {
		return nil
	}
	engine, id, tries := msg.item.Engine, msg.item.ID, msg.tries+1
	return tea.Tick(recheckEvery, func(time.Time) tea.Msg { return recheckMsg{engine: engine, id: id, tries: tries} })
}
