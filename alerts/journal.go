package alerts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"firebreak/internal/flock"
	"firebreak/internal/fsutil"
)

// The intake journal is one append-only file of JSON lines. An alert is
// acknowledged to its sender only after its "accepted" line is on disk
// (fsync); what became of it follows in later lines of the same sequence
// number, so after a crash every accepted alert without an outcome is taken
// up again, and one with an outcome never is.

// Entry kinds.
const (
	KindAccepted    = "accepted"    // the alert, journalled before the sender's 202
	KindUnmatched   = "unmatched"   // no rule matched: logged only
	KindLogged      = "logged"      // a log_only rule (or a host event) matched
	KindDryRun      = "dry-run"     // serve --dry-run: what it would have run
	KindSuppressed  = "suppressed"  // deduplicated, rate-limited, held by a run, resolved
	KindUnresolved  = "unresolved"  // the container it names is unknown or ambiguous
	KindStarted     = "started"     // a run began: its case
	KindFinished    = "finished"    // the run ended: its status
	KindInterrupted = "interrupted" // serve stopped during the run; taken up at the next start
)

// Terminal kinds end an alert's story: after a crash it is not taken up
// again.
func terminal(kind string) bool {
	switch kind {
	case KindUnmatched, KindLogged, KindDryRun, KindSuppressed, KindUnresolved, KindFinished:
		return true
	}
	return false
}

// Entry is one line of the intake journal.
type Entry struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Kind  string    `json:"kind"`
	Alert *Alert    `json:"alert,omitempty"` // accepted only
	// Via is how it came: unix, tcp, stdin (accepted only).
	Via string `json:"via,omitempty"`
	// WebhookID is the signed request's webhook-id (accepted only): kept
	// so that a replay after a restart is still refused.
	WebhookID string `json:"webhook_id,omitempty"`
	Rule      string `json:"rule,omitempty"`
	Playbook  string `json:"playbook,omitempty"`
	Target    string `json:"target,omitempty"` // the resolved container's full ID, or a pod target
	Case      string `json:"case,omitempty"`
	Reason    string `json:"reason,omitempty"`     // why suppressed, unresolved, logged
	DupOf     uint64 `json:"dup_of,omitempty"`     // suppressed: the alert whose run it joins
	Status    string `json:"status,omitempty"`     // finished: the run's status
	LatencyNS int64  `json:"latency_ns,omitempty"` // started: from acceptance to the run's start
}

// Journal appends entries with group commit: concurrent appends that
// arrive while a sync is under way are written and synced together, and
// each caller returns once its own line is durable.
type Journal struct {
	path string
	f    *os.File
	lock *flock.Lock

	mu      sync.Mutex
	seq     uint64
	pending []pendingEntry
	cond    *sync.Cond
	closed  bool
	err     error // a failed write or sync: every later append fails too
	done    chan struct{}
	// OnSync, when set before the first append, is told each batch's
	// write-and-sync time and how many appends it carried.
	OnSync func(d time.Duration, appends int)
}

type pendingEntry struct {
	line []byte
	errc chan error
}

// JournalFile is the intake journal's name in its directory.
const JournalFile = "intake.jsonl"

// OpenJournal opens (or creates) the intake journal in dir, locked to this
// process, and reads back what it holds. A line cut short by a crash is
// cut off; a line in the middle that does not read is an error (the
// journal is evidence of what was received: it is not silently mended).
func OpenJournal(dir, holder string) (*Journal, []Entry, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("intake journal: %w", err)
	}
	lock, err := flock.TryLock(filepath.Join(dir, "serve.lock"), holder)
	if err != nil {
		return nil, nil, fmt.Errorf("intake journal %s: %w (one firebreak serve per state directory)", dir, err)
	}
	path := filepath.Join(dir, JournalFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		lock.Unlock()
		return nil, nil, fmt.Errorf("intake journal: %w", err)
	}
	st, err := readState(f, time.Now())
	if err == nil {
		err = f.Truncate(st.good)
	}
	if err == nil && st.good > RotateBytes {
		f, err = rotate(dir, f, st.kept)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err == nil {
		err = fsutil.SyncDir(dir)
	}
	if err != nil {
		f.Close()
		lock.Unlock()
		return nil, nil, fmt.Errorf("intake journal %s: %w", path, err)
	}
	entries := st.kept
	j := &Journal{path: path, f: f, lock: lock, done: make(chan struct{}), seq: st.maxSeq}
	j.cond = sync.NewCond(&j.mu)
	go j.writer()
	return j, entries, nil
}

// RotateBytes is the journal's size past which serve, when it starts,
// moves it aside (intake-TIME.jsonl, kept) and begins a new one holding
// only what a start needs (see readState).
var RotateBytes int64 = 256 << 20

// keepStarted is how long a run's start is kept for the dedupe windows a
// start rebuilds: a rule's window longer than this is not restored.
const keepStarted = 24 * time.Hour

// journalState is what a start needs of the journal, read one line at a
// time: the stories still open, the runs started within keepStarted (the
// dedupe windows), the webhook IDs accepted lately (replays), and the last
// sequence number. A flood's suppressed alerts are read and let go, so
// memory holds what is open, not what was received.
type journalState struct {
	kept   []Entry
	maxSeq uint64
	good   int64
}

func readState(r io.Reader, now time.Time) (journalState, error) {
	type story struct {
		accepted, started, end *Entry
	}
	stories := map[uint64]*story{}
	var order []uint64
	var st journalState
	hooks := map[uint64]Entry{} // let-go stories' recent webhook IDs
	good, err := eachEntry(r, func(e Entry) {
		st.maxSeq = max(st.maxSeq, e.Seq)
		s := stories[e.Seq]
		switch {
		case e.Kind == KindAccepted:
			s = &story{accepted: &e}
			stories[e.Seq] = s
			order = append(order, e.Seq)
		case s == nil:
		case e.Kind == KindStarted:
			s.started = &e
		case terminal(e.Kind):
			s.end = &e
			if s.started == nil || now.Sub(s.accepted.Time) > keepStarted {
				// Decided, and no run to remember: let it go, but for
				// a webhook ID a replay must still meet.
				if s.accepted.WebhookID != "" && now.Sub(s.accepted.Time) <= time.Hour {
					hooks[e.Seq] = Entry{Seq: e.Seq, Time: s.accepted.Time, Kind: KindAccepted, WebhookID: s.accepted.WebhookID}
				}
				delete(stories, e.Seq)
			}
		}
	})
	if err != nil {
		return st, err
	}
	st.good = good
	for _, seq := range order {
		if h, ok := hooks[seq]; ok {
			st.kept = append(st.kept, h, Entry{Seq: seq, Kind: KindUnmatched})
			continue
		}
		s := stories[seq]
		if s == nil {
			continue
		}
		for _, e := range []*Entry{s.accepted, s.started, s.end} {
			if e != nil {
				st.kept = append(st.kept, *e)
			}
		}
	}
	return st, nil
}

// rotate moves the journal aside and starts a new one with kept: written
// and synced before the rename, so a crash leaves one whole journal.
func rotate(dir string, old *os.File, kept []Entry) (*os.File, error) {
	path := filepath.Join(dir, JournalFile)
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return old, err
	}
	w := bufio.NewWriter(f)
	for _, e := range kept {
		b, err := json.Marshal(e)
		if err != nil {
			f.Close()
			return old, err
		}
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return old, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return old, err
	}
	aside := filepath.Join(dir, "intake-"+time.Now().UTC().Format("20060102T150405Z")+".jsonl")
	if err := os.Rename(path, aside); err != nil {
		f.Close()
		return old, err
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return old, err
	}
	old.Close()
	return f, nil
}

// ReadJournal reads a journal without opening it for appends (alerts ls).
func ReadJournal(dir string) ([]Entry, error) {
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, _, err := readEntries(f)
	return entries, err
}

// ScanJournal calls fn with each entry of the journal in dir, in order,
// holding one line at a time (alerts ls on a journal of millions).
func ScanJournal(dir string, fn func(Entry) error) error {
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		return err
	}
	defer f.Close()
	var ferr error
	_, err = eachEntry(f, func(e Entry) {
		if ferr == nil {
			ferr = fn(e)
		}
	})
	if err != nil {
		return fmt.Errorf("%s %w", JournalFile, err)
	}
	return ferr
}

// readEntries reads every whole line; good is the offset after the last
// one. Only the last line may be cut short (by a crash during its write).
func readEntries(r io.Reader) ([]Entry, int64, error) {
	var out []Entry
	good, err := eachEntry(r, func(e Entry) { out = append(out, e) })
	if err != nil {
		return nil, 0, err
	}
	return out, good, nil
}

// eachEntry calls fn with each whole line's entry, one line in memory at a
// time, and returns the offset after the last whole line: a last line
// without its newline was cut short by a crash and is not read. A line in
// the middle that does not read is an error naming it.
func eachEntry(r io.Reader, fn func(Entry)) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var good int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			var e Entry
			if uerr := json.Unmarshal(line, &e); uerr != nil {
				return good, fmt.Errorf("line %d: %v", n, uerr)
			}
			good += int64(len(line))
			fn(e)
		}
		if err == io.EOF {
			return good, nil
		}
		if err != nil {
			return good, err
		}
	}
}

// Next reserves the next sequence number.
func (j *Journal) Next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	return j.seq
}

// Append writes the entries and returns once they are on disk.
func (j *Journal) Append(es ...Entry) error {
	errc := make(chan error, 1)
	if err := j.enqueue(es, errc); err != nil {
		return err
	}
	return <-errc
}

// AppendAsync queues the entries and returns at once; they are written
// with the next batch, in order. For outcomes that decide again the same
// way when lost in a crash (a suppression, an unmatched alert): the
// dispatcher need not wait a sync for each.
func (j *Journal) AppendAsync(es ...Entry) error {
	return j.enqueue(es, nil)
}

func (j *Journal) enqueue(es []Entry, errc chan error) error {
	var buf bytes.Buffer
	for _, e := range es {
		if e.Time.IsZero() {
			e.Time = time.Now().UTC()
		}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return errors.New("intake journal closed")
	}
	if j.err != nil {
		err := j.err
		j.mu.Unlock()
		return err
	}
	j.pending = append(j.pending, pendingEntry{line: buf.Bytes(), errc: errc})
	j.cond.Signal()
	j.mu.Unlock()
	return nil
}

func (j *Journal) writer() {
	defer close(j.done)
	for {
		j.mu.Lock()
		for len(j.pending) == 0 && !j.closed {
			j.cond.Wait()
		}
		batch := j.pending
		j.pending = nil
		closed := j.closed
		j.mu.Unlock()
		if len(batch) > 0 {
			var buf bytes.Buffer
			for _, p := range batch {
				buf.Write(p.line)
			}
			start := time.Now()
			_, err := j.f.Write(buf.Bytes())
			// A batch that nobody waits on (outcomes that decide again the
			// same way) is written and left to the next sync.
			waited := false
			for _, p := range batch {
				waited = waited || p.errc != nil
			}
			if err == nil && waited {
				err = unix.Fdatasync(int(j.f.Fd()))
			}
			if err == nil && waited {
				err = j.stillNamed()
			}
			if j.OnSync != nil {
				j.OnSync(time.Since(start), len(batch))
			}
			if err != nil {
				err = fmt.Errorf("intake journal %s: %w", j.path, err)
				j.mu.Lock()
				j.err = err
				j.mu.Unlock()
			}
			for _, p := range batch {
				if p.errc != nil {
					p.errc <- err
				}
			}
		}
		if closed {
			return
		}
	}
}

// stillNamed checks that the journal's path still names the file being
// written: one removed or put in another's place while serve runs would
// take every later line out of reach of `alerts ls` and of the next start.
// Every append then fails (serve answers 503, the sender retries) until
// serve is restarted, rather than accepting alerts nobody can read back.
func (j *Journal) stillNamed() error {
	open, err := j.f.Stat()
	if err != nil {
		return err
	}
	named, err := os.Stat(j.path)
	if err == nil && os.SameFile(open, named) {
		return nil
	}
	return errors.New("it was removed or replaced while serve ran; alerts are refused until serve is restarted (a new journal then begins; keep the old one if it was moved)")
}

// Close writes and syncs what is pending and releases the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.cond.Signal()
	j.mu.Unlock()
	<-j.done
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	if uerr := j.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}
