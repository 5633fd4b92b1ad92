package collect

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func writeLines(t *testing.T, c *cappedLog, lines []string, chunk int) {
	t.Helper()
	all := strings.Join(lines, "")
	for len(all) > 0 {
		k := min(chunk, len(all))
		if n, err := c.Write([]byte(all[:k])); err != nil || n != k {
			t.Fatalf("Write: %d, %v", n, err)
		}
		all = all[k:]
	}
}

func keptOf(t *testing.T, c *cappedLog) string {
	t.Helper()
	if err := c.cut(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c.reader())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := io.ReadAll(c.reader()); string(again) != string(b) {
		t.Fatal("a second reader gives other bytes")
	}
	return string(b)
}

// Under the cap the log is kept whole; over it, the first quarter and the
// newest lines are kept, as whole lines in order, the seam between them
// falls between lines, and what was dropped is counted, whatever the sizes
// of the writes.
func TestCappedLogKeepsHeadAndTail(t *testing.T) {
	var lines []string
	for i := range 5000 {
		lines = append(lines, fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i%37)))
	}
	whole := strings.Join(lines, "")

	small, _ := newCappedLog(int64(len(whole)))
	defer small.Close()
	writeLines(t, small, lines, 4096)
	if got := keptOf(t, small); got != whole || small.note("stdout") != "" {
		t.Errorf("under the cap: kept %d of %d bytes, note %q", len(got), len(whole), small.note("stdout"))
	}

	for _, chunk := range []int{1, 7, 100, 4096, 1 << 20} {
		c, _ := newCappedLog(20000)
		writeLines(t, c, lines, chunk)
		got := keptOf(t, c)
		c.Close()
		if int64(len(got)) > c.limit || c.dropped() != int64(len(whole)-len(got)) {
			t.Fatalf("chunk %d: kept %d bytes of a %d cap, %d counted dropped of %d", chunk, len(got), c.limit, c.dropped(), len(whole))
		}
		kept := strings.SplitAfter(got, "\n")
		kept = kept[:len(kept)-1] // after the last newline: nothing
		seam := slices.IndexFunc(kept, func(l string) bool { return !slices.Contains(lines[:len(kept)], l) })
		if seam <= 0 {
			t.Fatalf("chunk %d: no head kept before the seam (%d)", chunk, seam)
		}
		head, tail := kept[:seam], kept[seam:]
		if !slices.Equal(head, lines[:len(head)]) || !slices.Equal(tail, lines[len(lines)-len(tail):]) {
			t.Errorf("chunk %d: head or tail is not the log's first or last lines", chunk)
		}
		if len(strings.Join(head, "")) > 5000 || len(strings.Join(tail, "")) < 15000-200 {
			t.Errorf("chunk %d: head %d bytes, tail %d bytes; want the first quarter of the cap and about the rest", chunk, len(strings.Join(head, "")), len(strings.Join(tail, "")))
		}
		if !strings.Contains(c.note("stdout"), fmt.Sprintf("dropped %d", c.dropped())) {
			t.Errorf("note %q", c.note("stdout"))
		}
	}
}
