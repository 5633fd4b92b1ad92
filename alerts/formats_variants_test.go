package alerts

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestDecodeFalcoVariants(t *testing.T) {
	f := fixture(t, "falco.json")
	// json_include_output_fields_property: false — no output_fields.
	as := decodeOK(t, "falco", edit(t, f, func(m map[string]any) { delete(m, "output_fields") }))
	if as[0].Fields != nil || as[0].Container != "" || as[0].Pod != "" {
		t.Errorf("without output_fields: Fields %v, Container %q, Pod %q", as[0].Fields, as[0].Container, as[0].Pod)
	}
	// json_include_message_property without output: the message is the output.
	as = decodeOK(t, "falco", edit(t, f, func(m map[string]any) {
		delete(m, "output")
		m["message"] = "A shell was spawned in a container with an attached terminal"
	}))
	if as[0].Output != "A shell was spawned in a container with an attached terminal" {
		t.Errorf("Output = %q, want the message", as[0].Output)
	}
	// "<NA>" and "" name nothing; priority words in any case.
	as = decodeOK(t, "falco", edit(t, f, func(m map[string]any) {
		of := m["output_fields"].(map[string]any)
		of["container.id"] = "<NA>"
		of["k8s.pod.name"] = ""
		m["priority"] = "CRITICAL"
		m["tags"] = nil
	}))
	if as[0].Container != "" || as[0].Pod != "" || as[0].Priority != Critical || as[0].Tags != nil {
		t.Errorf("got Container %q Pod %q Priority %v Tags %v", as[0].Container, as[0].Pod, as[0].Priority, as[0].Tags)
	}
	// Values that are not strings are kept as their JSON text; strings as themselves.
	as = decodeOK(t, "falco", []byte(`{"rule":"r","priority":"Debug","time":"2024-11-28T00:00:00+02:00","output_fields":`+
		`{"a":true,"b":null,"c":1.50,"d":["x",{"y":"\u00e9\"\n"}],"e":"<tab>\t","f":{},"g":-0}}`))
	want := map[string]string{"a": "true", "b": "null", "c": "1.50", "d": `["x",{"y":"é\"\n"}]`, "e": "<tab>\t", "f": "{}", "g": "-0"}
	if !reflect.DeepEqual(as[0].Fields, want) {
		t.Errorf("Fields = %q, want %q", as[0].Fields, want)
	}
	if !as[0].Time.Equal(at(2024, 11, 27, 22, 0, 0, 0)) || as[0].Time.Location() != time.UTC {
		t.Errorf("Time = %v, want it in UTC", as[0].Time)
	}
}

func TestDecodeTetragonVariants(t *testing.T) {
	tg := fixture(t, "tetragon.jsonl")
	kprobe := func(f func(ev map[string]any)) []byte {
		lines := bytes.Split(tg, []byte("\n"))
		return edit(t, lines[1], func(m map[string]any) { f(m["process_kprobe"].(map[string]any)) })
	}
	tests := []struct {
		name      string
		body      []byte
		prio      Priority
		rule      string
		container string
	}{
		{"severity tag", kprobe(func(ev map[string]any) { ev["tags"] = []any{"observability.filesystem", "severity:critical"} }),
			Critical, "file-monitoring-filtered", "1fb931d2f6e5e4cfdbaf30fdb8e2fdd81320bdb3047ded50120a4f82838209ce"},
		{"priority= tag", kprobe(func(ev map[string]any) { ev["tags"] = []any{"Priority=Error"} }),
			Error, "file-monitoring-filtered", "1fb931d2f6e5e4cfdbaf30fdb8e2fdd81320bdb3047ded50120a4f82838209ce"},
		{"no policy name", kprobe(func(ev map[string]any) { delete(ev, "policy_name") }),
			Warning, "security_file_permission", "1fb931d2f6e5e4cfdbaf30fdb8e2fdd81320bdb3047ded50120a4f82838209ce"},
		{"docker only: cut to the short ID", kprobe(func(ev map[string]any) { delete(ev["process"].(map[string]any), "pod") }),
			Warning, "file-monitoring-filtered", "1fb931d2f6e5"},
		{"future event kind", []byte(`{"process_future":{"something":1},"node_name":"n","time":"2024-11-28T00:00:00Z"}`),
			Warning, "process_future", ""},
		{"throttle, no process", []byte(`{"process_throttle":{"type":"THROTTLE_START","cgroup":"/kubepods"},"time":"2024-11-28T00:00:00Z"}`),
			Warning, "process_throttle", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := decodeOK(t, "tetragon", tt.body)
			if len(as) != 1 {
				t.Fatalf("got %d alerts", len(as))
			}
			if as[0].Priority != tt.prio || as[0].Rule != tt.rule || as[0].Container != tt.container {
				t.Errorf("got priority %v rule %q container %q, want %v %q %q", as[0].Priority, as[0].Rule, as[0].Container, tt.prio, tt.rule, tt.container)
			}
		})
	}
	// Blank lines and CRLF line ends are fine, no final newline either.
	crlf := bytes.ReplaceAll(bytes.TrimRight(tg, "\n"), []byte("\n"), []byte("\r\n\r\n"))
	if as := decodeOK(t, "tetragon", crlf); len(as) != 3 {
		t.Errorf("CRLF body: got %d alerts, want 3", len(as))
	}
}

func TestDecodeTraceeVariants(t *testing.T) {
	tr := fixture(t, "tracee.jsonl")
	line2 := bytes.Split(tr, []byte("\n"))[1]
	tests := []struct {
		name string
		set  func(md map[string]any)
		want Priority
	}{
		{"severity 0", func(md map[string]any) { md["Properties"].(map[string]any)["Severity"] = 0 }, Informational},
		{"severity 2", func(md map[string]any) { md["Properties"].(map[string]any)["Severity"] = 2 }, Warning},
		{"severity 4", func(md map[string]any) { md["Properties"].(map[string]any)["Severity"] = 4 }, Critical},
		{"severity word", func(md map[string]any) { md["Properties"].(map[string]any)["Severity"] = "critical" }, Critical},
		{"severity high", func(md map[string]any) { md["Properties"].(map[string]any)["Severity"] = "high" }, Error},
		{"no severity", func(md map[string]any) { delete(md["Properties"].(map[string]any), "Severity") }, Warning},
		{"metadata.Severity", func(md map[string]any) {
			delete(md["Properties"].(map[string]any), "Severity")
			md["Severity"] = 3
		}, Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := edit(t, line2, func(m map[string]any) { tt.set(m["metadata"].(map[string]any)) })
			as := decodeOK(t, "tracee", body)
			if as[0].Priority != tt.want || as[0].Source != "signature" {
				t.Errorf("Priority = %v Source %q, want %v signature", as[0].Priority, as[0].Source, tt.want)
			}
		})
	}
	// The older flat shape: containerId and podNamespace/podName at the top.
	as := decodeOK(t, "tracee", edit(t, line2, func(m map[string]any) {
		delete(m, "container")
		delete(m, "kubernetes")
		m["podName"], m["podNamespace"] = "old-pod", "old-ns"
	}))
	if as[0].Container != "2b5b0b4d9f1c8e7a6d5c4b3a29180706f5e4d3c2b1a09f8e7d6c5b4a39281706" || as[0].Pod != "old-ns/old-pod" {
		t.Errorf("flat shape: Container %q Pod %q", as[0].Container, as[0].Pod)
	}
	// container.id alone.
	as = decodeOK(t, "tracee", edit(t, line2, func(m map[string]any) { delete(m, "containerId") }))
	if as[0].Container != "2b5b0b4d9f1c8e7a6d5c4b3a29180706f5e4d3c2b1a09f8e7d6c5b4a39281706" {
		t.Errorf("container.id alone: Container %q", as[0].Container)
	}
}

func TestDecodeAlertmanagerVariants(t *testing.T) {
	f := fixture(t, "alertmanager_falcosidekick.json")
	labels := func(set map[string]any, del ...string) []byte {
		return edit(t, f, func(m map[string]any) {
			l := walk(m, "alerts", 0, "labels")
			for _, k := range del {
				delete(l, k)
			}
			for k, v := range set {
				l[k] = v
			}
		})
	}
	tests := []struct {
		name      string
		body      []byte
		prio      Priority
		container string
		pod       string
		host      string
	}{
		{"falcosidekick information", labels(map[string]any{"severity": "information"}), Informational, "0a1b2c3d4e5f", "shop/web-7d9c6b5f4-x2x9q", "node-1"},
		{"no severity: the priority label", labels(nil, "severity"), Error, "0a1b2c3d4e5f", "shop/web-7d9c6b5f4-x2x9q", "node-1"},
		{"neither", labels(nil, "severity", "priority"), PriorityUnknown, "0a1b2c3d4e5f", "shop/web-7d9c6b5f4-x2x9q", "node-1"},
		{"free-form severity", labels(map[string]any{"severity": "P1"}, "priority"), PriorityUnknown, "0a1b2c3d4e5f", "shop/web-7d9c6b5f4-x2x9q", "node-1"},
		{"host container", labels(map[string]any{"container_id": "host"}), Warning, "host", "shop/web-7d9c6b5f4-x2x9q", "node-1"},
		{"docker cgroup id", labels(map[string]any{"id": "/system.slice/docker-7c1e4a2b9d8f6e5c4b3a29180716253443526170819a0b1c2d3e4f5061728394.scope", "node": "node-9"}, "container_id"),
			Warning, "7c1e4a2b9d8f6e5c4b3a29180716253443526170819a0b1c2d3e4f5061728394", "shop/web-7d9c6b5f4-x2x9q", "node-9"},
		{"cgroup id that is no container", labels(map[string]any{"id": "/system.slice/kubelet.service"}, "container_id"),
			Warning, "", "shop/web-7d9c6b5f4-x2x9q", "node-1"},
		{"container label is a name", labels(map[string]any{"container": "nginx", "namespace": "ns", "pod": "p"}, "container_id", "hostname"),
			Warning, "", "ns/p", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := decodeOK(t, "alertmanager", tt.body)
			a := as[0]
			if a.Priority != tt.prio || a.Container != tt.container || a.Pod != tt.pod || a.Host != tt.host {
				t.Errorf("got priority %v container %q pod %q host %q, want %v %q %q %q", a.Priority, a.Container, a.Pod, a.Host, tt.prio, tt.container, tt.pod, tt.host)
			}
		})
	}
}

func TestDecodeStackRoxVariants(t *testing.T) {
	// The notifier's Test button.
	as, err := Decode("stackrox", []byte(`{"alert": {"id":"testalert","policy":{"name":"This is a test message created to test integration with StackRox."}}}`))
	if err != nil || len(as) != 0 {
		t.Errorf("test message: %d alerts, err %v; want none and no error", len(as), err)
	}
	f := fixture(t, "stackrox.json")
	as = decodeOK(t, "stackrox", edit(t, f, func(m map[string]any) { walk(m, "alert")["state"] = "RESOLVED" }))
	if !as[0].Resolved {
		t.Error("state RESOLVED: Resolved = false")
	}
	// Processes without times: the last listed with a container ID wins.
	as = decodeOK(t, "stackrox", edit(t, f, func(m map[string]any) {
		for i := 0; i < 3; i++ {
			delete(walk(m, "alert", "processViolation", "processes", i, "signal"), "time")
		}
	}))
	if as[0].Container != "5d4c3b2a1f0e" || as[0].Pod != "shop/web-7d9c6b5f4-abcde" {
		t.Errorf("untimed processes: Container %q Pod %q", as[0].Container, as[0].Pod)
	}
	// An unknown field inside alert (the proto grows) is fine.
	decodeOK(t, "stackrox", edit(t, f, func(m map[string]any) { walk(m, "alert")["platformComponent"] = false }))
}
