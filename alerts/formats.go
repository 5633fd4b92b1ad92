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
// Formats, the documents each is shaped after, and the decisions taken:
//
// falco — one JSON object: Falco's json_output (falco_formats::format_event
// in falcosecurity/falco userspace/engine/formats.cpp: time, rule, priority,
// source, hostname, and output, tags, message, output_fields as
// json_include_output_property, json_include_tags_property,
// json_include_message_property and json_include_output_fields_property
// say), or falcosidekick's re-post of it (types.FalcoPayload: the same plus
// uuid). That key set is fixed and documented, so an unknown top-level key
// is refused (a new Falco key fails loudly and is added here); the keys
// inside output_fields are whatever the rule's output names, all kept.
// rule, priority (a Falco priority word) and time (RFC 3339) are required;
// when time is absent, output_fields["evt.time"] — integer nanoseconds in
// Falco's JSON — is used instead. container.id is the 12-character short ID
// or "host"; "", null and "<NA>" name no container. k8s.ns.name and
// k8s.pod.name give Pod.
//
// tetragon — JSON lines, one GetEventsResponse per line as Tetragon's JSON
// export writes it (protojson with the proto's snake_case names; see
// api/v1/tetragon/events.proto and tetragon.proto): exactly one event key
// (process_exec, process_kprobe, ...) beside the envelope fields node_name,
// time, cluster_name, node_labels and aggregation_info. The event oneof
// grows with Tetragon releases and every kind so far is named process_*,
// so any process_* key (and test, rate_limit_info) is taken as the kind;
// any other unknown top-level key is refused. Inside the event, unknown
// fields are allowed (the proto messages gain fields every release).
// Source is the event kind; Rule is policy_name, else function_name, else
// the kind. Tetragon gives no severity: Priority is Warning, unless the
// tracing policy carries a tag "severity:WORD" or "priority:WORD" (also
// with "="), WORD a Falco priority word; such a tag whose WORD is not one
// is refused, as a policy mistake to fix. Container is
// process.pod.container.id without its "containerd://" (any "scheme://")
// prefix, else process.docker — a truncated ID — cut to the 12-character
// short ID. Tetragon never says "host": a process with neither names none.
//
// tracee — JSON lines, one trace.Event per line (types/trace/trace.go in
// aquasecurity/tracee): timestamp (integer nanoseconds) and eventName are
// required. Tracee's JSON has changed shape across releases (flat podName,
// containerImage and matchedScopes became kubernetes.*, container.* and
// matchedPolicies), so unknown top-level keys are allowed. The container is
// containerId or container.id (refused when they disagree); the pod is
// kubernetes.podNamespace/podName, or the older flat podNamespace/podName.
// A signature finding carries metadata (Go field names: Description, Tags,
// Properties); its severity is metadata.Properties.Severity (metadata.
// Severity is read too), 0..4 mapped as 0 → informational, 1 → notice
// (low), 2 → warning (medium), 3 → error (high), 4 → critical; a Falco
// priority word or low/medium/high/critical given as a string is read too.
// An event without metadata, or without a severity, is Warning, as for
// Tetragon: the user's policy selected it. Source is "signature" for a
// finding (metadata present), "event" otherwise. Tracee names no host
// container: an empty container ID names none. hostName is the process's
// UTS hostname — the pod's name inside a container — so it is Host only
// for an event outside any container (it is in Fields either way).
//
// alertmanager — the webhook payload, version "4" (Message in
// notify/webhook/webhook.go and template.Data in prometheus/alertmanager).
// The version exists to say the shape, so it must be "4" and unknown keys
// are refused, at the top and in each alert (Grafana's webhook, which adds
// orgId, values, silenceURL..., is therefore refused). One Alert per alert
// in the group: ID = fingerprint, Rule = labels.alertname, Time = startsAt,
// Source "alertmanager", Output = annotations.description, else summary,
// Resolved when the alert's status is "resolved". Priority is
// labels.severity (critical, warning, info..., "information" as
// falcosidekick's Alertmanager output writes it, low/medium/high), else
// labels.priority (a Falco priority word, also from falcosidekick), else
// unknown: label values are free-form, so an unrecognised word is not
// refused — it is unknown, and rules can match the label in Fields.
// Container is labels.container_id (kube-state-metrics' "containerd://ID",
// falcosidekick's short ID or "host"), else the container ID at the end of
// labels.id when that is a cAdvisor cgroup path; labels.container is a
// container *name* in Prometheus, not an ID, and is not used. Pod is
// labels.namespace/pod, else falcosidekick's k8s_ns_name/k8s_pod_name. Host
// is labels.node, else labels.hostname (falcosidekick); not instance, which
// is the scrape target (host:port of an exporter), not the host. Fields:
// labels.X, annotations.X, and status, startsAt, endsAt, generatorURL,
// fingerprint, receiver, groupKey, externalURL.
//
// stackrox — the generic webhook ({"alert": storage.Alert as jsonpb writes
// it, camelCase, zero values omitted}, central/notifiers/generic in
// stackrox/stackrox), plus the custom fields the notifier is configured to
// add at the top level: so unknown top-level keys are allowed (and kept in
// Fields), and unknown keys inside alert too (the proto grows). alert.id,
// alert.policy.name, alert.policy.severity and alert.time are required.
// Severity LOW/MEDIUM/HIGH/CRITICAL_SEVERITY → notice, warning, error,
// critical. Source is lifecycleStage, "DEPLOY" when absent (its zero value,
// which jsonpb omits). Resolved when state is "RESOLVED". Container is
// processViolation.processes[].signal.containerId of the most recent
// process (by signal.time; the last listed on a tie) — containerName is a
// name, not an ID — and Pod is that process's namespace/podId. The
// notifier's "Test" button posts an alert with id "testalert" and neither
// severity nor time: it decodes to no alerts, not an error. The same
// notifier's {"audit": ...} and {"networkpolicy": ...} messages are refused
// as not alerts.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
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
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var first any
	if err := dec.Decode(&first); err != nil {
		return "", fmt.Errorf("cannot tell the alert format: the body is not JSON (%s); expected %s", jsonErrText(err, dec), expectedShapes)
	}
	m, ok := first.(map[string]any)
	if !ok {
		return "", fmt.Errorf("cannot tell the alert format: the body is %s, not a JSON object; expected %s", describeAny(first), expectedShapes)
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

// ---- falco ----

var falcoKeys = []string{"uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname", "message"}

const falcoPriorities = "emergency, alert, critical, error, warning, notice, informational, debug"

func decodeFalco(body []byte) ([]Alert, error) {
	r := &reader{format: "falco"}
	root, err := r.parse(body, "one Falco event")
	if err != nil {
		return nil, err
	}
	if err := r.only(root, falcoKeys, "Falco's JSON output"); err != nil {
		return nil, err
	}
	a := Alert{Format: "falco"}
	if a.Rule, err = r.str(root, "rule", true, "the name of the rule that fired"); err != nil {
		return nil, err
	}
	prio, err := r.str(root, "priority", true, "the rule's priority ("+falcoPriorities+")")
	if err != nil {
		return nil, err
	}
	var ok bool
	if a.Priority, ok = ParsePriority(prio); !ok {
		return nil, r.errf("priority", "%q is not a Falco priority (%s)", prio, falcoPriorities)
	}
	for _, s := range []struct {
		key  string
		dst  *string
		what string
	}{
		{"uuid", &a.ID, "the event's UUID"},
		{"source", &a.Source, "the event source, like syscall"},
		{"hostname", &a.Host, "the host's name"},
		{"output", &a.Output, "the rule's formatted output"},
	} {
		if *s.dst, err = r.str(root, s.key, false, s.what); err != nil {
			return nil, err
		}
	}
	msg, err := r.str(root, "message", false, "the rule's message")
	if err != nil {
		return nil, err
	}
	if a.Output == "" {
		a.Output = msg
	}
	if a.Tags, err = r.strs(root, "tags", "the rule's tags"); err != nil {
		return nil, err
	}
	of, hasFields, err := r.obj(root, "output_fields", false, "the fields the rule's output names")
	if err != nil {
		return nil, err
	}
	var evtTime *jvalue
	if hasFields && len(of.v.obj) > 0 {
		a.Fields = make(map[string]string, len(of.v.obj))
		for _, m := range of.v.obj {
			a.Fields[m.key] = fieldText(m.val)
		}
		evtTime = of.v.get("evt.time")
		var cid, ns, pod string
		for _, s := range []struct {
			key string
			dst *string
		}{{"container.id", &cid}, {"k8s.ns.name", &ns}, {"k8s.pod.name", &pod}} {
			if *s.dst, err = r.str(of, s.key, false, "a string"); err != nil {
				return nil, err
			}
		}
		if named(cid) {
			a.Container = cid
		}
		if named(ns) && named(pod) {
			a.Pod = ns + "/" + pod
		}
	}
	t, hasTime, err := r.timestamp(root, "time", false, "the event's time")
	if err != nil {
		return nil, err
	}
	switch {
	case hasTime:
		a.Time = t
	case evtTime != nil:
		ns, ok := integer(evtTime)
		if !ok {
			return nil, r.errf("time", "missing, and output_fields[\"evt.time\"] is %s, not integer nanoseconds: give time (RFC 3339)", jsonText(evtTime))
		}
		a.Time = time.Unix(0, ns).UTC()
	default:
		return nil, r.errf("time", "missing: give the event's time (RFC 3339, like 2024-11-28T00:00:00.123456789Z)")
	}
	return []Alert{a}, nil
}

// ---- tetragon ----

var tetragonEnvelope = []string{"node_name", "time", "cluster_name", "node_labels", "aggregation_info"}

var tetragonKinds = []string{"process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_uprobe",
	"process_lsm", "process_usdt", "process_loader", "process_throttle", "rate_limit_info", "test"}

// tetragonProcessKinds are the kinds whose event has a process.
var tetragonProcessKinds = []string{"process_exec", "process_exit", "process_kprobe", "process_tracepoint",
	"process_uprobe", "process_lsm", "process_usdt", "process_loader"}

func isTetragonKind(k string) bool {
	for _, known := range tetragonKinds {
		if k == known {
			return true
		}
	}
	rest, ok := strings.CutPrefix(k, "process_")
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func tetragonEvent(r *reader, root node) (Alert, error) {
	kind := ""
	for _, m := range root.v.obj {
		envelope := false
		for _, e := range tetragonEnvelope {
			if m.key == e {
				envelope = true
				break
			}
		}
		switch {
		case envelope:
		case !isTetragonKind(m.key):
			hint := ""
			if strings.ToLower(m.key) != m.key {
				hint = "; Tetragon's JSON export uses the proto's snake_case names (process_exec, node_name)"
			}
			return Alert{}, r.errf(root.at(m.key), "unknown field: a Tetragon event line has one event (%s, ...) and %s%s",
				strings.Join(tetragonKinds[:4], ", "), strings.Join(tetragonEnvelope, ", "), hint)
		case kind != "":
			return Alert{}, r.errf(root.at(m.key), "a second event in one line (after %s): give one event per line", kind)
		default:
			kind = m.key
		}
	}
	if kind == "" {
		return Alert{}, r.errf("", "no event: a Tetragon event line has one of %s beside node_name and time", strings.Join(tetragonKinds[:4], ", "))
	}
	a := Alert{Source: kind, Priority: Warning}
	ev, _, err := r.obj(root, kind, true, "the event")
	if err != nil {
		return Alert{}, err
	}
	if a.Host, err = r.str(root, "node_name", false, "the node's name"); err != nil {
		return Alert{}, err
	}
	if _, err = r.str(root, "cluster_name", false, "the cluster's name"); err != nil {
		return Alert{}, err
	}
	if _, _, err = r.strMap(root, "node_labels", false, "node labels"); err != nil {
		return Alert{}, err
	}
	if _, _, err = r.obj(root, "aggregation_info", false, "aggregation counts"); err != nil {
		return Alert{}, err
	}
	if a.Time, _, err = r.timestamp(root, "time", true, "the event's time"); err != nil {
		return Alert{}, err
	}

	needProcess := false
	for _, k := range tetragonProcessKinds {
		if k == kind {
			needProcess = true
		}
	}
	proc, hasProc, err := r.obj(ev, "process", needProcess, "the process the event is about")
	if err != nil {
		return Alert{}, err
	}
	if hasProc {
		docker, err := r.str(proc, "docker", false, "the container ID")
		if err != nil {
			return Alert{}, err
		}
		if _, err := r.str(proc, "binary", false, "the binary's path"); err != nil {
			return Alert{}, err
		}
		pod, hasPod, err := r.obj(proc, "pod", false, "the Kubernetes pod")
		if err != nil {
			return Alert{}, err
		}
		if hasPod {
			ns, err := r.str(pod, "namespace", false, "the pod's namespace")
			if err != nil {
				return Alert{}, err
			}
			name, err := r.str(pod, "name", false, "the pod's name")
			if err != nil {
				return Alert{}, err
			}
			if ns != "" && name != "" {
				a.Pod = ns + "/" + name
			}
			c, hasC, err := r.obj(pod, "container", false, "the container")
			if err != nil {
				return Alert{}, err
			}
			if hasC {
				id, err := r.str(c, "id", false, `the container ID, like "containerd://ID"`)
				if err != nil {
					return Alert{}, err
				}
				if _, err := r.str(c, "name", false, "the container's name"); err != nil {
					return Alert{}, err
				}
				a.Container = stripScheme(id)
			}
		}
		if a.Container == "" {
			a.Container = shortID(docker)
		}
	}
	policy, err := r.str(ev, "policy_name", false, "the tracing policy's name")
	if err != nil {
		return Alert{}, err
	}
	function, err := r.str(ev, "function_name", false, "the hooked function")
	if err != nil {
		return Alert{}, err
	}
	switch {
	case policy != "":
		a.Rule = policy
	case function != "":
		a.Rule = function
	default:
		a.Rule = kind
	}
	if a.Output, err = r.str(ev, "message", false, "the policy's message"); err != nil {
		return Alert{}, err
	}
	if a.Tags, err = r.strs(ev, "tags", "the policy's tags"); err != nil {
		return Alert{}, err
	}
	for i, tag := range a.Tags {
		k, v, ok := strings.Cut(tag, ":")
		if !ok {
			k, v, ok = strings.Cut(tag, "=")
		}
		if k = strings.ToLower(strings.TrimSpace(k)); !ok || (k != "severity" && k != "priority") {
			continue
		}
		p, known := ParsePriority(v)
		if !known {
			return Alert{}, r.errf(fmt.Sprintf("%s.tags[%d]", kind, i), "%q: the tracing policy's %s tag must name a priority (%s)", tag, k, falcoPriorities)
		}
		a.Priority = p
		break
	}
	a.Fields = map[string]string{}
	flatten(a.Fields, "", root.v)
	return a, nil
}

// ---- tracee ----

func traceeEvent(r *reader, root node) (Alert, error) {
	a := Alert{Priority: Warning, Source: "event"}
	ts, ok := root.field("timestamp")
	if !ok {
		return Alert{}, r.errf("timestamp", "missing: give the event's time in nanoseconds since the epoch")
	}
	ns, isInt := integer(ts.v)
	if !isInt || ns < 0 {
		return Alert{}, r.errf("timestamp", "want integer nanoseconds since the epoch, got %s", jsonText(ts.v))
	}
	a.Time = time.Unix(0, ns).UTC()
	var err error
	if a.Rule, err = r.str(root, "eventName", true, "the event's (or signature's) name"); err != nil {
		return Alert{}, err
	}
	hostName, err := r.str(root, "hostName", false, "the host's name")
	if err != nil {
		return Alert{}, err
	}
	if _, err = r.str(root, "processName", false, "the process's name"); err != nil {
		return Alert{}, err
	}
	if _, err = r.strs(root, "matchedPolicies", "the policies that matched"); err != nil {
		return Alert{}, err
	}
	flat, err := r.str(root, "containerId", false, "the container ID")
	if err != nil {
		return Alert{}, err
	}
	nested := ""
	if c, ok, err := r.obj(root, "container", false, "the container"); err != nil {
		return Alert{}, err
	} else if ok {
		if nested, err = r.str(c, "id", false, "the container ID"); err != nil {
			return Alert{}, err
		}
	}
	if flat != "" && nested != "" && flat != nested {
		return Alert{}, r.errf("container.id", "%q disagrees with containerId %q", nested, flat)
	}
	a.Container = flat
	if a.Container == "" {
		a.Container = nested
	}
	if a.Container == "" {
		a.Host = hostName
	}
	podNS, err := r.str(root, "podNamespace", false, "the pod's namespace")
	if err != nil {
		return Alert{}, err
	}
	podName, err := r.str(root, "podName", false, "the pod's name")
	if err != nil {
		return Alert{}, err
	}
	if k, ok, err := r.obj(root, "kubernetes", false, "the Kubernetes pod"); err != nil {
		return Alert{}, err
	} else if ok {
		ns, err := r.str(k, "podNamespace", false, "the pod's namespace")
		if err != nil {
			return Alert{}, err
		}
		name, err := r.str(k, "podName", false, "the pod's name")
		if err != nil {
			return Alert{}, err
		}
		if ns != "" && name != "" {
			podNS, podName = ns, name
		}
	}
	if podNS != "" && podName != "" {
		a.Pod = podNS + "/" + podName
	}
	md, hasMD, err := r.obj(root, "metadata", false, "the signature's metadata")
	if err != nil {
		return Alert{}, err
	}
	if hasMD {
		a.Source = "signature"
		if a.Output, err = r.str(md, "Description", false, "the signature's description"); err != nil {
			return Alert{}, err
		}
		if a.Tags, err = r.strs(md, "Tags", "the signature's tags"); err != nil {
			return Alert{}, err
		}
		sev, hasSev := md.field("Severity")
		props, hasProps, err := r.obj(md, "Properties", false, "the signature's properties")
		if err != nil {
			return Alert{}, err
		}
		if hasProps {
			if s, ok := props.field("Severity"); ok {
				sev, hasSev = s, true
			}
		}
		if hasSev && sev.v.kind != jNull {
			if a.Priority, err = traceeSeverity(r, sev); err != nil {
				return Alert{}, err
			}
		}
	}
	a.Fields = map[string]string{}
	for _, m := range root.v.obj {
		if m.key != "args" {
			flatten(a.Fields, m.key, m.val)
		}
	}
	args, hasArgs, err := r.arr(root, "args", false, "the event's arguments")
	if err != nil {
		return Alert{}, err
	}
	if hasArgs {
		for i, e := range args.v.arr {
			arg := node{v: e, path: args.index(i)}
			if e.kind != jObject {
				return Alert{}, r.errf(arg.path, "want an object (an argument: name, type, value), got %s", e.kind)
			}
			name, err := r.str(arg, "name", true, "the argument's name")
			if err != nil {
				return Alert{}, err
			}
			if _, err := r.str(arg, "type", false, "the argument's type"); err != nil {
				return Alert{}, err
			}
			val := e.get("value")
			if val == nil {
				val = &jvalue{kind: jNull}
			}
			if _, dup := a.Fields["args."+name]; !dup {
				a.Fields["args."+name] = fieldText(val)
			}
		}
	}
	return a, nil
}

var traceeLevels = []Priority{Informational, Notice, Warning, Error, Critical}

// traceeSeverity maps a signature's Severity: 0..4, or a word.
func traceeSeverity(r *reader, sev node) (Priority, error) {
	const want = "0 (info), 1 (low), 2 (medium), 3 (high) or 4 (critical)"
	switch sev.v.kind {
	case jNumber:
		n, ok := integer(sev.v)
		if !ok || n < 0 || n >= int64(len(traceeLevels)) {
			return 0, r.errf(sev.path, "%s is not a Tracee severity: want %s", sev.v.s, want)
		}
		return traceeLevels[n], nil
	case jString:
		if p, ok := severityWord(sev.v.s); ok {
			return p, nil
		}
		return 0, r.errf(sev.path, "%q is not a severity: want %s, or a priority word", sev.v.s, want)
	}
	return 0, r.errf(sev.path, "want a number (%s), got %s", want, sev.v.kind)
}

// severityWord reads a Falco priority word or a low/medium/high scale word.
func severityWord(s string) (Priority, bool) {
	if p, ok := ParsePriority(s); ok {
		return p, true
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "information":
		return Informational, true
	case "low":
		return Notice, true
	case "medium", "moderate":
		return Warning, true
	case "high":
		return Error, true
	}
	return PriorityUnknown, false
}

// ---- alertmanager ----

var (
	amKeys      = []string{"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"}
	amAlertKeys = []string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
)

func decodeAlertmanager(body []byte) ([]Alert, error) {
	r := &reader{format: "alertmanager"}
	root, err := r.parse(body, "an Alertmanager webhook payload")
	if err != nil {
		return nil, err
	}
	version, err := r.str(root, "version", true, `the payload version, "4"`)
	if err != nil {
		return nil, err
	}
	if version != "4" {
		return nil, r.errf("version", "%q is not supported: firebreak reads Alertmanager's webhook payload version \"4\"", version)
	}
	if err := r.only(root, amKeys, "Alertmanager's webhook payload (version 4)"); err != nil {
		return nil, err
	}
	receiver, err := r.str(root, "receiver", true, "the receiver's name")
	if err != nil {
		return nil, err
	}
	if _, err := amStatus(r, root); err != nil {
		return nil, err
	}
	groupKey, err := r.str(root, "groupKey", true, "the group's key")
	if err != nil {
		return nil, err
	}
	externalURL, err := r.str(root, "externalURL", false, "Alertmanager's URL")
	if err != nil {
		return nil, err
	}
	if t, ok := root.field("truncatedAlerts"); ok {
		if n, isInt := integer(t.v); !isInt || n < 0 {
			return nil, r.errf(t.path, "want a count of alerts left out, got %s", jsonText(t.v))
		}
	}
	for _, k := range []string{"groupLabels", "commonLabels", "commonAnnotations"} {
		if _, _, err := r.strMap(root, k, false, "labels"); err != nil {
			return nil, err
		}
	}
	list, _, err := r.arr(root, "alerts", true, "the group's alerts")
	if err != nil {
		return nil, err
	}
	if len(list.v.arr) == 0 {
		return nil, r.errf("alerts", "empty: a notification has at least one alert")
	}
	out := make([]Alert, 0, len(list.v.arr))
	for i, e := range list.v.arr {
		n := node{v: e, path: list.index(i)}
		if e.kind != jObject {
			return nil, r.errf(n.path, "want an object (an alert), got %s", e.kind)
		}
		a, err := amAlert(r, n)
		if err != nil {
			return nil, err
		}
		a.Fields["receiver"] = receiver
		a.Fields["groupKey"] = groupKey
		if externalURL != "" {
			a.Fields["externalURL"] = externalURL
		}
		out = append(out, a)
	}
	return out, nil
}

func amStatus(r *reader, n node) (string, error) {
	s, err := r.str(n, "status", true, `"firing" or "resolved"`)
	if err != nil {
		return "", err
	}
	if s != "firing" && s != "resolved" {
		return "", r.errf(n.at("status"), "%q: want \"firing\" or \"resolved\"", s)
	}
	return s, nil
}

func amAlert(r *reader, n node) (Alert, error) {
	if err := r.only(n, amAlertKeys, "an Alertmanager alert"); err != nil {
		return Alert{}, err
	}
	a := Alert{Format: "alertmanager", Source: "alertmanager", Fields: map[string]string{}}
	status, err := amStatus(r, n)
	if err != nil {
		return Alert{}, err
	}
	a.Resolved = status == "resolved"
	a.Fields["status"] = status
	labels, _, err := r.strMap(n, "labels", true, "the alert's labels")
	if err != nil {
		return Alert{}, err
	}
	if a.Rule, err = r.str(labels, "alertname", true, "the alert's name"); err != nil {
		return Alert{}, err
	}
	annotations, hasAnn, err := r.strMap(n, "annotations", false, "the alert's annotations")
	if err != nil {
		return Alert{}, err
	}
	if a.ID, err = r.str(n, "fingerprint", true, "the alert's fingerprint"); err != nil {
		return Alert{}, err
	}
	if a.Time, _, err = r.timestamp(n, "startsAt", true, "when the alert started"); err != nil {
		return Alert{}, err
	}
	if _, _, err = r.timestamp(n, "endsAt", false, "when the alert ends"); err != nil {
		return Alert{}, err
	}
	for _, k := range []string{"startsAt", "endsAt", "generatorURL", "fingerprint"} {
		s, err := r.str(n, k, false, "text")
		if err != nil {
			return Alert{}, err
		}
		if s != "" {
			a.Fields[k] = s
		}
	}
	label := func(k string) string {
		if v := labels.v.get(k); v != nil {
			return v.s
		}
		return ""
	}
	for _, m := range labels.v.obj {
		a.Fields["labels."+m.key] = m.val.s
	}
	if hasAnn {
		for _, m := range annotations.v.obj {
			a.Fields["annotations."+m.key] = m.val.s
		}
		a.Output = annotations.v.get("description").strOr(annotations.v.get("summary"))
	}
	if p, ok := severityWord(label("severity")); ok {
		a.Priority = p
	} else if p, ok := ParsePriority(label("priority")); ok {
		a.Priority = p
	}
	for _, k := range []string{"node", "hostname"} {
		if h := label(k); h != "" {
			a.Host = h
			break
		}
	}
	a.Container = stripScheme(label("container_id"))
	if a.Container == "" {
		a.Container = cgroupContainerID(label("id"))
	}
	if ns, pod := label("namespace"), label("pod"); ns != "" && pod != "" {
		a.Pod = ns + "/" + pod
	} else if ns, pod := label("k8s_ns_name"), label("k8s_pod_name"); named(ns) && named(pod) {
		a.Pod = ns + "/" + pod
	}
	return a, nil
}

// strOr is v's string, or else's when v is absent or empty.
func (v *jvalue) strOr(alt *jvalue) string {
	if v != nil && v.s != "" {
		return v.s
	}
	if alt != nil {
		return alt.s
	}
	return ""
}

// cgroupContainerID finds the container ID that ends a cAdvisor cgroup
// path: /kubepods/burstable/podUID/ID, /system.slice/docker-ID.scope,
// .../cri-containerd-ID.scope, crio-ID.scope. "" when it names none.
func cgroupContainerID(path string) string {
	last := path[strings.LastIndexByte(path, '/')+1:]
	last = strings.TrimSuffix(last, ".scope")
	if i := strings.LastIndexByte(last, '-'); i >= 0 {
		last = last[i+1:]
	}
	if len(last) != 64 {
		return ""
	}
	for i := 0; i < len(last); i++ {
		c := last[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return last
}

// ---- stackrox ----

var stackroxSeverities = map[string]Priority{
	"LOW_SEVERITY":      Notice,
	"MEDIUM_SEVERITY":   Warning,
	"HIGH_SEVERITY":     Error,
	"CRITICAL_SEVERITY": Critical,
}

func decodeStackRox(body []byte) ([]Alert, error) {
	r := &reader{format: "stackrox"}
	root, err := r.parse(body, `a StackRox webhook payload, {"alert": ...}`)
	if err != nil {
		return nil, err
	}
	if _, ok := root.field("alert"); !ok {
		for _, other := range []string{"audit", "networkpolicy"} {
			if _, ok := root.field(other); ok {
				return nil, r.errf(other, "a StackRox %s message, not an alert: post only alerts here (turn audit logging off on this notifier)", other)
			}
		}
	}
	al, _, err := r.obj(root, "alert", true, "the alert")
	if err != nil {
		return nil, err
	}
	a := Alert{Format: "stackrox"}
	if a.ID, err = r.str(al, "id", true, "the alert's ID"); err != nil {
		return nil, err
	}
	policy, _, err := r.obj(al, "policy", true, "the violated policy")
	if err != nil {
		return nil, err
	}
	if a.ID == "testalert" {
		if _, hasSev := policy.field("severity"); !hasSev {
			if _, hasTime := al.field("time"); !hasTime {
				return []Alert{}, nil // the notifier's Test button
			}
		}
	}
	if a.Rule, err = r.str(policy, "name", true, "the policy's name"); err != nil {
		return nil, err
	}
	sev, err := r.str(policy, "severity", true, "the policy's severity (LOW_SEVERITY ... CRITICAL_SEVERITY)")
	if err != nil {
		return nil, err
	}
	var ok bool
	if a.Priority, ok = stackroxSeverities[sev]; !ok {
		return nil, r.errf("alert.policy.severity", "%q: want LOW_SEVERITY, MEDIUM_SEVERITY, HIGH_SEVERITY or CRITICAL_SEVERITY", sev)
	}
	if a.Tags, err = r.strs(policy, "categories", "the policy's categories"); err != nil {
		return nil, err
	}
	if a.Time, _, err = r.timestamp(al, "time", true, "the violation's time"); err != nil {
		return nil, err
	}
	if a.Source, err = r.str(al, "lifecycleStage", false, "DEPLOY, BUILD or RUNTIME"); err != nil {
		return nil, err
	}
	if a.Source == "" {
		a.Source = "DEPLOY"
	}
	state, err := r.str(al, "state", false, "ACTIVE, SNOOZED, RESOLVED or ATTEMPTED")
	if err != nil {
		return nil, err
	}
	a.Resolved = state == "RESOLVED"
	for _, k := range []string{"clusterName", "namespace"} {
		if _, err := r.str(al, k, false, "text"); err != nil {
			return nil, err
		}
	}
	if dep, ok, err := r.obj(al, "deployment", false, "the deployment"); err != nil {
		return nil, err
	} else if ok {
		for _, k := range []string{"name", "namespace"} {
			if _, err := r.str(dep, k, false, "text"); err != nil {
				return nil, err
			}
		}
		if _, _, err := r.arr(dep, "containers", false, "the deployment's containers"); err != nil {
			return nil, err
		}
	}
	if pv, ok, err := r.obj(al, "processViolation", false, "the processes that violated the policy"); err != nil {
		return nil, err
	} else if ok {
		if a.Output, err = r.str(pv, "message", false, "the violation's message"); err != nil {
			return nil, err
		}
		if err := stackroxProcesses(r, pv, &a); err != nil {
			return nil, err
		}
	}
	if vs, ok, err := r.arr(al, "violations", false, "the violations"); err != nil {
		return nil, err
	} else if ok {
		var msgs []string
		for i, e := range vs.v.arr {
			n := node{v: e, path: vs.index(i)}
			if e.kind != jObject {
				return nil, r.errf(n.path, "want an object (a violation), got %s", e.kind)
			}
			m, err := r.str(n, "message", false, "the violation's message")
			if err != nil {
				return nil, err
			}
			if m != "" {
				msgs = append(msgs, m)
			}
		}
		if a.Output == "" {
			a.Output = strings.Join(msgs, "; ")
		}
	}
	a.Fields = map[string]string{}
	flatten(a.Fields, "", root.v)
	return []Alert{a}, nil
}

// stackroxProcesses picks the container, and pod, of the most recent
// process in a process violation.
func stackroxProcesses(r *reader, pv node, a *Alert) error {
	ps, ok, err := r.arr(pv, "processes", false, "the processes")
	if !ok || err != nil {
		return err
	}
	var latest time.Time
	for i, e := range ps.v.arr {
		p := node{v: e, path: ps.index(i)}
		if e.kind != jObject {
			return r.errf(p.path, "want an object (a process indicator), got %s", e.kind)
		}
		ns, err := r.str(p, "namespace", false, "the pod's namespace")
		if err != nil {
			return err
		}
		pod, err := r.str(p, "podId", false, "the pod's name")
		if err != nil {
			return err
		}
		if _, err := r.str(p, "containerName", false, "the container's name"); err != nil {
			return err
		}
		sig, ok, err := r.obj(p, "signal", false, "the process signal")
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		id, err := r.str(sig, "containerId", false, "the container ID")
		if err != nil {
			return err
		}
		t, _, err := r.timestamp(sig, "time", false, "when the process started")
		if err != nil {
			return err
		}
		if id == "" || t.Before(latest) {
			continue
		}
		latest = t
		a.Container = id
		a.Pod = ""
		if ns != "" && pod != "" {
			a.Pod = ns + "/" + pod
		}
	}
	return nil
}
