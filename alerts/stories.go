package alerts

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Story is one alert as the intake journal tells it: the accepted line and
// every later line of its sequence number (`firebreak alerts ls` and the
// console's alerts view read the journal into these).
type Story struct {
	Seq      uint64  `json:"seq"`
	Accepted Entry   `json:"accepted"`
	Then     []Entry `json:"then"`
	// ApprovedSince is set by a reader that looked in the case's run
	// journal: the run stopped needs-approval and was approved since
	// (the intake journal is not written again for it).
	ApprovedSince bool `json:"approved_since,omitempty"`
}

// StatusNeedsApproval is a finished run's status when it stopped at a step
// that needs an approval no rule gave: `firebreak approve CASE STEP`
// answers it.
const StatusNeedsApproval = "needs-approval"

// Outcome words the story's last decisive entry ("" while open), with the
// case of its run.
func (s Story) Outcome() string {
	out, c := s.State()
	if c != "" {
		out += ", case " + c
	}
	return out
}

// State is the story's outcome without its case, and the case of its run
// ("" for none): "" while open, "running" while its run runs, the run's
// status once finished, "suppressed: REASON", or the kind of the deciding
// entry with its reason.
func (s Story) State() (state, caseID string) {
	for _, e := range s.Then {
		switch e.Kind {
		case KindStarted:
			state, caseID = "", ""
			if s.LastIs(KindFinished) == nil {
				state, caseID = "running", e.Case
			}
		case KindFinished:
			state, caseID = e.Status, e.Case
		case KindSuppressed:
			state, caseID = "suppressed: "+e.Reason, ""
		case KindInterrupted:
		default:
			state, caseID = e.Kind, ""
			if e.Reason != "" {
				state += ": " + e.Reason
			}
		}
	}
	return state, caseID
}

// NeedsApproval reports whether the story's run stopped at a step waiting
// for an approval, and its case.
func (s Story) NeedsApproval() (string, bool) {
	state, c := s.State()
	return c, state == StatusNeedsApproval && c != ""
}

// LastIs is the story's last entry of that kind, nil when it has none.
func (s Story) LastIs(kind string) *Entry {
	for i := len(s.Then) - 1; i >= 0; i-- {
		if s.Then[i].Kind == kind {
			return &s.Then[i]
		}
	}
	return nil
}

// open reports whether the story has no outcome yet (or its run runs).
func (s Story) open() bool {
	state, _ := s.State()
	return state == "" || state == "running"
}

// pending says whether the story still asks for someone: open, running,
// or stopped for an approval. A reader that keeps only the newest stories
// keeps these too, so that a flood of alerts after it cannot push a run
// waiting for its approval out of sight.
func (s Story) pending() bool {
	state, _ := s.State()
	return state == "" || state == "running" || state == StatusNeedsApproval
}

// keepNewest keeps the newest last stories (0: all) and every older one
// still pending, in order.
func keepNewest(stories []Story, last int) []Story {
	if last <= 0 || len(stories) <= last {
		return stories
	}
	cut := len(stories) - last
	kept := stories[:0]
	for i, s := range stories {
		if i >= cut || s.pending() {
			kept = append(kept, s)
		}
	}
	return kept
}

// Book gathers stories from journal entries in order, keeping the newest
// Last (0: all) and older ones still pending, or with Open only those
// without an outcome, in bounded
// memory: a journal of millions is read one line at a time.
type Book struct {
	Last int
	Open bool
	// Before is the highest sequence number a reader already holds: an
	// entry of a story begun at or below it is kept in Later, not dropped
	// (a tail read after a cursor).
	Before uint64

	idx     map[uint64]int
	stories []Story
	later   []Entry
}

// Add takes one journal entry.
func (b *Book) Add(e Entry) {
	if b.idx == nil {
		b.idx = map[uint64]int{}
	}
	if e.Kind == KindAccepted && e.Alert != nil {
		b.idx[e.Seq] = len(b.stories)
		b.stories = append(b.stories, Story{Seq: e.Seq, Accepted: e, Then: []Entry{}})
		if len(b.stories) > 4*max(b.Last, 1024) {
			b.compact()
		}
		return
	}
	if i, ok := b.idx[e.Seq]; ok {
		b.stories[i].Then = append(b.stories[i].Then, e)
	} else if e.Seq <= b.Before {
		b.later = append(b.later, e)
	}
}

func (b *Book) compact() {
	if (b.Last <= 0 || len(b.stories) <= 2*b.Last) && !b.Open {
		return
	}
	kept := b.stories[:0]
	for _, s := range b.stories {
		if b.Open && !s.open() {
			continue
		}
		kept = append(kept, s)
	}
	b.stories = keepNewest(kept, b.Last)
	clear(b.idx)
	for i, s := range b.stories {
		b.idx[s.Seq] = i
	}
}

// Stories are the stories kept, oldest first.
func (b *Book) Stories() []Story {
	b.compact()
	return b.stories
}

// ReadStories reads the journal in dir into its stories, oldest first: the
// newest last (0: all), only those without an outcome with open. No journal
// is no stories.
func ReadStories(dir string, last int, open bool) ([]Story, error) {
	b := &Book{Last: last, Open: open}
	err := ScanJournal(dir, func(e Entry) error {
		b.Add(e)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return b.Stories(), nil
}

// Cursor is where a reader of the journal stopped: the file it read (its
// device and inode, so a journal moved aside at serve's start is told
// apart), the offset after the last whole line, and the highest sequence
// number read. The zero Cursor reads from the start.
type Cursor struct {
	Dev, Ino uint64
	Offset   int64
	MaxSeq   uint64
}

// Tail is what a journal held past a cursor.
type Tail struct {
	Cursor Cursor
	// Reset says the journal is not the one the cursor read (moved aside
	// and begun again, or truncated): Stories are all there is.
	Reset bool
	// Stories are the stories begun past the cursor, the newest last.
	Stories []Story
	// Later are entries past the cursor of stories begun before it (a run
	// that finished since), in journal order.
	Later []Entry
}

// Changed reports whether the tail holds anything new.
func (t Tail) Changed() bool { return t.Reset || len(t.Stories) > 0 || len(t.Later) > 0 }

// ReadTail reads the journal in dir past from: only the bytes written
// since, one stat when there are none. It keeps the newest last stories
// begun since (0: all). A journal not yet made is an empty tail.
func ReadTail(dir string, from Cursor, last int) (Tail, error) {
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if errors.Is(err, fs.ErrNotExist) {
		if from.Offset > 0 {
			// It was read before: moved or deleted since, not empty. What
			// was read stays; serve keeps writing to the file it opened
			// until it starts again.
			return Tail{Cursor: from}, fmt.Errorf("%s is gone from %s (moved or deleted since it was read; serve writes where it opened it until it starts again)", JournalFile, dir)
		}
		return Tail{Cursor: Cursor{}, Reset: from != (Cursor{})}, nil
	}
	if err != nil {
		return Tail{Cursor: from}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Tail{Cursor: from}, err
	}
	var dev, ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		dev, ino = uint64(st.Dev), st.Ino
	}
	t := Tail{Cursor: from}
	if dev != from.Dev || ino != from.Ino || fi.Size() < from.Offset {
		t.Reset = from != (Cursor{})
		t.Cursor = Cursor{Dev: dev, Ino: ino}
	}
	if fi.Size() == t.Cursor.Offset {
		return t, nil
	}
	if _, err := f.Seek(t.Cursor.Offset, io.SeekStart); err != nil {
		return Tail{Cursor: from}, err
	}
	b := &Book{Last: last, Before: t.Cursor.MaxSeq}
	maxSeq := t.Cursor.MaxSeq
	good, err := eachEntry(f, func(e Entry) {
		maxSeq = max(maxSeq, e.Seq)
		b.Add(e)
	})
	if err != nil {
		return Tail{Cursor: from}, errors.New(JournalFile + " " + err.Error())
	}
	t.Cursor.Offset += good
	t.Cursor.MaxSeq = maxSeq
	t.Stories, t.Later = b.Stories(), b.later
	return t, nil
}

// Merge applies a tail to stories read before it (oldest first) and keeps
// the newest last (0: all). It does no I/O.
func Merge(stories []Story, t Tail, last int) []Story {
	if t.Reset {
		stories = nil
	}
	if len(t.Later) > 0 {
		idx := make(map[uint64]int, len(stories))
		for i, s := range stories {
			idx[s.Seq] = i
		}
		for _, e := range t.Later {
			if i, ok := idx[e.Seq]; ok {
				s := &stories[i]
				s.Then = append(slices.Clip(s.Then), e)
			}
		}
	}
	stories = append(slices.Clip(stories), t.Stories...)
	return keepNewest(stories, last)
}

// Search is the lower-cased text a filter looks in: the alert's format,
// source, rule, priority, container, pod, host and output, and the story's
// outcome and case.
func (s Story) Search() string {
	var parts []string
	if a := s.Accepted.Alert; a != nil {
		parts = append(parts, a.Format, a.Source, a.Rule, a.Priority.String(), a.Container, a.Pod, a.Host, a.Output)
	}
	parts = append(parts, s.Outcome())
	return strings.ToLower(strings.Join(parts, " "))
}
