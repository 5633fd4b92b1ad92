package playbooks_test

import (
	"os"
	"path/filepath"
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
	bomb, err := os.ReadFile(filepath.Join("..", "testdata", "playbooks", "alias-bomb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Each is refused by the limit meant for it, so a test fails when that
	// limit is removed (a later, structural error would not say this).
	inputs := map[string]struct {
		src  []byte
		want string
	}{
		"AliasBomb": {bomb, "anchors and aliases are not allowed"},
		"Huge":      {[]byte("name: x\ndescription: " + strings.Repeat("y", playbooks.MaxFileSize) + "\n"), "a playbook may be at most"},
		"Deep":      {[]byte("name: x\nsteps: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"), "nested deeper than"},
		"DeepMap":   {[]byte("name: x\nsteps:\n" + deepMap(200)), "nested deeper than"},
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			_, err := playbooks.Parse("h.yaml", in.src)
			if err == nil || !strings.Contains(err.Error(), in.want) {
				t.Fatalf("Parse = %v, want refused with %q", err, in.want)
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
