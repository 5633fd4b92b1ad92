package yamlnode

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Pos is a place in a file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem found in a file, at a place, with what to fix.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found in a file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Sort puts errors in file order, by line and then column; errors at the
// same place keep the order they were found in.
func Sort(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
	})
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// SyntaxError is the error for data that yaml.Unmarshal refused, err: "not
// valid YAML: " and the parser's message, at the line it names (1 when it
// names none), column 1.
func SyntaxError(file string, err error) *Error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &Error{Pos: Pos{File: file, Line: line, Col: 1}, Msg: "not valid YAML: " + msg}
}

// Reader collects the errors found while walking one file's nodes.
type Reader struct {
	File string
	Errs Errors
	// NameKeys makes Fields say which keys a mapping takes when it is given
	// something else ("rate must be a mapping of burst, per_second").
	NameKeys bool
}

// Pos is where n is in the file.
func (r *Reader) Pos(n *yaml.Node) Pos { return Pos{File: r.File, Line: n.Line, Col: n.Column} }

// Errorf reports a problem at n.
func (r *Reader) Errorf(n *yaml.Node, format string, args ...any) {
	r.Errs = append(r.Errs, &Error{Pos: r.Pos(n), Msg: fmt.Sprintf(format, args...)})
}

// CheckTree refuses anchors and aliases (no file read this way needs them,
// and they are how an alias bomb multiplies a small file) and nesting
// deeper than maxDepth, before anything else looks at the tree. kind names
// the files in the message, in the plural ("playbooks"). It returns the
// first problem, or nil.
func (r *Reader) CheckTree(n *yaml.Node, maxDepth int, kind string) *Error {
	return r.checkTree(n, 0, maxDepth, kind)
}

func (r *Reader) checkTree(n *yaml.Node, depth, maxDepth int, kind string) *Error {
	if depth > maxDepth {
		return &Error{Pos: r.Pos(n), Msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return &Error{Pos: r.Pos(n), Msg: "YAML anchors and aliases are not allowed in " + kind + ": write the value out"}
	}
	for _, c := range n.Content {
		if err := r.checkTree(c, depth+1, maxDepth, kind); err != nil {
			return err
		}
	}
	return nil
}

// Fields walks a mapping, calling the function known has for each key with
// the key's value, and reporting unknown and repeated keys (a repeated key's
// function is not called again). what names the mapping in messages ("a
// step"). It returns the key nodes seen, by key; nil, with the error
// reported, when n is not a mapping.
func (r *Reader) Fields(n *yaml.Node, what string, known map[string]func(v *yaml.Node)) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		if r.NameKeys {
			r.Errorf(n, "%s must be a mapping of %s", what, KeysOf(known))
		} else {
			r.Errorf(n, "%s must be a mapping", what)
		}
		return nil
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		fn, ok := known[k.Value]
		switch {
		case !ok:
			r.Errorf(k, "unknown key %q in %s (known: %s)", k.Value, what, KeysOf(known))
		case seen[k.Value] != nil:
			r.Errorf(k, "%q given twice in %s", k.Value, what)
		default:
			seen[k.Value] = k
			fn(v)
		}
	}
	return seen
}

// KeysOf is m's keys, sorted and joined with ", ".
func KeysOf[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// Str reads a scalar as a string. For anything else, null included, it
// reports "<what> must be a string" and ok is false.
func (r *Reader) Str(n *yaml.Node, what string) (s string, ok bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.Errorf(n, "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

// Bool reads a YAML boolean (true, True, TRUE, false, ...), reporting
// anything else as "WHAT must be true or false".
func (r *Reader) Bool(n *yaml.Node, what string) (b bool, ok bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		r.Errorf(n, "%s must be true or false", what)
		return false, false
	}
	return b, true
}
