package alerts

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// edit decodes a JSON object (numbers kept), lets f change it and encodes it.
func edit(t *testing.T, body []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f(m)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// editLine edits line n (1-based) of a JSON-lines body.
func editLine(t *testing.T, body []byte, n int, f func(m map[string]any)) []byte {
	t.Helper()
	lines := bytes.Split(bytes.TrimRight(body, "\n"), []byte("\n"))
	lines[n-1] = edit(t, lines[n-1], f)
	return append(bytes.Join(lines, []byte("\n")), '\n')
}

// cat joins byte slices into a new one (never appending into a fixture).
func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// walk follows keys and indices to an object inside v.
func walk(v any, path ...any) map[string]any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

type refusal struct {
	name   string
	format string
	body   []byte
	line   int
	field  string
	msg    string
}

func checkRefusals(t *testing.T, tests []refusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as, err := Decode(tt.format, tt.body)
			if err == nil {
				t.Fatalf("decoded %d alerts; want a refusal naming %q", len(as), tt.field)
			}
			if as != nil {
				t.Errorf("alerts returned with the error: %v", as)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FormatError", err)
			}
			if fe.Format != tt.format || fe.Field != tt.field || fe.Line != tt.line {
				t.Errorf("error %q: got format %q line %d field %q, want %q line %d field %q",
					err, fe.Format, fe.Line, fe.Field, tt.format, tt.line, tt.field)
			}
			if !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
			if tt.field != "" && !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
		})
	}
}

func TestDecodeRefusesFalco(t *testing.T) {
	f := fixture(t, "falco.json")
	deep := `{"rule":"r","priority":"Notice","time":"2024-11-28T00:00:00Z","output_fields":{"x":` +
		strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}}`
	checkRefusals(t, []refusal{
		{"missing rule", "falco", edit(t, f, func(m map[string]any) { delete(m, "rule") }), 0, "rule", "missing"},
		{"empty rule", "falco", edit(t, f, func(m map[string]any) { m["rule"] = "" }), 0, "rule", "empty"},
		{"missing priority", "falco", edit(t, f, func(m map[string]any) { delete(m, "priority") }), 0, "priority", "missing"},
		{"bad priority", "falco", edit(t, f, func(m map[string]any) { m["priority"] = "Urgent" }), 0, "priority", "not a Falco priority"},
		{"priority number", "falco", edit(t, f, func(m map[string]any) { m["priority"] = 5 }), 0, "priority", "want a string"},
		{"no time at all", "falco", edit(t, f, func(m map[string]any) {
			delete(m, "time")
			delete(m["output_fields"].(map[string]any), "evt.time")
		}), 0, "time", "missing"},
		{"bad time", "falco", edit(t, f, func(m map[string]any) { m["time"] = "28/11/2024 00:00" }), 0, "time", "RFC 3339"},
		{"time number", "falco", edit(t, f, func(m map[string]any) { m["time"] = 1732752000 }), 0, "time", "want a string"},
		{"evt.time not ns", "falco", edit(t, f, func(m map[string]any) {
			delete(m, "time")
			m["output_fields"].(map[string]any)["evt.time"] = "00:00:00.123456789"
		}), 0, "time", "not integer nanoseconds"},
		{"unknown key", "falco", edit(t, f, func(m map[string]any) { m["severity"] = "high" }), 0, "severity", "unknown field"},
		{"tags not a list", "falco", edit(t, f, func(m map[string]any) { m["tags"] = "shell" }), 0, "tags", "want an array"},
		{"tag not a string", "falco", edit(t, f, func(m map[string]any) { m["tags"] = []any{"a", 2} }), 0, "tags[1]", "want a string"},
		{"output_fields list", "falco", edit(t, f, func(m map[string]any) { m["output_fields"] = []any{} }), 0, "output_fields", "want an object"},
		{"container.id number", "falco", edit(t, f, func(m map[string]any) { m["output_fields"].(map[string]any)["container.id"] = 12 }),
			0, `output_fields["container.id"]`, "want a string"},
		{"hostname object", "falco", edit(t, f, func(m map[string]any) { m["hostname"] = map[string]any{} }), 0, "hostname", "want a string"},
		{"trailing object", "falco", cat(bytes.TrimSpace(f), []byte(` {"rule":"x"}`)), 0, "", "trailing data"},
		{"trailing garbage", "falco", cat(bytes.TrimSpace(f), []byte("}")), 0, "", "trailing data"},
		{"truncated", "falco", bytes.TrimSuffix(bytes.TrimSpace(f), []byte("}")), 0, "", "unexpected end of JSON"},
		{"cut in a value", "falco", f[:bytes.Index(f, []byte(`"output":"`))+20], 0, "output", "not JSON"},
		{"not JSON", "falco", []byte("Notice A shell was spawned"), 0, "", "not JSON"},
		{"array", "falco", []byte(`[` + string(bytes.TrimSpace(f)) + `]`), 0, "", "want a JSON object"},
		{"repeated key", "falco", []byte(`{"rule":"a","rule":"b","priority":"Notice","time":"2024-11-28T00:00:00Z"}`), 0, "rule", "given twice"},
		{"repeated inner key", "falco", []byte(`{"rule":"a","priority":"Notice","time":"2024-11-28T00:00:00Z","output_fields":{"proc.name":"a","proc.name":"b"}}`),
			0, `output_fields["proc.name"]`, "given twice"},
		{"too deep", "falco", []byte(deep), 0, "output_fields.x" + strings.Repeat("[0]", maxDepth-2), "nested deeper"},
		{"not UTF-8", "falco", []byte("{\"rule\":\"caf\xe9\"}"), 0, "", "not UTF-8"},
		{"empty", "falco", []byte(" \n\t"), 0, "", "empty body"},
	})
}

func TestDecodeRefusesLines(t *testing.T) {
	tg := fixture(t, "tetragon.jsonl")
	tr := fixture(t, "tracee.jsonl")
	tgLines := bytes.Split(tg, []byte("\n"))
	checkRefusals(t, []refusal{
		{"tetragon bad line", "tetragon", bytes.Replace(tg, []byte(`{"process_kprobe"`), []byte(`{"process_kprobe" `+"\x7f"), 1), 2, "process_kprobe", "not JSON"},
		{"tetragon two events in a line", "tetragon", cat(bytes.TrimSuffix(tgLines[0], []byte("}")), []byte(`,"process_exit":{"process":{}}}`+"\n")),
			1, "process_exit", "a second event"},
		{"tetragon line holds two objects", "tetragon", []byte(string(tgLines[0]) + " " + string(tgLines[1]) + "\n"), 1, "", "trailing data"},
		{"tetragon missing time", "tetragon", editLine(t, tg, 3, func(m map[string]any) { delete(m, "time") }), 3, "time", "missing"},
		{"tetragon bad time", "tetragon", editLine(t, tg, 1, func(m map[string]any) { m["time"] = "yesterday" }), 1, "time", "RFC 3339"},
		{"tetragon camelCase", "tetragon", []byte(`{"processExec":{"process":{}},"nodeName":"n","time":"2024-11-28T00:00:00Z"}`), 1, "processExec", "snake_case"},
		{"tetragon unknown field", "tetragon", editLine(t, tg, 2, func(m map[string]any) { m["severity"] = "high" }), 2, "severity", "unknown field"},
		{"tetragon no event", "tetragon", []byte(`{"node_name":"n","time":"2024-11-28T00:00:00Z"}`), 1, "", "no event"},
		{"tetragon event not object", "tetragon", []byte(`{"process_exec":[],"time":"2024-11-28T00:00:00Z"}`), 1, "process_exec", "want an object"},
		{"tetragon kprobe without process", "tetragon", editLine(t, tg, 2, func(m map[string]any) { delete(m["process_kprobe"].(map[string]any), "process") }),
			2, "process_kprobe.process", "missing"},
		{"tetragon container id number", "tetragon", editLine(t, tg, 2, func(m map[string]any) {
			walk(m, "process_kprobe", "process", "pod", "container")["id"] = 7
		}), 2, "process_kprobe.process.pod.container.id", "want a string"},
		{"tetragon bad severity tag", "tetragon", editLine(t, tg, 2, func(m map[string]any) {
			m["process_kprobe"].(map[string]any)["tags"] = []any{"observability.filesystem", "severity:urgent"}
		}), 2, "process_kprobe.tags[1]", "must name a priority"},
		{"tetragon node_labels not strings", "tetragon", editLine(t, tg, 1, func(m map[string]any) { m["node_labels"] = map[string]any{"zone": 3} }),
			1, "node_labels.zone", "want a string"},

		{"tracee bad line", "tracee", cat(tr, []byte("{\"timestamp\":1,\n")), 4, "", "unexpected end of JSON"},
		{"tracee timestamp string", "tracee", editLine(t, tr, 2, func(m map[string]any) { m["timestamp"] = "1732752006000000123" }), 2, "timestamp", "integer nanoseconds"},
		{"tracee timestamp fraction", "tracee", editLine(t, tr, 1, func(m map[string]any) { m["timestamp"] = json.Number("1680119087.787") }), 1, "timestamp", "integer nanoseconds"},
		{"tracee missing timestamp", "tracee", editLine(t, tr, 3, func(m map[string]any) { delete(m, "timestamp") }), 3, "timestamp", "missing"},
		{"tracee missing eventName", "tracee", editLine(t, tr, 3, func(m map[string]any) { delete(m, "eventName") }), 3, "eventName", "missing"},
		{"tracee severity 7", "tracee", editLine(t, tr, 2, func(m map[string]any) { walk(m, "metadata", "Properties")["Severity"] = 7 }),
			2, "metadata.Properties.Severity", "not a Tracee severity"},
		{"tracee severity word", "tracee", editLine(t, tr, 2, func(m map[string]any) { walk(m, "metadata", "Properties")["Severity"] = "urgent" }),
			2, "metadata.Properties.Severity", "not a severity"},
		{"tracee severity bool", "tracee", editLine(t, tr, 2, func(m map[string]any) { walk(m, "metadata", "Properties")["Severity"] = true }),
			2, "metadata.Properties.Severity", "want a number"},
		{"tracee container ids disagree", "tracee", editLine(t, tr, 3, func(m map[string]any) { m["containerId"] = "ffff" }), 3, "container.id", "disagrees"},
		{"tracee arg without name", "tracee", editLine(t, tr, 3, func(m map[string]any) { delete(walk(m, "args", 0), "name") }), 3, "args[0].name", "missing"},
		{"tracee metadata list", "tracee", editLine(t, tr, 1, func(m map[string]any) { m["metadata"] = []any{} }), 1, "metadata", "want an object"},
		{"tracee kubernetes podName number", "tracee", editLine(t, tr, 2, func(m map[string]any) { walk(m, "kubernetes")["podName"] = 1 }),
			2, "kubernetes.podName", "want a string"},
	})
}

func TestDecodeRefusesAlertmanager(t *testing.T) {
	f := fixture(t, "alertmanager.json")
	alert0 := func(m map[string]any) map[string]any { return walk(m, "alerts", 0) }
	checkRefusals(t, []refusal{
		{"version 3", "alertmanager", edit(t, f, func(m map[string]any) { m["version"] = "3" }), 0, "version", `"3" is not supported`},
		{"no version", "alertmanager", edit(t, f, func(m map[string]any) { delete(m, "version") }), 0, "version", "missing"},
		{"version number", "alertmanager", edit(t, f, func(m map[string]any) { m["version"] = 4 }), 0, "version", "want a string"},
		{"grafana orgId", "alertmanager", edit(t, f, func(m map[string]any) { m["orgId"] = 1 }), 0, "orgId", "unknown field"},
		{"grafana silenceURL", "alertmanager", edit(t, f, func(m map[string]any) { alert0(m)["silenceURL"] = "x" }), 0, "alerts[0].silenceURL", "unknown field"},
		{"label not a string", "alertmanager", edit(t, f, func(m map[string]any) { walk(m, "alerts", 0, "labels")["severity"] = 2 }),
			0, "alerts[0].labels.severity", "want a string"},
		{"no alertname", "alertmanager", edit(t, f, func(m map[string]any) { delete(walk(m, "alerts", 1, "labels"), "alertname") }),
			0, "alerts[1].labels.alertname", "missing"},
		{"no labels", "alertmanager", edit(t, f, func(m map[string]any) { delete(alert0(m), "labels") }), 0, "alerts[0].labels", "missing"},
		{"bad alert status", "alertmanager", edit(t, f, func(m map[string]any) { alert0(m)["status"] = "pending" }), 0, "alerts[0].status", `"pending"`},
		{"bad group status", "alertmanager", edit(t, f, func(m map[string]any) { m["status"] = "ok" }), 0, "status", `"ok"`},
		{"bad startsAt", "alertmanager", edit(t, f, func(m map[string]any) { alert0(m)["startsAt"] = "now" }), 0, "alerts[0].startsAt", "RFC 3339"},
		{"bad endsAt", "alertmanager", edit(t, f, func(m map[string]any) { walk(m, "alerts", 1)["endsAt"] = "" }), 0, "alerts[1].endsAt", "empty"},
		{"no fingerprint", "alertmanager", edit(t, f, func(m map[string]any) { delete(alert0(m), "fingerprint") }), 0, "alerts[0].fingerprint", "missing"},
		{"no receiver", "alertmanager", edit(t, f, func(m map[string]any) { delete(m, "receiver") }), 0, "receiver", "missing"},
		{"no groupKey", "alertmanager", edit(t, f, func(m map[string]any) { delete(m, "groupKey") }), 0, "groupKey", "missing"},
		{"empty alerts", "alertmanager", edit(t, f, func(m map[string]any) { m["alerts"] = []any{} }), 0, "alerts", "empty"},
		{"alerts object", "alertmanager", edit(t, f, func(m map[string]any) { m["alerts"] = map[string]any{} }), 0, "alerts", "want an array"},
		{"alert not object", "alertmanager", edit(t, f, func(m map[string]any) { m["alerts"] = []any{"x"} }), 0, "alerts[0]", "want an object"},
		{"negative truncatedAlerts", "alertmanager", edit(t, f, func(m map[string]any) { m["truncatedAlerts"] = -1 }), 0, "truncatedAlerts", "count"},
		{"commonLabels not strings", "alertmanager", edit(t, f, func(m map[string]any) { walk(m, "commonLabels")["pod"] = nil }),
			0, "commonLabels.pod", "want a string"},
	})
}

func TestDecodeRefusesStackRox(t *testing.T) {
	f := fixture(t, "stackrox.json")
	checkRefusals(t, []refusal{
		{"no alert", "stackrox", []byte(`{"cluster":"prod-eu"}`), 0, "alert", "missing"},
		{"audit message", "stackrox", []byte(`{"audit":{"time":"2024-11-28T00:00:00Z","request":{}}}`), 0, "audit", "not an alert"},
		{"alert a string", "stackrox", edit(t, f, func(m map[string]any) { m["alert"] = "x" }), 0, "alert", "want an object"},
		{"no id", "stackrox", edit(t, f, func(m map[string]any) { delete(walk(m, "alert"), "id") }), 0, "alert.id", "missing"},
		{"no policy name", "stackrox", edit(t, f, func(m map[string]any) { delete(walk(m, "alert", "policy"), "name") }), 0, "alert.policy.name", "missing"},
		{"bad severity", "stackrox", edit(t, f, func(m map[string]any) { walk(m, "alert", "policy")["severity"] = "HIGH" }), 0, "alert.policy.severity", "want LOW_SEVERITY"},
		{"unset severity", "stackrox", edit(t, f, func(m map[string]any) { walk(m, "alert", "policy")["severity"] = "UNSET_SEVERITY" }), 0, "alert.policy.severity", "want LOW_SEVERITY"},
		{"no severity", "stackrox", edit(t, f, func(m map[string]any) { delete(walk(m, "alert", "policy"), "severity") }), 0, "alert.policy.severity", "missing"},
		{"no time", "stackrox", edit(t, f, func(m map[string]any) { delete(walk(m, "alert"), "time") }), 0, "alert.time", "missing"},
		{"containerId number", "stackrox", edit(t, f, func(m map[string]any) {
			walk(m, "alert", "processViolation", "processes", 1, "signal")["containerId"] = 5
		}), 0, "alert.processViolation.processes[1].signal.containerId", "want a string"},
		{"process signal time", "stackrox", edit(t, f, func(m map[string]any) {
			walk(m, "alert", "processViolation", "processes", 0, "signal")["time"] = "soon"
		}), 0, "alert.processViolation.processes[0].signal.time", "RFC 3339"},
		{"violation not object", "stackrox", edit(t, f, func(m map[string]any) { walk(m, "alert")["violations"] = []any{"x"} }),
			0, "alert.violations[0]", "want an object"},
		{"categories not strings", "stackrox", edit(t, f, func(m map[string]any) { walk(m, "alert", "policy")["categories"] = []any{1} }),
			0, "alert.policy.categories[0]", "want a string"},
	})
}

func TestDecodeRefusesBodies(t *testing.T) {
	big := make([]byte, MaxBody+1)
	for i := range big {
		big[i] = ' '
	}
	for _, format := range Formats {
		_, err := Decode(format, big)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: oversized body: err = %v, want ErrTooLarge", format, err)
		} else if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(MaxBody+1)) || !strings.Contains(msg, strconv.Itoa(MaxBody)) {
			t.Errorf("%s: %q does not say the size and the limit", format, msg)
		}
		_, err = Decode(format, []byte("{\"a\":\"\xff\xfe\"}"))
		if err == nil || !strings.Contains(err.Error(), "not UTF-8") || !strings.Contains(err.Error(), "offset 6") {
			t.Errorf("%s: non-UTF-8 body: err = %v", format, err)
		}
	}
	if _, err := Decode("sysdig", fixture(t, "falco.json")); err == nil || !strings.Contains(err.Error(), "falco, tetragon, tracee, alertmanager, stackrox") {
		t.Errorf("unknown format: err = %v, want one naming the formats", err)
	}
}
