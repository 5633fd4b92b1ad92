package yamlnode

import (
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

func root(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		nameKeys  bool
		want      string // the errors, one a line
		seen      string // keys seen, sorted
	}{
		{"Known", "a: 1\nb: 2\n", false, "", "a, b"},
		{"UnknownAndRepeated", "a: 1\nc: 3\na: 4\n", false, "f:2:1: unknown key \"c\" in x (known: a, b)\nf:3:1: \"a\" given twice in x", "a"},
		{"NotAMapping", "[1]\n", false, "f:1:1: x must be a mapping", ""},
		{"NotAMappingNamesKeys", "[1]\n", true, "f:1:1: x must be a mapping of a, b", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reader{File: "f", NameKeys: tc.nameKeys}
			calls := 0
			fn := func(*yaml.Node) { calls++ }
			seen := r.Fields(root(t, tc.src), "x", map[string]func(*yaml.Node){"a": fn, "b": fn})
			if got := r.Errs.Error(); got != tc.want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, tc.want)
			}
			if got := KeysOf(seen); got != tc.seen {
				t.Errorf("seen %q, want %q", got, tc.seen)
			}
			if calls != len(seen) {
				t.Errorf("%d calls for %d keys seen", calls, len(seen))
			}
			if (seen == nil) != strings.Contains(tc.want, "must be a mapping") {
				t.Errorf("seen is nil: %v", seen == nil)
			}
		})
	}
}

func TestCheckTree(t *testing.T) {
	deep := strings.Repeat("[", 5) + strings.Repeat("]", 5)
	for _, tc := range []struct{ name, src, want string }{
		{"Plain", "a: [1, {b: 2}]\n", ""},
		{"Anchor", "a: &x 1\n", "f:1:4: YAML anchors and aliases are not allowed in things: write the value out"},
		{"TooDeep", "a: " + deep + "\n", "f:1:8: nested deeper than 4 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Reader{File: "f"}
			got := ""
			if e := r.CheckTree(root(t, tc.src), 4, "things"); e != nil {
				got = e.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSyntaxErrorAndSort(t *testing.T) {
	var doc yaml.Node
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &doc)
	e := SyntaxError("f", err)
	if e.Pos.Line == 1 || !strings.HasPrefix(e.Msg, "not valid YAML: ") || strings.Contains(e.Msg, "yaml: ") {
		t.Errorf("got %v", e)
	}
	es := Errors{{Pos: Pos{Line: 2, Col: 1}, Msg: "c"}, {Pos: Pos{Line: 1, Col: 5}, Msg: "b"}, {Pos: Pos{Line: 1, Col: 1}, Msg: "a"}, {Pos: Pos{Line: 1, Col: 5}, Msg: "b2"}}
	Sort(es)
	var got []string
	for _, e := range es {
		got = append(got, e.Msg)
	}
	if strings.Join(got, " ") != "a b b2 c" {
		t.Errorf("sorted %v", got)
	}
}

// Every YAML spelling of a boolean reads as one; a string does not.
func TestBool(t *testing.T) {
	for src, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "false": false, "False": false} {
		r := &Reader{File: "f.yaml"}
		n := root(t, "v: "+src).Content[1]
		if got, ok := r.Bool(n, "v"); !ok || got != want || len(r.Errs) != 0 {
			t.Errorf("%s: %v %v %v, want %v", src, got, ok, r.Errs, want)
		}
	}
	r := &Reader{File: "f.yaml"}
	if _, ok := r.Bool(root(t, `v: "true"`).Content[1], "v"); ok || len(r.Errs) != 1 || r.Errs[0].Msg != "v must be true or false" {
		t.Errorf("a quoted string: ok %v, errors %v", ok, r.Errs)
	}
}
