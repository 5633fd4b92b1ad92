package containerd

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

// A line longer than maxLogLine is cut there: what follows the cut is
// skipped to the line's end, never spliced onto it, and the next line is
// read whole. (The reader's size here does not divide the cap, so a short
// last piece of the line would fit after a skipped one.)
func TestReadLineCutsLongLines(t *testing.T) {
	long := strings.Repeat("a", 1_100_000) + "zzzzzzzzzz"
	br := bufio.NewReaderSize(strings.NewReader(long+"\nnext\n"), 100_000)
	line, err := readLine(br)
	if err != nil {
		t.Fatal(err)
	}
	if len(line) > maxLogLine || len(line) < maxLogLine-100_000 || !strings.HasPrefix(long, string(line)) {
		t.Errorf("cut line: %d bytes, ends %q; want a prefix of the line, at most %d bytes", len(line), line[max(0, len(line)-20):], maxLogLine)
	}
	if line, err = readLine(br); err != nil || string(line) != "next" {
		t.Errorf("next line: %q, %v", line, err)
	}
	if _, err := readLine(br); err != io.EOF {
		t.Errorf("after the last line: %v, want EOF", err)
	}
}
