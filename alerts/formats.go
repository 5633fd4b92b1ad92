package alerts

// Strict decoders for what the senders post to `firebreak serve`.
//
// Every body is read into a small JSON tree first (json.Decoder tokens, with
// UseNumber), so that numbers keep every digit, a key given twice in an
// object is refused rather than silently won by the last one, nesting is
// bounded, and every error can name the field it is about by its JSON path
// (alerts[2].labels.alertname, output_fields["evt.time"]). Bodies are not
// kept: an Alert holds only what is copied out of them.
//
// Formats, the documents each is shaped after, and the decisions taken, are
// told at the top of each format's file: formats_falco.go, formats_tetragon.go,
// formats_tracee.go, formats_alertmanager.go and formats_stackrox.go. The JSON
// tree and the typed reader they share are in formats_json.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBody is the largest body Decode and Detect read, in bytes.
const MaxBody = 1 << 20

// Formats are the names Decode takes.
var Formats = []string{"falco", "tetragon", "tracee", "alertmanager", "stackrox"}

// ErrTooLarge is wrapped by the error for a body over MaxBody.
var ErrTooLarge = errors.New("alert body too large")

// FormatError is a body that does not decode: which format, which line
// (JSON lines only), which field, and what is wrong with it.
type FormatError struct {
	Format string // the decoder: falco, tetragon, ...
	Line   int    // 1-based line of a JSON-lines body; 0 otherwise
	Field  string // JSON path of the field, "" for the body as a whole
	Msg    string
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString(e.Format)
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

const expectedShapes = `a Falco event (rule, priority, time, output_fields), ` +
	`a Tetragon event line (process_exec, process_kprobe, ... with node_name, time), ` +
	`a Tracee event line (eventName, timestamp), ` +
	`an Alertmanager webhook (version "4", alerts) ` +
	`or a StackRox webhook (alert)`

// Decode reads body as format's payload and returns its alerts, each with
// Format set. It refuses, with an error naming the field (and the line, for
// tetragon and tracee), anything that is not the documented shape; a body
// over MaxBody (wrapping ErrTooLarge) and one that is not UTF-8. A
// StackRox notifier test decodes to no alerts and no error.
func Decode(format string, body []byte) ([]Alert, error) {
	var dec func([]byte) ([]Alert, error)
	switch format {
	case "falco":
		dec = decodeFalco
	case "tetragon":
		dec = func(b []byte) ([]Alert, error) { return decodeLines("tetragon", b, tetragonEvent) }
	case "tracee":
		dec = func(b []byte) ([]Alert, error) { return decodeLines("tracee", b, traceeEvent) }
	case "alertmanager":
		dec = decodeAlertmanager
	case "stackrox":
		dec = decodeStackRox
	default:
		return nil, fmt.Errorf("unknown alert format %q: use one of %s", format, strings.Join(Formats, ", "))
	}
	if err := checkBody(format, body); err != nil {
		return nil, err
	}
	return dec(body)
}

func checkBody(format string, body []byte) error {
	if len(body) > MaxBody {
		return fmt.Errorf("%w: %s body is %d bytes, over the %d-byte limit (MaxBody)", ErrTooLarge, format, len(body), MaxBody)
	}
	if !utf8.Valid(body) {
		off := 0
		for off < len(body) {
			r, n := utf8.DecodeRune(body[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &FormatError{Format: format, Msg: fmt.Sprintf("the body is not UTF-8 (bad byte 0x%02x at offset %d): JSON must be UTF-8", body[off], off)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &FormatError{Format: format, Msg: "empty body: expected " + shapeOf(format)}
	}
	return nil
}

func shapeOf(format string) string {
	switch format {
	case "falco":
		return "one Falco JSON event (rule, priority, time, output_fields)"
	case "tetragon":
		return "Tetragon JSON export lines, one event per line"
	case "tracee":
		return "Tracee JSON event lines, one event per line"
	case "alertmanager":
		return `an Alertmanager webhook payload (version "4")`
	case "stackrox":
		return `a StackRox generic webhook payload ({"alert": ...})`
	}
	return format
}

// Detect tells which format body is by the shape of its first JSON value
// (so a JSON-lines body is told by its first line). It refuses a body that
// fits none, or more than one, naming what was expected.
func Detect(body []byte) (string, error) {
	if len(body) > MaxBody {
		return "", fmt.Errorf("%w: body is %d bytes, over the %d-byte limit (MaxBody)", ErrTooLarge, len(body), MaxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "", errors.New("cannot tell the alert format of an empty body: expected " + expectedShapes)
	}
	// Only the first object's top-level keys are read, its values skipped:
	// Decode reads the body properly once the format is known.
	m, err := topKeys(body)
	if err != nil {
		return "", err
	}
	has := func(k string) bool { _, ok := m[k]; return ok }
	var found []string
	if has("version") && has("alerts") {
		found = append(found, "alertmanager")
	}
	if has("alert") || has("audit") || has("networkpolicy") {
		found = append(found, "stackrox")
	}
	if has("eventName") {
		found = append(found, "tracee")
	}
	for k := range m {
		if isTetragonKind(k) {
			found = append(found, "tetragon")
			break
		}
	}
	if has("rule") && has("priority") {
		found = append(found, "falco")
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, strconv.Quote(k))
		}
		sort.Strings(keys)
		if len(keys) > 8 {
			keys = append(keys[:8], "...")
		}
		return "", fmt.Errorf("cannot tell the alert format of an object with keys %s: expected %s (or post to /v1/alerts/FORMAT)", strings.Join(keys, ", "), expectedShapes)
	}
	return "", fmt.Errorf("cannot tell the alert format: the object has the keys of %s; post it to /v1/alerts/FORMAT", strings.Join(found, " and "))
}

// topKeys reads the top-level keys of the body's first JSON value, which
// must be an object, skipping the values.
func topKeys(body []byte) (map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("cannot tell the alert format: the body is not JSON (%s); expected %s", jsonErrText(err, dec), expectedShapes)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		what := describeAny(tok)
		if ok && d == '[' {
			what = "an array"
		}
		return nil, fmt.Errorf("cannot tell the alert format: the body is %s, not a JSON object; expected %s", what, expectedShapes)
	}
	m := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("cannot tell the alert format: the body is not JSON (%s); expected %s", jsonErrText(err, dec), expectedShapes)
		}
		k, _ := tok.(string)
		m[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, fmt.Errorf("cannot tell the alert format: the body is not JSON (%s); expected %s", jsonErrText(err, dec), expectedShapes)
		}
	}
	return m, nil
}

func describeAny(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}
