package tui

import (
	"strings"
	"testing"

	"firebreak/runtime"
)

// The command line shown for an act is one to paste: a name that holds a
// control or bidi character (shown inert on the screen) is replaced by the
// container's full ID; a plain name stays.
func TestCLILineNamesHostileContainersByID(t *testing.T) {
	m := &Model{opts: Options{CLI: "firebreak"}}
	id := strings.Repeat("ab", 32)
	for name, want := range map[string]string{
		"web-1":              "web-1",
		"web\x1b[31mred":     id,
		"evil\u202eexe.txt":  id,
		"tab\there":          id,
		"shop/cart-7d9f/app": "shop/cart-7d9f/app",
		"":                   id,
	} {
		it := Item{Engine: "docker", Container: runtime.Container{ID: id, Name: name}}
		line := m.cliFor("contain", it)
		if !strings.HasSuffix(line, " "+want) {
			t.Errorf("name %q: line %q, want it to end with %q", name, line, want)
		}
	}
}
