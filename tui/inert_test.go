package tui

import (
	"strings"
	"testing"
)

func TestInertEscapesWhatATerminalActsOn(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain name", "plain name"},
		{"title\x1b]0;pwned\x07", `title\x1b]0;pwned\a`},
		{"clip\x1b]52;c;aGk=\x07", `clip\x1b]52;c;aGk=\a`},
		{"link\x1b]8;;http://x\x1b\\", `link\x1b]8;;http://x\x1b\`},
		{"clear\x1b[2J\x1b[H", `clear\x1b[2J\x1b[H`},
		{"dcs\x1bP1$r\x1b\\", `dcs\x1bP1$r\x1b\`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"raw c1 \x9b31m", `raw c1 \x9b31m`},
		{"over\rwrite", `over\rwrite`},
		{"back\bspace", `back\bspace`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"isolate \u2066x\u2069", `isolate \u2066x\u2069`},
		{"tab\tand\nline", `tab\tand\nline`},
		{"wide 漢字", "wide 漢字"},
	}
	for _, c := range cases {
		got := Inert(c.in)
		if got != c.want {
			t.Errorf("Inert(%q) = %q, want %q", c.in, got, c.want)
		}
		if foreignControls(got) != "" {
			t.Errorf("Inert(%q) still holds %s", c.in, foreignControls(got))
		}
	}
}

func TestCutMeasuresWideCharacters(t *testing.T) {
	for _, c := range []struct {
		in    string
		width int
		want  string
	}{
		{"abcdef", 4, "abc…"},
		{"abc", 4, "abc"},
		{"漢字漢字", 5, "漢字…"},
		{"漢字", 4, "漢字"},
		{"\x1b[2Jabc", 6, `\x1b[…`},
		{"x", 0, ""},
	} {
		got := Cut(c.in, c.width)
		if got != c.want || Width(got) > c.width {
			t.Errorf("Cut(%q, %d) = %q (%d cells), want %q", c.in, c.width, got, Width(got), c.want)
		}
	}
	if got := Fit("漢", 4); got != "漢  " || Width(got) != 4 {
		t.Errorf("Fit pads to %q", got)
	}
	if got := Lines("a\r\nb\x1b[Hc"); len(got) != 2 || got[0] != "a" || !strings.Contains(got[1], `\x1b[H`) {
		t.Errorf("Lines = %q", got)
	}
}
