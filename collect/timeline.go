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

// event is one line of the timeline: Timesketch's required message,
// datetime and timestamp_desc, then the fields of its kind (a struct, not a
// map: a capture writes up to four per changed file, and a map's sorted keys
// cost more than the rest of the line).
type event struct {
	Message       string `json:"message"`
	Datetime      string `json:"datetime"`
	Timestamp     int64  `json:"timestamp"`
	TimestampDesc string `json:"timestamp_desc"`
	DataType      string `json:"data_type,omitempty"`

	// A changed file.
	Path    string `json:"path,omitempty"`
	PathB64 string `json:"path_b64,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Type    string `json:"type,omitempty"`
	SHA256  string `json:"sha256,omitempty"`

	// The container.
	ContainerID   string  `json:"container_id,omitempty"`
	ContainerName *string `json:"container_name,omitempty"`
	Image         string  `json:"image,omitempty"`

	// A process.
	PID     int      `json:"pid,omitempty"`
	Exe     string   `json:"exe,omitempty"`
	Outside []string `json:"outside,omitempty"`

	// A log line.
	Stream string `json:"stream,omitempty"`
}

// add writes ev with its time and description; an event without a time
// (one the host did not record) is left out.
func (t *timeline) add(at time.Time, desc, msg string, ev event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil || at.IsZero() {
		return
	}
	ev.Message = msg
	ev.Datetime = at.UTC().Format(time.RFC3339Nano)
	ev.Timestamp = at.UnixMicro()
	ev.TimestampDesc = desc
	t.err = t.enc.Encode(&ev)
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
	fields := event{Path: fc.Path, PathB64: fc.PathB64, Kind: fc.Kind, Type: fc.Type, SHA256: fc.SHA256, DataType: dataTypeFS}
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
	name := c.Name
	fields := event{ContainerID: c.ID, ContainerName: &name, Image: c.Image}
	parse := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || at.Year() < 2000 { // Docker's "never started" is year 1
			return time.Time{}
		}
		return at
	}
	created := parse(doc.Created)
	fields.DataType = "docker:json:container"
	if created.IsZero() {
		created, fields.DataType = doc.Container.CreatedAt, "containerd:container"
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
		t.add(at, "log line", msg, event{Stream: stream})
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
