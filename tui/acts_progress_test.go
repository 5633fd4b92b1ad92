package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/internal/progress"
)

// TestCaptureShowsItsProgress: a capture the console started shows its
// bar on the status line while it runs (done of total, percent); a flood
// of reports redraws a few times, not per report, and the one that
// completes the count always arrives; once the capture ends the bar goes.
func TestCaptureShowsItsProgress(t *testing.T) {
	b := fleetOf(3)
	for i := int64(0); i <= 1000; i++ {
		b.CollectProgress = append(b.CollectProgress, progress.Count{Files: int(i), FilesTotal: 1000, Bytes: i << 20, BytesTotal: 1000 << 20})
	}
	m := started(b, 160, 30, Options{})
	var during []string
	m.SetSend(func(msg tea.Msg) {
		m.Update(msg)
		during = append(during, m.statusLine(160))
	})
	press(m, "e", "tab", "enter")
	if len(during) == 0 || len(during) > 20 {
		t.Fatalf("%d redraws for 1001 reports", len(during))
	}
	first, last := during[0], during[len(during)-1]
	if !strings.Contains(first, "capturing") || !strings.Contains(first, "░") {
		t.Errorf("the first report's status line: %q", first)
	}
	if !strings.Contains(last, "100%") || !strings.Contains(last, "1000.0 MiB of 1000.0 MiB") || strings.Contains(last, "░") {
		t.Errorf("the completing report's status line: %q", last)
	}
	if s := m.statusLine(160); strings.Contains(s, "█") || !strings.Contains(m.status, "12 artifacts") {
		t.Errorf("after the capture: status line %q, status %q", s, m.status)
	}
	// A report for an act that has ended changes nothing.
	m.Update(actProgressMsg{stream: "collect/gone", n: progress.Count{Bytes: 1, BytesTotal: 2}})
	if len(m.busy) != 0 {
		t.Errorf("a late report made a busy entry: %+v", m.busy)
	}
}
