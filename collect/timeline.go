package collect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"firebreak/runtime"
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

// The words of Plaso's timestamp_desc for a file's times, and its data type
// for file system metadata, so that Timesketch shows them as it shows
// Plaso's own.
const (
	descMTime    = "Content Modification Time"
	descCTime    = "Metadata Modification Time"
	descATime    = "Last Access Time"
	descBTime    = "Creation Time"
	descDeletion = "Deletion Time"
	dataTypeFS   = "fs:stat"
)

// addFile adds an event per time a changed file records (a timestomped
// file shows: its mtime far from its ctime), and a deletion event where
// the host recorded a time for it.
func (t *timeline) addFile(fc FileChange) {
	fields := map[string]any{"path": fc.Path, "kind": fc.Kind, "type": fc.Type, "data_type": dataTypeFS}
	if fc.PathB64 != "" {
		fields["path_b64"] = fc.PathB64
	}
	if fc.SHA256 != "" {
		fields["sha256"] = fc.SHA256
	}
	msg := fmt.Sprintf("%s %s %s", fc.Kind, fc.Type, fc.Path)
	if fc.Kind == "D" {
		t.add(fc.MTime, descDeletion, msg, fields) // zero (not added) when the host kept no time
		return
	}
	t.add(fc.MTime, descMTime, msg, fields)
	t.add(fc.CTime, descCTime, msg, fields)
	t.add(fc.ATime, descATime, msg, fields)
	t.add(fc.BTime, descBTime, msg, fields)
}

// addContainer adds the container's creation and start, read from the
// engine's document (Docker's Created and State.StartedAt; containerd's
// CreatedAt).
func (t *timeline) addContainer(c runtime.Container, raw []byte) {
	var doc struct {
		Created   string
		State     struct{ StartedAt string }
		Container struct {
			CreatedAt time.Time
		} `json:"container"`
	}
	_ = json.Unmarshal(raw, &doc)
	fields := map[string]any{"container_id": c.ID, "container_name": c.Name, "image": c.Image}
	parse := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || at.Year() < 2000 { // Docker's "never started" is year 1
			return time.Time{}
		}
		return at
	}
	created := parse(doc.Created)
	fields["data_type"] = "docker:json:container"
	if created.IsZero() {
		created, fields["data_type"] = doc.Container.CreatedAt, "containerd:container"
	}
	if created.IsZero() {
		created = c.Created
	}
	t.add(created, "Creation Time", "container "+c.Name+" created", fields)
	t.add(parse(doc.State.StartedAt), "Start Time", "container "+c.Name+" started", fields)
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
