package tui

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// toggleFollow starts following the log (from its last lines again, so
// nothing between the first reading and the following is missed) or stops.
func (v *detailView) toggleFollow(m *Model) tea.Cmd {
	if v.following {
		cmd := v.stopLogs(m)
		v.logState = "stopped following: f follows again"
		return cmd
	}
	closing := v.stopLogs(m)
	v.sec = secLogs
	v.logs, v.pinned, v.following = nil, true, true
	return tea.Batch(closing, v.startLogs(m, true))
}

// startLogs opens the log under a new generation.
func (v *detailView) startLogs(m *Model, follow bool) tea.Cmd {
	gen := m.next("logs")
	ctx, cancel := context.WithCancel(m.ctx)
	v.logCancel = cancel
	v.logState, v.logBad = "", false
	b, it := m.b, v.item
	return func() tea.Msg {
		rc, err := b.Logs(ctx, it, logTail, follow)
		if err != nil {
			cancel()
			return logOpenMsg{gen: gen, err: err}
		}
		return logOpenMsg{gen: gen, r: newLogReader(rc)}
	}
}

// stopLogs ends the reading of the log: answers on their way are stale, the
// call's context ends, and the stream is closed in a command (closing a
// network stream may take a moment).
func (v *detailView) stopLogs(m *Model) tea.Cmd {
	m.next("logs")
	r := v.stream
	if v.following && v.logState == "" {
		v.logState = "stopped following"
	}
	v.endLogs()
	if r == nil {
		return nil
	}
	return closeLog(r)
}

// endLogs forgets the stream: it is not read again.
func (v *detailView) endLogs() {
	if v.logCancel != nil {
		v.logCancel()
		v.logCancel = nil
	}
	v.stream, v.following = nil, false
}

func closeLog(r *logReader) tea.Cmd {
	return func() tea.Msg {
		r.rc.Close()
		return nil
	}
}

func (v *detailView) appendLogs(lines []string) {
	if len(lines) == 0 {
		return
	}
	for _, l := range lines {
		v.logs = append(v.logs, formatLogLine(l))
	}
	if n := len(v.logs); n > maxLogLines {
		drop := n - maxLogLines
		v.logs = append(v.logs[:0:0], v.logs[drop:]...)
		v.tops[secLogs] = max(0, v.tops[secLogs]-drop)
	}
}

// formatLogLine shows the engine's timestamp shorter, and the line inert.
func formatLogLine(l string) string {
	l = strings.TrimSuffix(l, "\r")
	if ts, rest, ok := strings.Cut(l, " "); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t.Format("01-02 15:04:05") + " " + Inert(rest)
		}
	}
	return Inert(l)
}

// logReader reads lines of a log stream; one command reads at a time.
type logReader struct {
	rc io.ReadCloser
	br *bufio.Reader
}

func newLogReader(rc io.ReadCloser) *logReader {
	return &logReader{rc: rc, br: bufio.NewReaderSize(rc, 64<<10)}
}

// readChunk reads what the log has: at least one line (waiting for it),
// then the further lines already received, up to maxChunkLines.
func readChunk(gen uint64, r *logReader) tea.Cmd {
	return func() tea.Msg {
		lines, err := r.chunk()
		return logChunkMsg{gen: gen, lines: lines, err: err}
	}
}

func (r *logReader) chunk() ([]string, error) {
	var out []string
	for len(out) < maxChunkLines {
		line, err := r.line()
		if err != nil {
			if line != "" {
				out = append(out, line)
			}
			return out, err
		}
		out = append(out, line)
		if !r.lineBuffered() {
			break
		}
	}
	return out, nil
}

// line reads one line without its newline, cut at maxLogLine.
func (r *logReader) line() (string, error) {
	var b []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if room := maxLogLine - len(b); room > 0 {
			b = append(b, frag[:min(len(frag), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return strings.TrimSuffix(string(b), "\n"), err
	}
}

// lineBuffered reports whether a whole line is already received.
func (r *logReader) lineBuffered() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	p, err := r.br.Peek(n)
	return err == nil && bytes.IndexByte(p, '\n') >= 0
}
