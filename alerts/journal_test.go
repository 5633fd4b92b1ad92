package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Concurrent appends are all on disk when Append returns, each line whole,
// sequence numbers unique; reopening reads them back.
func TestJournalGroupCommit(t *testing.T) {
	dir := t.TempDir()
	j, entries, err := OpenJournal(dir, "test")
	if err != nil || len(entries) != 0 {
		t.Fatalf("open: %v, %d entries", err, len(entries))
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq := j.Next()
			if err := j.Append(Entry{Seq: seq, Kind: KindAccepted, Alert: &Alert{Format: "falco", Rule: "r"}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJournal(dir)
	if err != nil || len(got) != 200 {
		t.Fatalf("read back %d entries: %v", len(got), err)
	}
	seen := map[uint64]bool{}
	for _, e := range got {
		if seen[e.Seq] || e.Seq == 0 || e.Seq > 200 {
			t.Fatalf("sequence %d repeated or out of range", e.Seq)
		}
		seen[e.Seq] = true
	}
	j2, again, err := OpenJournal(dir, "test")
	if err != nil || len(again) != 200 {
		t.Fatalf("reopen: %v, %d", err, len(again))
	}
	defer j2.Close()
	if next := j2.Next(); next != 201 {
		t.Errorf("next sequence after reopening = %d, want 201", next)
	}
}

// A line cut short by a crash is cut off on open; a damaged line in the
// middle is an error, never mended in silence; a second serve on the same
// directory is refused.
func TestJournalTornAndDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, JournalFile)
	whole := `{"seq":1,"time":"2026-11-28T10:00:00Z","kind":"accepted","alert":{"format":"falco","source":"syscall","rule":"r","priority":6,"time":"2026-11-28T10:00:00Z"}}` + "\n"
	if err := os.WriteFile(path, []byte(whole+`{"seq":2,"time":"2026-11-28T10:0`), 0o600); err != nil {
		t.Fatal(err)
	}
	j, entries, err := OpenJournal(dir, "first")
	if err != nil || len(entries) != 1 || entries[0].Alert.Priority != Critical {
		t.Fatalf("open over a torn line: %v, %+v", err, entries)
	}
	if _, _, err := OpenJournal(dir, "second"); err == nil || !strings.Contains(err.Error(), "first") {
		t.Errorf("a second open = %v, want refused naming the holder", err)
	}
	if err := j.Append(Entry{Seq: j.Next(), Kind: KindUnmatched}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), "\n") != 2 || strings.Contains(string(b), `"2026-11-28T10:0`+"{") {
		t.Errorf("journal after the torn line and one append:\n%s", b)
	}
	if err := os.WriteFile(path, []byte("not json\n"+whole), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenJournal(dir, "third"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a damaged first line = %v, want an error naming line 1", err)
	}
}

// A start reads the journal one line at a time and keeps what it needs:
// open stories, runs started lately, recent webhook IDs; a flood's
// suppressed alerts are let go. Past RotateBytes the journal is moved
// aside and a new one holds only that.
func TestJournalStartKeepsWhatItNeedsAndRotates(t *testing.T) {
	dir := t.TempDir()
	j, _, err := OpenJournal(dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	a := Alert{Format: "falco", Source: "syscall", Rule: "r", Priority: Critical, Container: "abcdefabcdef"}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.Append(Entry{Seq: 1, Kind: KindAccepted, Alert: &a}, Entry{Seq: 1, Kind: KindStarted, Target: "T", Case: "c1"}, Entry{Seq: 1, Kind: KindFinished, Status: "succeeded"}))
	for seq := uint64(2); seq < 20000; seq++ {
		must(j.AppendAsync(Entry{Seq: seq, Kind: KindAccepted, Alert: &a}, Entry{Seq: seq, Kind: KindSuppressed, Reason: "duplicate", DupOf: 1}))
	}
	must(j.Append(Entry{Seq: 20000, Kind: KindAccepted, Alert: &a, WebhookID: "hook-1"}, Entry{Seq: 20000, Kind: KindSuppressed}))
	must(j.Append(Entry{Seq: 20001, Kind: KindAccepted, Alert: &a})) // open
	j.Close()
	old := RotateBytes
	RotateBytes = 1 << 20
	defer func() { RotateBytes = old }()
	j2, kept, err := OpenJournal(dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	kinds := map[string]int{}
	for _, e := range kept {
		kinds[e.Kind]++
	}
	if len(kept) > 10 || kinds[KindStarted] != 1 || kinds[KindAccepted] != 3 {
		t.Errorf("kept %d entries %v: want the run's story, the webhook's and the open alert", len(kept), kinds)
	}
	if next := j2.Next(); next != 20002 {
		t.Errorf("next sequence %d, want 20002", next)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "intake-*.jsonl"))
	fi, err := os.Stat(filepath.Join(dir, JournalFile))
	if len(aside) != 1 || err != nil || fi.Size() > 4096 {
		t.Errorf("after the rotation: aside %v, the new journal %v bytes (%v)", aside, fi.Size(), err)
	}
	srv := &Server{}
	srv.Remember(kept)
	if _, ok := srv.seen["hook-1"]; !ok {
		t.Error("the recent webhook ID was not kept")
	}
}

// A journal removed or replaced while serve runs refuses every later
// append, naming what happened, instead of writing lines nobody can read
// back.
func TestJournalRefusesOnceRemovedOrReplaced(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(path string) error
	}{
		{"removed", os.Remove},
		{"replaced", func(path string) error {
			if err := os.WriteFile(path+".new", nil, 0o600); err != nil {
				return err
			}
			return os.Rename(path+".new", path)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			j, _, err := OpenJournal(dir, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if err := j.Append(Entry{Seq: j.Next(), Kind: KindAccepted}); err != nil {
				t.Fatalf("append before: %v", err)
			}
			if err := c.do(filepath.Join(dir, JournalFile)); err != nil {
				t.Fatal(err)
			}
			err = j.Append(Entry{Seq: j.Next(), Kind: KindAccepted})
			if err == nil || !strings.Contains(err.Error(), "removed or replaced") || !strings.Contains(err.Error(), "restart") {
				t.Fatalf("append after the journal was %s = %v, want it refused", c.name, err)
			}
			if err := j.Append(Entry{Seq: j.Next(), Kind: KindAccepted}); err == nil {
				t.Error("a later append was accepted")
			}
		})
	}
}
