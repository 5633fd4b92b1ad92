package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/evidence"
)

// shortKey is an object key for a row: without the case's prefix, a
// container's 64-digit ID cut to 12.
func shortKey(caseID, key string) string {
	rest := strings.TrimPrefix(key, evidence.CasePrefix(caseID))
	first, tail, ok := strings.Cut(rest, "/")
	if ok && len(first) == 64 && strings.Trim(first, "0123456789abcdef") == "" {
		return first[:12] + "/" + tail
	}
	return rest
}

// cutLeft makes s inert and at most width cells, keeping its end (a key's
// file name says more than its start).
func cutLeft(s string, width int) string {
	return Fit(keepEnd(s, width), width)
}

// keepEnd makes s inert and at most width cells, cutting its start.
func keepEnd(s string, width int) string {
	s = Inert(s)
	if width <= 0 {
		return ""
	}
	drop := Width(s) - width
	if drop <= 0 {
		return s
	}
	drop++ // room for the ellipsis
	runes := []rune(s)
	for len(runes) > 0 && drop > 0 {
		drop -= Width(string(runes[0]))
		runes = runes[1:]
	}
	return "…" + string(runes)
}

// plural counts things: "1 run", "2 runs".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// evBytes is a size for people.
func evBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit && exp < 5; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// listNav is a cursor over a list drawn in a window of rows.
type listNav struct {
	cursor, top, height int
}

func (n *listNav) move(d, count int) {
	n.cursor = max(0, min(count-1, n.cursor+d))
}

// key moves the cursor for the keys every list shares.
func (n *listNav) key(k string, count int) bool {
	page := max(1, n.height-1)
	switch k {
	case "up", "k":
		n.move(-1, count)
	case "down", "j":
		n.move(1, count)
	case "pgup", "ctrl+b":
		n.move(-page, count)
	case "pgdown", "ctrl+f":
		n.move(page, count)
	case "home", "g":
		n.cursor = 0
	case "end", "G":
		n.move(count, count)
	default:
		return false
	}
	return true
}

// window keeps the cursor in view of h rows and returns the rows to draw.
func (n *listNav) window(count, h int) (from, to int) {
	n.height = h
	n.cursor = max(0, min(n.cursor, count-1))
	if n.cursor < n.top {
		n.top = n.cursor
	}
	if n.cursor >= n.top+h {
		n.top = n.cursor - h + 1
	}
	n.top = max(0, min(n.top, count-h))
	return n.top, min(count, n.top+h)
}

// filterKey edits a filter being typed; it reports whether the text
// changed.
func filterKey(filter *string, typing *bool, k tea.KeyMsg) bool {
	switch k.Type {
	case tea.KeyEsc:
		*typing = false
		changed := *filter != ""
		*filter = ""
		return changed
	case tea.KeyEnter, tea.KeyUp, tea.KeyDown:
		*typing = false
	case tea.KeyBackspace:
		if r := []rune(*filter); len(r) > 0 {
			*filter = string(r[:len(r)-1])
			return true
		}
	case tea.KeySpace:
		*filter += " "
		return true
	case tea.KeyRunes:
		*filter += string(k.Runes)
		return true
	}
	return false
}
