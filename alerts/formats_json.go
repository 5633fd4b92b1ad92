package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ---- the JSON tree ----

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jvalue is one JSON value. s is a string's value, a number's text as
// written, or "true"/"false".
type jvalue struct {
	kind jkind
	s    string
	arr  []*jvalue
	obj  []jmember
}

type jmember struct {
	key string
	val *jvalue
}

// maxDepth bounds nesting: the deepest real payload (Tetragon's ancestors,
// StackRox's lineage) is around 8.
const maxDepth = 64

func (v *jvalue) get(key string) *jvalue {
	for i := range v.obj {
		if v.obj[i].key == key {
			return v.obj[i].val
		}
	}
	return nil
}

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jArray:
		return "an array"
	}
	return "an object"
}

type parseError struct {
	path []string
	msg  string
}

func (e *parseError) Error() string { return e.msg }

func parseJSON(data []byte) (*jvalue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var path []string
	tok, err := dec.Token()
	if err != nil {
		return nil, &parseError{msg: "not JSON: " + jsonErrText(err, dec)}
	}
	v, err := parseFrom(dec, tok, path, 0)
	if err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		if err == nil {
			return nil, &parseError{msg: fmt.Sprintf("trailing data after the JSON value (%s at byte offset %d): send one JSON value", tokenText(tok), off)}
		}
		return nil, &parseError{msg: fmt.Sprintf("trailing data after the JSON value (%s): send one JSON value", jsonErrText(err, dec))}
	}
	return v, nil
}

func tokenText(t json.Token) string {
	switch x := t.(type) {
	case json.Delim:
		return strconv.Quote(x.String())
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func jsonErrText(err error, dec *json.Decoder) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at byte offset %d", se.Error(), se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("unexpected end of JSON at byte offset %d (truncated?)", dec.InputOffset())
	}
	return err.Error()
}

func parseFrom(dec *json.Decoder, tok json.Token, path []string, depth int) (*jvalue, error) {
	switch t := tok.(type) {
	case string:
		return &jvalue{kind: jString, s: t}, nil
	case json.Number:
		return &jvalue{kind: jNumber, s: string(t)}, nil
	case bool:
		if t {
			return &jvalue{kind: jBool, s: "true"}, nil
		}
		return &jvalue{kind: jBool, s: "false"}, nil
	case nil:
		return &jvalue{kind: jNull}, nil
	case json.Delim:
		if depth >= maxDepth {
			return nil, &parseError{path: path, msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
		}
		switch t {
		case '{':
			v := &jvalue{kind: jObject}
			var seen map[string]bool
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, &parseError{path: path, msg: "not JSON: " + jsonErrText(err, dec)}
				}
				key, ok := kt.(string)
				if !ok {
					return nil, &parseError{path: path, msg: "not JSON: object key is not a string"}
				}
				if seen == nil {
					seen = make(map[string]bool)
				}
				if seen[key] {
					return nil, &parseError{path: append(path, keySeg(key)), msg: "given twice in one object: give each key once"}
				}
				seen[key] = true
				vt, err := dec.Token()
				if err != nil {
					return nil, &parseError{path: append(path, keySeg(key)), msg: "not JSON: " + jsonErrText(err, dec)}
				}
				cv, err := parseFrom(dec, vt, append(path, keySeg(key)), depth+1)
				if err != nil {
					return nil, err
				}
				v.obj = append(v.obj, jmember{key: key, val: cv})
			}
			if _, err := dec.Token(); err != nil {
				return nil, &parseError{path: path, msg: "not JSON: " + jsonErrText(err, dec)}
			}
			return v, nil
		case '[':
			v := &jvalue{kind: jArray}
			for i := 0; dec.More(); i++ {
				et, err := dec.Token()
				if err != nil {
					return nil, &parseError{path: path, msg: "not JSON: " + jsonErrText(err, dec)}
				}
				cv, err := parseFrom(dec, et, append(path, "["+strconv.Itoa(i)+"]"), depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, cv)
			}
			if _, err := dec.Token(); err != nil {
				return nil, &parseError{path: path, msg: "not JSON: " + jsonErrText(err, dec)}
			}
			return v, nil
		}
	}
	return nil, &parseError{path: path, msg: fmt.Sprintf("not JSON: unexpected token %v", tok)}
}

// keySeg is one step of a JSON path: .key, or ["key"] when the key is not
// a plain name (Falco's output_fields["evt.time"]).
func keySeg(k string) string {
	plain := k != ""
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			plain = false
			break
		}
	}
	if plain {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

func joinPath(segs []string) string {
	return strings.TrimPrefix(strings.Join(segs, ""), ".")
}

// jsonText writes v back as compact JSON.
func jsonText(v *jvalue) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v *jvalue) {
	switch v.kind {
	case jNull:
		b.WriteString("null")
	case jBool, jNumber:
		b.WriteString(v.s)
	case jString:
		writeJSONString(b, v.s)
	case jArray:
		b.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case jObject:
		b.WriteByte('{')
		for i, m := range v.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, m.key)
			b.WriteByte(':')
			writeJSON(b, m.val)
		}
		b.WriteByte('}')
	}
}

func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// flatten puts v into out under prefix: an object's members under
// prefix.key, recursively; anything else as text (a string as itself, the
// rest as their JSON text, arrays included). The first value for a name
// wins.
func flatten(out map[string]string, prefix string, v *jvalue) {
	if v.kind == jObject && len(v.obj) > 0 {
		for _, m := range v.obj {
			name := m.key
			if prefix != "" {
				name = prefix + "." + m.key
			}
			flatten(out, name, m.val)
		}
		return
	}
	if prefix == "" {
		return
	}
	if _, dup := out[prefix]; dup {
		return
	}
	out[prefix] = fieldText(v)
}

// fieldText is a field's value as Alert.Fields holds it.
func fieldText(v *jvalue) string {
	if v.kind == jString {
		return v.s
	}
	return jsonText(v)
}

// ---- typed access, with errors naming the field ----

type reader struct {
	format string
	line   int
}

func (r *reader) errf(path, format string, args ...any) error {
	return &FormatError{Format: r.format, Line: r.line, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// parse reads data as one JSON value that must be an object.
func (r *reader) parse(data []byte, what string) (node, error) {
	v, err := parseJSON(data)
	if err != nil {
		var pe *parseError
		if errors.As(err, &pe) {
			return node{}, r.errf(joinPath(pe.path), "%s", pe.msg)
		}
		return node{}, r.errf("", "%v", err)
	}
	if v.kind != jObject {
		return node{}, r.errf("", "want a JSON object (%s), got %s", what, v.kind)
	}
	return node{v: v}, nil
}

// node is a value and its path.
type node struct {
	v    *jvalue
	path string
}

func (n node) at(key string) string { return strings.TrimPrefix(n.path+keySeg(key), ".") }

func (n node) index(i int) string { return n.path + "[" + strconv.Itoa(i) + "]" }

// field is key's value in the object n, or ok false when it is absent.
func (n node) field(key string) (node, bool) {
	v := n.v.get(key)
	if v == nil {
		return node{}, false
	}
	return node{v: v, path: n.at(key)}, true
}

// only refuses a key of the object n not in allowed.
func (r *reader) only(n node, allowed []string, whose string) error {
	for _, m := range n.v.obj {
		known := false
		for _, a := range allowed {
			if m.key == a {
				known = true
				break
			}
		}
		if !known {
			return r.errf(n.at(m.key), "unknown field: %s has only %s", whose, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// str is key's string value. A missing key is an error when req (what
// says what it should hold), "" otherwise; so is null.
func (r *reader) str(n node, key string, req bool, what string) (string, error) {
	f, ok := n.field(key)
	if !ok || (f.v.kind == jNull && !req) {
		if req {
			return "", r.errf(n.at(key), "missing: give %s", what)
		}
		return "", nil
	}
	if f.v.kind != jString {
		return "", r.errf(f.path, "want a string (%s), got %s", what, f.v.kind)
	}
	if req && f.v.s == "" {
		return "", r.errf(f.path, "empty: give %s", what)
	}
	return f.v.s, nil
}

// obj is key's object value; ok is false when it is absent or null (an
// error when req).
func (r *reader) obj(n node, key string, req bool, what string) (node, bool, error) {
	f, ok := n.field(key)
	if !ok || (f.v.kind == jNull && !req) {
		if req {
			return node{}, false, r.errf(n.at(key), "missing: give %s", what)
		}
		return node{}, false, nil
	}
	if f.v.kind != jObject {
		return node{}, false, r.errf(f.path, "want an object (%s), got %s", what, f.v.kind)
	}
	return f, true, nil
}

// arr is key's array value; ok is false when it is absent or null.
func (r *reader) arr(n node, key string, req bool, what string) (node, bool, error) {
	f, ok := n.field(key)
	if !ok || (f.v.kind == jNull && !req) {
		if req {
			return node{}, false, r.errf(n.at(key), "missing: give %s", what)
		}
		return node{}, false, nil
	}
	if f.v.kind != jArray {
		return node{}, false, r.errf(f.path, "want an array (%s), got %s", what, f.v.kind)
	}
	return f, true, nil
}

// strs is key's array of strings, nil when absent or null.
func (r *reader) strs(n node, key, what string) ([]string, error) {
	a, ok, err := r.arr(n, key, false, what)
	if !ok || err != nil {
		return nil, err
	}
	var out []string
	for i, e := range a.v.arr {
		if e.kind != jString {
			return nil, r.errf(a.index(i), "want a string (%s), got %s", what, e.kind)
		}
		out = append(out, e.s)
	}
	return out, nil
}

// strMap checks key's value is an object of strings (labels) and returns
// it, or ok false when absent.
func (r *reader) strMap(n node, key string, req bool, what string) (node, bool, error) {
	o, ok, err := r.obj(n, key, req, what)
	if !ok || err != nil {
		return o, ok, err
	}
	for _, m := range o.v.obj {
		if m.val.kind != jString {
			return node{}, false, r.errf(o.at(m.key), "want a string (%s are strings), got %s", what, m.val.kind)
		}
	}
	return o, true, nil
}

// timestamp is key's RFC 3339 time, in UTC; ok is false when it is absent
// or null (an error when req).
func (r *reader) timestamp(n node, key string, req bool, what string) (time.Time, bool, error) {
	s, err := r.str(n, key, req, what)
	if err != nil {
		return time.Time{}, false, err
	}
	f, ok := n.field(key)
	if !ok || f.v.kind == jNull {
		return time.Time{}, false, nil
	}
	if s == "" {
		return time.Time{}, false, r.errf(f.path, "empty: give %s as an RFC 3339 time", what)
	}
	t, perr := time.Parse(time.RFC3339Nano, s)
	if perr != nil {
		return time.Time{}, false, r.errf(f.path, "%q is not an RFC 3339 time (like 2024-11-28T00:00:00.123456789Z)", s)
	}
	return t.UTC(), true, nil
}

// integer reads a JSON number as an int64, refusing fractions, exponents
// and overflow.
func integer(v *jvalue) (int64, bool) {
	if v.kind != jNumber {
		return 0, false
	}
	n, err := strconv.ParseInt(v.s, 10, 64)
	return n, err == nil
}

// named reports whether a sender's value names something: not empty, not
// null, not Falco's "<NA>".
func named(s string) bool { return s != "" && s != "<NA>" }

// stripScheme drops a "containerd://" or other "scheme://" prefix.
func stripScheme(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// shortID cuts a truncated container ID (neither short nor full) to the
// 12-character short ID.
func shortID(id string) string {
	if len(id) > 12 && len(id) != 64 {
		return id[:12]
	}
	return id
}

// decodeLines decodes a JSON-lines body, one object per line, blank lines
// skipped, stopping at the first line that does not decode.
func decodeLines(format string, body []byte, event func(*reader, node) (Alert, error)) ([]Alert, error) {
	var out []Alert
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r := &reader{format: format, line: n}
		root, err := r.parse(line, "one event per line")
		if err != nil {
			return nil, err
		}
		a, err := event(r, root)
		if err != nil {
			return nil, err
		}
		a.Format = format
		out = append(out, a)
	}
	return out, nil
}
