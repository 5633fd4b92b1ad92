package collect

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// timeline collects events as Timesketch-importable JSON lines (message,
// datetime, timestamp_desc, plus fields) in a temporary file, so its size
// does not bound memory.
type timeline struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	enc  *json.Encoder
	err  error
	size int
}

func newTimeline() *timeline {
	t := &timeline{}
	t.f, t.err = os.CreateTemp("", "firebreak-timeline-*.jsonl")
	if t.err == nil {
		os.Remove(t.f.Name()) // gone when closed
		t.w = bufio.NewWriter(t.f)
		t.enc = json.NewEncoder(t.w)
		t.enc.SetEscapeHTML(false)
	}
	return t
}

func (t *timeline) add(at time.Time, desc, msg string, fields map[string]any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil || at.IsZero() {
		return
	}
	ev := map[string]any{}
	for k, v := range fields {
		ev[k] = v
	}
	ev["message"] = msg
	ev["datetime"] = at.UTC().Format(time.RFC3339Nano)
	ev["timestamp"] = at.UnixMicro()
	ev["timestamp_desc"] = desc
	t.err = t.enc.Encode(ev)
	t.size++
}

// addLogLines adds one event per log line that starts with the engine's
// RFC 3339 timestamp.
func (t *timeline) addLogLines(r io.Reader, stream string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		ts, msg, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || at.IsZero() { // the zero time: a line its log file gave no time for
			continue
		}
		t.add(at, "log line", msg, map[string]any{"stream": stream})
	}
}

func (t *timeline) reader() (io.Reader, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return nil, t.err
	}
	if err := t.w.Flush(); err != nil {
		return nil, err
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return t.f, nil
}

func (t *timeline) Close() {
	if t.f != nil {
		t.f.Close()
	}
}
