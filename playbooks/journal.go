package playbooks

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"firebreak/internal/flock"
	"firebreak/runtime"
)

// Record is one line of a run's journal. Every step's start and end is
// written (and synced) before the engine goes on, so a run killed at any
// point can be resumed without repeating a finished step.
type Record struct {
	Time        time.Time           `json:"time"`
	Type        EventType           `json:"type"` // run_started, run_resumed, step_started, step_finished, step_undone, run_finished
	Case        string              `json:"case,omitempty"`
	Playbook    string              `json:"playbook,omitempty"`
	PlaybookSHA string              `json:"playbook_sha256,omitempty"`
	Targets     []runtime.Container `json:"targets,omitempty"`
	Params      map[string]string   `json:"params,omitempty"`
	Target      string              `json:"target,omitempty"`
	Step        string              `json:"step,omitempty"`
	Attempt     int                 `json:"attempt,omitempty"`
	Status      Status              `json:"status,omitempty"`
	Changes     bool                `json:"changes,omitempty"` // the step's action changes state
	Outputs     map[string]any      `json:"outputs,omitempty"`
	Error       string              `json:"error,omitempty"`
	PID         int                 `json:"pid,omitempty"`
}

// describe names a record for an error: its type, step and target.
func (r Record) describe() string {
	s := string(r.Type)
	if r.Step != "" {
		s += " of step " + r.Step
	}
	if r.Target != "" {
		s += " for " + r.Target
	}
	return s
}

// JournalWriter is where a journal's lines go. Append returns only after
// Sync did.
type JournalWriter interface {
	io.Writer
	Sync() error
}

// Journal appends records to runs/<case>/journal.jsonl in the state
// directory, syncing each before Append returns. A failed write or sync is
// returned as a *RecordError naming the record; the engine fails the step
// and the run on it.
type Journal struct {
	mu     sync.Mutex
	w      JournalWriter
	c      io.Closer
	path   string
	broken error // the first failed write: nothing is appended after it
}

// NewJournal makes a journal over w; path is what Path reports. Tests use it
// to put a writer that fails under the engine.
func NewJournal(w JournalWriter, path string) *Journal {
	j := &Journal{w: w, path: path}
	if c, ok := w.(io.Closer); ok {
		j.c = c
	}
	return j
}

func journalPath(stateDir, caseID string) string {
	return filepath.Join(stateDir, "runs", caseID, "journal.jsonl")
}

// lockCaseRun takes the run lock of a case (runs/CASE/run.lock, beside its
// journal) without waiting: a case whose run is under way in another
// process, or another run of this one, is refused, naming its holder.
func lockCaseRun(stateDir, caseID, playbook string) (func(), error) {
	if caseID == "" || strings.ContainsAny(caseID, "/\\") || caseID == "." || caseID == ".." {
		return nil, fmt.Errorf("case %q: not a case ID", caseID)
	}
	holder := fmt.Sprintf("pid %d running playbook %s since %s", os.Getpid(), playbook, time.Now().UTC().Format(time.RFC3339))
	l, err := flock.TryLock(filepath.Join(filepath.Dir(journalPath(stateDir, caseID)), "run.lock"), holder)
	var held *flock.HeldError
	if errors.As(err, &held) {
		h := held.Holder
		if h == "" {
			h = "another process"
		}
		return nil, &runtime.RefusedError{Reason: fmt.Sprintf("case %s has a run under way (%s): wait until it ends, then resume or approve it again; nothing was changed", caseID, h)}
	}
	if err != nil {
		return nil, fmt.Errorf("run lock of case %s: %w", caseID, err)
	}
	return func() { _ = l.Unlock() }, nil
}

// OpenJournal opens (creating) the journal of a case for appending.
func OpenJournal(stateDir, caseID string) (*Journal, error) {
	p := journalPath(stateDir, caseID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("creating run journal directory: %w (hint: --state-dir)", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening run journal: %w", err)
	}
	return NewJournal(f, p), nil
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Append writes one record and syncs it to disk. An error names the record.
func (j *Journal) Append(r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	fail := func(err error) error {
		return &RecordError{What: "run journal record " + r.describe() + " (" + j.path + ")", Err: err}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fail(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// After a failed write the file may end in part of a line; a line
	// appended after it would make the journal unreadable for a resume
	// (only a damaged last line is forgiven), so nothing more is written.
	if j.broken != nil {
		return fail(fmt.Errorf("not written: an earlier record failed (%w)", j.broken))
	}
	if _, err := j.w.Write(append(b, '\n')); err != nil {
		j.broken = err
		return fail(err)
	}
	if err := j.w.Sync(); err != nil {
		j.broken = err
		return fail(fmt.Errorf("syncing: %w", err))
	}
	return nil
}

// Close closes the file, if the writer is one.
func (j *Journal) Close() error {
	if j.c == nil {
		return nil
	}
	return j.c.Close()
}

// LoadJournal reads a case's journal. A last line cut short by a crash is
// ignored; a damaged line elsewhere is an error. A missing journal yields
// fs.ErrNotExist.
func LoadJournal(stateDir, caseID string) ([]Record, error) {
	f, err := os.Open(journalPath(stateDir, caseID))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var bad error
	for sc.Scan() {
		if bad != nil {
			return nil, bad // a damaged line that was not the last
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			bad = fmt.Errorf("run journal %s is damaged: %w", journalPath(stateDir, caseID), err)
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// JournalExists reports whether a case has a run journal.
func JournalExists(stateDir, caseID string) bool {
	_, err := os.Stat(journalPath(stateDir, caseID))
	return !errors.Is(err, fs.ErrNotExist)
}
