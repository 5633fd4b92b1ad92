package tui

import (
	"strings"
	"testing"
	"time"

	"firebreak/contain"
)

// TestFleetReadsAMidActRecordAgain: a container paused by a contain from
// another shell is read on the engine's event while its record still says
// "containing"; the row is read again until the record has ended the act
// (here on the next read), then no more.
func TestFleetReadsAMidActRecordAgain(t *testing.T) {
	b := fleetOf(1)
	m := started(b, 120, 30, Options{})
	it := b.items[0]
	b.mu.Lock()
	b.items[0].Held = &contain.Record{Phase: "containing", Case: "C1"}
	b.mu.Unlock()
	_, cmd := m.Update(engineEventMsg{EngineEvent{Engine: it.Engine, ID: it.ID, Action: "pause"}})
	msg := runCmd(cmd).(itemMsg)
	b.mu.Lock()
	b.items[0].Held = &contain.Record{Phase: "contained", Case: "C1", Pause: &contain.PauseHold{Paused: true}}
	b.mu.Unlock()
	_, next := m.Update(msg)
	if next == nil {
		t.Fatal("a mid-act record is not read again")
	}
	start := time.Now()
	var again itemMsg
	for _, x := range msgsOf(next) {
		if r, ok := x.(recheckMsg); ok {
			_, read := m.Update(r)
			again = runCmd(read).(itemMsg)
		}
	}
	if again.item.Held == nil || again.item.Held.Phase != "contained" || time.Since(start) < recheckEvery/2 {
		t.Fatalf("the second read: %+v after %s", again.item.Held, time.Since(start))
	}
	_, last := m.Update(again)
	for _, x := range msgsOf(last) {
		if _, ok := x.(recheckMsg); ok {
			t.Fatal("read again after the act ended")
		}
	}
	if got := m.fleet.rows[it.Key()].firebreak(); strings.Contains(got, "containing") {
		t.Errorf("the row still says %q", got)
	}
}
