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
