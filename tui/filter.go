package tui

import tea "github.com/charmbracelet/bubbletea"

// editFilter is a key pressed while a view's filter is being typed (after
// `/`), as the fleet and the alerts take it: Esc clears and stops typing,
// Enter keeps the filter and stops, Backspace takes off a rune, other text
// is added; up and down stop typing and move (again: the caller handles
// the key once more). changed says the filter changed.
func editFilter(k tea.KeyMsg, typing *bool, filter *string) (changed, again bool) {
	switch k.Type {
	case tea.KeyEsc:
		*typing, *filter = false, ""
		return true, false
	case tea.KeyEnter:
		*typing = false
	case tea.KeyBackspace:
		if r := []rune(*filter); len(r) > 0 {
			*filter = string(r[:len(r)-1])
			return true, false
		}
	case tea.KeySpace:
		*filter += " "
		return true, false
	case tea.KeyRunes:
		*filter += string(k.Runes)
		return true, false
	case tea.KeyUp, tea.KeyDown:
		*typing = false
		return false, true
	}
	return false, false
}
