package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The console reads the journal past its cursor: only what was written
// since, a run's end joined to the story read before it, a line being
// written left for the next read, and a journal moved aside read anew.
func TestReadTailFollowsTheJournal(t *testing.T) {
	dir := t.TempDir()
	j, _, err := OpenJournal(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	accept := func(seq uint64, rule string) Entry {
		return Entry{Seq: seq, Kind: KindAccepted, Alert: &Alert{Format: "falco", Rule: rule, Container: "abcdefabcdef"}}
	}
	if err := j.Append(accept(1, "one"), Entry{Seq: 1, Kind: KindUnmatched}, accept(2, "two"), Entry{Seq: 2, Kind: KindStarted, Case: "case-2"}); err != nil {
		t.Fatal(err)
	}
	tail, err := ReadTail(dir, Cursor{}, 0)
	if err != nil || tail.Reset || len(tail.Stories) != 2 || len(tail.Later) != 0 {
		t.Fatalf("first read: %+v %v", tail, err)
	}
	stories := Merge(nil, tail, 0)
	if st, c := stories[1].State(); st != "running" || c != "case-2" {
		t.Errorf("story 2: %q %q, want running case-2", st, c)
	}
	again, err := ReadTail(dir, tail.Cursor, 0)
	if err != nil || again.Changed() || again.Cursor != tail.Cursor {
		t.Errorf("nothing written: %+v %v", again, err)
	}
	if err := j.Append(Entry{Seq: 2, Kind: KindFinished, Case: "case-2", Status: StatusNeedsApproval}, accept(3, "three")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// half a line, as a crash or a write under way leaves it
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":4,"kind":"acce`)
	f.Close()
	next, err := ReadTail(dir, tail.Cursor, 0)
	if err != nil || next.Reset || len(next.Stories) != 1 || next.Stories[0].Seq != 3 || len(next.Later) != 1 {
		t.Fatalf("second read: %+v %v", next, err)
	}
	stories = Merge(stories, next, 2)
	if len(stories) != 2 || stories[0].Seq != 2 || stories[1].Seq != 3 {
		t.Fatalf("merged, the newest two: %+v", stories)
	}
	if c, ok := stories[0].NeedsApproval(); !ok || c != "case-2" || stories[0].Outcome() != "needs-approval, case case-2" {
		t.Errorf("story 2 after its run: %q %v %q", c, ok, stories[0].Outcome())
	}
	// moved aside and begun again, as serve's start does past RotateBytes
	if err := os.Rename(filepath.Join(dir, JournalFile), filepath.Join(dir, "intake-old.jsonl")); err != nil {
		t.Fatal(err)
	}
	j, _, err = OpenJournal(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(accept(9, "nine")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	reset, err := ReadTail(dir, next.Cursor, 0)
	if err != nil || !reset.Reset || len(reset.Stories) != 1 || reset.Stories[0].Seq != 9 {
		t.Fatalf("after the journal began again: %+v %v", reset, err)
	}
	if got := Merge(stories, reset, 0); len(got) != 1 || got[0].Seq != 9 {
		t.Errorf("merged after a reset: %+v", got)
	}
}

func TestReadTailNoJournal(t *testing.T) {
	tail, err := ReadTail(filepath.Join(t.TempDir(), "alerts"), Cursor{}, 0)
	if err != nil || tail.Changed() {
		t.Errorf("no journal: %+v %v", tail, err)
	}
}

// TestReadTailJournalGone: a journal read before and gone since (moved or
// deleted while serve runs) is an error that says so, not an empty list,
// and the cursor stays where it was.
func TestReadTailJournalGone(t *testing.T) {
	dir := t.TempDir()
	j, _, err := OpenJournal(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Entry{Seq: 1, Kind: KindAccepted, Alert: &Alert{Format: "falco", Rule: "r"}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	tail, err := ReadTail(dir, Cursor{}, 0)
	if err != nil || len(tail.Stories) != 1 {
		t.Fatalf("first read: %+v %v", tail, err)
	}
	if err := os.Remove(filepath.Join(dir, JournalFile)); err != nil {
		t.Fatal(err)
	}
	gone, err := ReadTail(dir, tail.Cursor, 0)
	if err == nil || !strings.Contains(err.Error(), "is gone") || gone.Reset || gone.Cursor != tail.Cursor {
		t.Errorf("after the journal was deleted: %+v %v", gone, err)
	}
}

// TestAFloodKeepsTheWaitingStory: the newest Last stories are kept, and an
// older one whose run waits for its approval (or is still open) is kept
// too, however many alerts came after it, by a Book and by Merge.
func TestAFloodKeepsTheWaitingStory(t *testing.T) {
	accept := func(seq uint64) Entry {
		return Entry{Seq: seq, Kind: KindAccepted, Alert: &Alert{Format: "falco", Rule: "r"}}
	}
	var es []Entry
	es = append(es, accept(1), Entry{Seq: 1, Kind: KindStarted, Case: "C1"}, Entry{Seq: 1, Kind: KindFinished, Case: "C1", Status: StatusNeedsApproval})
	es = append(es, accept(2), Entry{Seq: 2, Kind: KindStarted, Case: "C2"}, Entry{Seq: 2, Kind: KindFinished, Case: "C2", Status: "succeeded"})
	for seq := uint64(3); seq <= 5000; seq++ {
		es = append(es, accept(seq), Entry{Seq: seq, Kind: KindLogged})
	}
	b := &Book{Last: 100}
	for _, e := range es {
		b.Add(e)
	}
	got := b.Stories()
	if len(got) != 101 || got[0].Seq != 1 || got[len(got)-1].Seq != 5000 {
		t.Fatalf("kept %d stories, first %d: want the waiting one and the newest 100", len(got), got[0].Seq)
	}
	for _, s := range got {
		if s.Seq == 2 {
			t.Error("a finished, succeeded story older than the newest 100 was kept")
		}
	}
	merged := Merge(got, Tail{Stories: []Story{{Seq: 5001, Accepted: accept(5001), Then: []Entry{{Seq: 5001, Kind: KindLogged}}}}}, 100)
	if len(merged) != 101 || merged[0].Seq != 1 || merged[len(merged)-1].Seq != 5001 {
		t.Errorf("Merge kept %d, first %d", len(merged), merged[0].Seq)
	}
}
