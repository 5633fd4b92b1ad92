package playbooks_test

import (
	"strings"
	"testing"

	"firebreak/playbooks"
)

func FuzzParseAndValidate(f *testing.F) {
	f.Add([]byte("name: x\nsteps:\n  - id: a\n    action: wait\n    with: {for: 1s}\n"))
	f.Add([]byte("name: x\nsteps:\n  - id: a\n    action: contain.pause\n    needs: [a]\n    when: steps.a.x\n"))
	f.Add([]byte("a: &a [*a]\n"))
	reg := registry()
	f.Fuzz(func(t *testing.T, b []byte) {
		pb, err := playbooks.Parse("f.yaml", b)
		if err != nil {
			return
		}
		_ = playbooks.Validate(pb, reg)
	})
}

// TestParseHostileInputsBounded: an alias bomb, a huge file and deep nesting
// are refused before anything is expanded.
func TestParseHostileInputsBounded(t *testing.T) {
	bomb := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for i := 0; i < 9; i++ {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = name
	}
	inputs := map[string][]byte{
		"AliasBomb": []byte(bomb),
		"Huge":      []byte("name: x\ndescription: " + strings.Repeat("y", playbooks.MaxFileSize) + "\n"),
		"Deep":      []byte("name: x\nsteps: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"),
		"DeepMap":   []byte("name: x\nsteps:\n" + deepMap(200)),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			// Refused outright: nothing is expanded or walked (the go test
			// timeout bounds a regression).
			if _, err := playbooks.Parse("h.yaml", in); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func deepMap(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(strings.Repeat(" ", 2*i+2) + "k:\n")
	}
	return b.String()
}
