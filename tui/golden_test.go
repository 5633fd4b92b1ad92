package tui

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func init() {
	// Goldens are plain text: no colour, no attributes.
	lipgloss.SetColorProfile(termenv.Ascii)
}

// golden compares got with testdata/golden/NAME.txt, or rewrites the file
// when the tests run with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s (run with -update after checking the change):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// checkFrame fails unless view is exactly h lines, each at most w cells,
// with no byte a terminal would act on other than the console's own SGR
// styling.
func checkFrame(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, n, w, l)
		}
	}
	if bad := foreignControls(view); bad != "" {
		t.Errorf("view passes %s to the terminal", bad)
	}
}

// foreignControls names the first control sequence in s that is not an SGR
// (colour and attribute) sequence: OSC, DCS, cursor moves, C1 bytes, bidi
// overrides, carriage returns, backspaces.
func foreignControls(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x1b:
			if i+1 < len(s) && s[i+1] == '[' {
				j := i + 2
				for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
					j++
				}
				if j < len(s) && s[j] == 'm' {
					i = j
					continue
				}
			}
			return "an escape sequence " + strconvQuote(s[i:min(len(s), i+12)])
		case c < 0x20 && c != '\n':
			return "a control byte " + strconvQuote(string(c))
		case c == 0x7f:
			return "DEL"
		}
	}
	for _, r := range s {
		if r >= 0x80 && r <= 0x9f || r == 0x202e || r == 0x202d || r == 0x2066 || r == 0x2067 || r == 0x2068 || r == 0x200f {
			return "the rune " + strconvQuote(string(r))
		}
	}
	return ""
}

func strconvQuote(s string) string { return strconv.Quote(s) }
