package alerts

// The fixtures in testdata/formats are hand-written after the senders' own
// documentation and source; testdata/formats/README.md says which.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "formats", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

func decodeOK(t *testing.T, format string, body []byte) []Alert {
	t.Helper()
	as, err := Decode(format, body)
	if err != nil {
		t.Fatalf("Decode(%s): %v", format, err)
	}
	return as
}

// sameAlert compares everything but Fields, which callers check.
func sameAlert(t *testing.T, got, want Alert) {
	t.Helper()
	g, w := got, want
	g.Fields, w.Fields = nil, nil
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("alert differs\n got: %s %s\nwant: %s %s", gj, got.Time, wj, want.Time)
	}
}

// hasFields checks the given entries (the rest are not looked at).
func hasFields(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("Fields[%q] missing, want %q", k, v)
		} else if g != v {
			t.Errorf("Fields[%q] = %q, want %q", k, g, v)
		}
	}
}

func TestDecodeFalcoFixtures(t *testing.T) {
	tests := []struct {
		file   string
		want   Alert
		fields map[string]string // exactly
	}{
		{
			file: "falco.json",
			want: Alert{
				Format: "falco", Source: "syscall", Rule: "Terminal shell in container", Priority: Notice,
				Time:      at(2024, 11, 28, 0, 0, 0, 123456789),
				Output:    "2024-11-28T00:00:00.123456789Z: Notice A shell was spawned in a container with an attached terminal | evt_type=execve user=root user_uid=0 user_loginuid=-1 process=bash proc_exepath=/usr/bin/bash parent=runc command=bash terminal=34816 exe_flags=EXE_WRITABLE container_id=0a1b2c3d4e5f container_name=nginx container_image_repository=docker.io/library/nginx container_image_tag=1.27 k8s_pod_name=web-7d9c6b5f4-x2x9q k8s_ns_name=shop",
				Host:      "node-1",
				Tags:      []string{"T1059", "container", "maturity_stable", "mitre_execution", "shell"},
				Container: "0a1b2c3d4e5f",
				Pod:       "shop/web-7d9c6b5f4-x2x9q",
			},
			fields: map[string]string{
				"container.id": "0a1b2c3d4e5f", "container.image.repository": "docker.io/library/nginx",
				"container.image.tag": "1.27", "container.name": "nginx", "evt.arg.flags": "EXE_WRITABLE",
				"evt.time": "1732752000123456789", "evt.type": "execve", "k8s.ns.name": "shop",
				"k8s.pod.name": "web-7d9c6b5f4-x2x9q", "proc.cmdline": "bash", "proc.exepath": "/usr/bin/bash",
				"proc.name": "bash", "proc.pname": "runc", "proc.tty": "34816", "user.loginuid": "-1",
				"user.name": "root", "user.uid": "0",
			},
		},
		{
			// json_include_output_property: false, json_include_tags_property: false; a host event.
			file: "falco_no_output.json",
			want: Alert{
				Format: "falco", Source: "syscall", Rule: "Read sensitive file untrusted", Priority: Warning,
				Time: at(2024, 11, 28, 0, 0, 1, 42), Host: "node-1", Container: "host",
			},
			fields: map[string]string{
				"container.id": "host", "container.name": "host", "evt.time": "1732752001000000042",
				"fd.name": "/etc/shadow", "k8s.ns.name": "null", "k8s.pod.name": "null",
				"proc.aname[2]": "systemd", "proc.cmdline": "cat /etc/shadow", "proc.pcmdline": "bash", "user.name": "root",
			},
		},
		{
			file: "falcosidekick.json",
			want: Alert{
				Format: "falco", ID: "2e4b6f3c-9a1d-4b7e-8f2a-5c6d7e8f9a0b", Source: "syscall",
				Rule: "Detect crypto miners using the Stratum protocol", Priority: Critical,
				Time:      at(2024, 11, 28, 0, 0, 5, 500000000),
				Output:    "2024-11-28T00:00:05.5Z: Critical Detected crypto miner activity (proc=xmrig cmdline=xmrig -o stratum+tcp://pool.example:3333 container=0a1b2c3d4e5f image=docker.io/attacker/miner)",
				Host:      "node-1",
				Tags:      []string{"T1496", "mitre_impact", "process"},
				Container: "0a1b2c3d4e5f", Pod: "shop/web-7d9c6b5f4-x2x9q",
			},
			fields: map[string]string{
				"container.id": "0a1b2c3d4e5f", "container.image.repository": "docker.io/attacker/miner",
				"evt.time": "1732752005500000000", "k8s.ns.name": "shop", "k8s.pod.name": "web-7d9c6b5f4-x2x9q",
				"proc.cmdline": "xmrig -o stratum+tcp://pool.example:3333", "proc.name": "xmrig",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			as := decodeOK(t, "falco", fixture(t, tt.file))
			if len(as) != 1 {
				t.Fatalf("got %d alerts, want 1", len(as))
			}
			sameAlert(t, as[0], tt.want)
			if !reflect.DeepEqual(as[0].Fields, tt.fields) {
				t.Errorf("Fields = %v\nwant %v", as[0].Fields, tt.fields)
			}
			if tt.want.Container == "host" && !as[0].OnHost() {
				t.Error("OnHost() = false for container.id host")
			}
		})
	}
}

// evt.time is integer nanoseconds: it must not go through float64.
func TestDecodeFalcoEvtTimeDigits(t *testing.T) {
	const ns = 1732752000123456789
	if int64(float64(ns)) == ns {
		t.Fatal("test value survives float64; pick one that does not")
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(fixture(t, "falco.json")))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	delete(m, "time")
	body, _ := json.Marshal(m)
	if !bytes.Contains(body, []byte(`"evt.time":1732752000123456789`)) {
		t.Fatalf("fixture lost evt.time: %s", body)
	}
	as := decodeOK(t, "falco", body)
	if got := as[0].Fields["evt.time"]; got != strconv.FormatInt(ns, 10) {
		t.Errorf(`Fields["evt.time"] = %q, want every digit of %d`, got, ns)
	}
	if want := time.Unix(0, ns); !as[0].Time.Equal(want) || as[0].Time.Nanosecond() != 123456789 {
		t.Errorf("Time = %s, want %s from evt.time", as[0].Time.Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
}

func TestDecodeTetragonFixture(t *testing.T) {
	as := decodeOK(t, "tetragon", fixture(t, "tetragon.jsonl"))
	if len(as) != 3 {
		t.Fatalf("got %d alerts, want 3 (one per line)", len(as))
	}
	const full = "1fb931d2f6e5e4cfdbaf30fdb8e2fdd81320bdb3047ded50120a4f82838209ce"
	want := []Alert{
		{Format: "tetragon", Source: "process_exec", Rule: "process_exec", Priority: Warning,
			Time: at(2024, 11, 28, 0, 0, 2, 615000000), Host: "kind-control-plane", Container: full, Pod: "default/xwing"},
		{Format: "tetragon", Source: "process_kprobe", Rule: "file-monitoring-filtered", Priority: Warning,
			Time: at(2024, 11, 28, 0, 0, 3, 512345678), Output: "Sensitive file read", Host: "kind-control-plane",
			Tags: []string{"observability.filesystem", "observability.process"}, Container: full, Pod: "default/xwing"},
		{Format: "tetragon", Source: "process_exit", Rule: "process_exit", Priority: Warning,
			Time: at(2024, 11, 28, 0, 0, 4, 250000000), Host: "kind-control-plane"},
	}
	for i := range want {
		sameAlert(t, as[i], want[i])
	}
	hasFields(t, as[0].Fields, map[string]string{
		"node_name":                                 "kind-control-plane",
		"time":                                      "2024-11-28T00:00:02.615Z",
		"process_exec.process.binary":               "/usr/bin/whoami",
		"process_exec.process.pid":                  "51611",
		"process_exec.process.auid":                 "4294967295",
		"process_exec.process.docker":               "1fb931d2f6e5e4cfdbaf30fdb8e2fdd",
		"process_exec.process.pod.container.id":     "containerd://" + full,
		"process_exec.process.pod.pod_labels.class": "xwing",
		"process_exec.parent.binary":                "/bin/bash",
	})
	hasFields(t, as[1].Fields, map[string]string{
		"process_kprobe.function_name":     "security_file_permission",
		"process_kprobe.policy_name":       "file-monitoring-filtered",
		"process_kprobe.process.arguments": "/etc/shadow",
		"process_kprobe.args":              `[{"file_arg":{"path":"/etc/shadow","permission":"-rw-r-----"}},{"int_arg":4}]`,
		"process_kprobe.return.int_arg":    "0",
		"process_kprobe.tags":              `["observability.filesystem","observability.process"]`,
	})
	wantExit := map[string]string{
		"node_name": "kind-control-plane", "time": "2024-11-28T00:00:04.250Z",
		"process_exit.time":                   "2024-11-28T00:00:04.250Z",
		"process_exit.process.exec_id":        "a2luZC1jb250cm9sLXBsYW5lOjExNDI5MDAwMDAwMDA6OTg3Ng==",
		"process_exit.process.pid":            "9876",
		"process_exit.process.uid":            "1000",
		"process_exit.process.cwd":            "/home/ops",
		"process_exit.process.binary":         "/usr/bin/curl",
		"process_exit.process.arguments":      "-s https://example.com/",
		"process_exit.process.flags":          "execve clone",
		"process_exit.process.start_time":     "2024-11-28T00:00:04Z",
		"process_exit.process.auid":           "1000",
		"process_exit.process.parent_exec_id": "a2luZC1jb250cm9sLXBsYW5lOjExNDI4OTAwMDAwMDA6OTg3MA==",
		"process_exit.process.tid":            "9876",
		"process_exit.parent.exec_id":         "a2luZC1jb250cm9sLXBsYW5lOjExNDI4OTAwMDAwMDA6OTg3MA==",
		"process_exit.parent.pid":             "9870",
		"process_exit.parent.uid":             "1000",
		"process_exit.parent.cwd":             "/home/ops",
		"process_exit.parent.binary":          "/usr/bin/bash",
		"process_exit.parent.flags":           "execve",
		"process_exit.parent.start_time":      "2024-11-27T22:00:00Z",
		"process_exit.parent.auid":            "1000",
		"process_exit.parent.tid":             "9870",
	}
	if !reflect.DeepEqual(as[2].Fields, wantExit) {
		t.Errorf("exit Fields = %v\nwant %v", as[2].Fields, wantExit)
	}
}

func TestDecodeTraceeFixture(t *testing.T) {
	as := decodeOK(t, "tracee", fixture(t, "tracee.jsonl"))
	if len(as) != 3 {
		t.Fatalf("got %d alerts, want 3", len(as))
	}
	const cid = "2b5b0b4d9f1c8e7a6d5c4b3a29180706f5e4d3c2b1a09f8e7d6c5b4a39281706"
	want := []Alert{
		{Format: "tracee", Source: "signature", Rule: "Anti-Debugging detected", Priority: Notice,
			Time:   time.Unix(0, 1680119087787203746).UTC(),
			Output: "A process used anti-debugging techniques to block a debugger. Malware use anti-debugging to stay invisible and inhibit analysis of their behavior.",
			Host:   "ubuntu-jammy"},
		{Format: "tracee", Source: "signature", Rule: "ptrace_code_injection", Priority: Error,
			Time:      time.Unix(0, 1732752006000000123).UTC(),
			Output:    "Possible code injection into another process was detected. Code injection is an exploitation technique used to run malicious code, adversaries may use it in order to execute their malware.",
			Container: cid, Pod: "shop/web-7d9c6b5f4-x2x9q"},
		{Format: "tracee", Source: "event", Rule: "security_file_open", Priority: Warning,
			Time: time.Unix(0, 1732752007000000000).UTC(), Container: cid, Pod: "shop/web-7d9c6b5f4-x2x9q"},
	}
	for i := range want {
		sameAlert(t, as[i], want[i])
	}
	hasFields(t, as[0].Fields, map[string]string{
		"metadata.Properties.signatureID": "TRC-102",
		"metadata.Properties.Severity":    "1",
		"metadata.Tags":                   "null",
		"matchedScopes":                   "1",
		"stackAddresses":                  "null",
		"contextFlags.containerStarted":   "false",
	})
	hasFields(t, as[1].Fields, map[string]string{
		"container.image":                 "docker.io/library/nginx:1.27",
		"kubernetes.podUID":               "5f0c9a43-8d2e-4f61-9b7a-3e2d1c0b9a87",
		"matchedPolicies":                 `["default"]`,
		"executable.path":                 "/tmp/injector",
		"args.triggeredBy":                `{"id":101,"name":"ptrace","args":[{"name":"request","type":"long","value":"PTRACE_POKETEXT"},{"name":"pid","type":"pid_t","value":12}],"returnValue":0}`,
		"metadata.Properties.external_id": "T1055.008",
	})
	hasFields(t, as[2].Fields, map[string]string{
		"args.pathname":         "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"args.flags":            "O_RDONLY|O_LARGEFILE",
		"args.dev":              "45",
		"args.ctime":            "1732751000123456789",
		"args.syscall_pathname": "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"timestamp":             "1732752007000000000",
		"syscall":               "openat",
		"hostName":              "web-7d9c6b5f4-x2x9q", // the container's UTS name: not Host
	})
	for k := range as[2].Fields {
		if k == "args" || strings.HasPrefix(k, "metadata") {
			t.Errorf("unexpected field %q", k)
		}
	}
}

func TestDecodeAlertmanagerFixtures(t *testing.T) {
	as := decodeOK(t, "alertmanager", fixture(t, "alertmanager.json"))
	if len(as) != 2 {
		t.Fatalf("got %d alerts, want one per alert in the group (2)", len(as))
	}
	group := map[string]string{
		"receiver":    "firebreak",
		"groupKey":    `{}/{severity=~"critical|warning"}:{namespace="shop"}`,
		"externalURL": "http://alertmanager.example:9093",
	}
	with := func(m map[string]string) map[string]string {
		for k, v := range group {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		want   Alert
		fields map[string]string
	}{
		{
			want: Alert{Format: "alertmanager", ID: "3f1c2a9b8d7e6f50", Source: "alertmanager",
				Rule: "UnexpectedOutboundConnection", Priority: Critical, Time: at(2024, 11, 27, 23, 0, 10, 500000000),
				Output:    "Container shop/web-7d9c6b5f4-x2x9q/miner opened 57 connections to port 3333.",
				Container: "7c1e4a2b9d8f6e5c4b3a29180716253443526170819a0b1c2d3e4f5061728394",
				Pod:       "shop/web-7d9c6b5f4-x2x9q"},
			fields: with(map[string]string{
				"status": "firing", "startsAt": "2024-11-28T00:00:10.5+01:00", "endsAt": "0001-01-01T00:00:00Z",
				"generatorURL":     "http://prometheus.example:9090/graph?g0.expr=sum+by+%28container_id%29+%28rate%28conn_total%5B1m%5D%29%29+%3E+1&g0.tab=1",
				"fingerprint":      "3f1c2a9b8d7e6f50",
				"labels.alertname": "UnexpectedOutboundConnection", "labels.container": "miner",
				"labels.container_id": "containerd://7c1e4a2b9d8f6e5c4b3a29180716253443526170819a0b1c2d3e4f5061728394",
				"labels.instance":     "10.0.0.11:8080", "labels.job": "kube-state-metrics", "labels.namespace": "shop",
				"labels.pod": "web-7d9c6b5f4-x2x9q", "labels.severity": "critical",
				"annotations.description": "Container shop/web-7d9c6b5f4-x2x9q/miner opened 57 connections to port 3333.",
				"annotations.runbook_url": "https://runbooks.example/outbound",
				"annotations.summary":     "Outbound connections to a mining pool port",
			}),
		},
		{
			want: Alert{Format: "alertmanager", ID: "a91b2c3d4e5f6071", Source: "alertmanager",
				Rule: "ContainerHighCPU", Priority: Warning, Time: at(2024, 11, 27, 23, 40, 0, 0),
				Output: "Container CPU above 90% for 10 minutes", Host: "node-2",
				Container: "2b5b0b4d9f1c8e7a6d5c4b3a29180706f5e4d3c2b1a09f8e7d6c5b4a39281706",
				Pod:       "shop/web-7d9c6b5f4-x2x9q", Resolved: true},
			fields: with(map[string]string{
				"status": "resolved", "startsAt": "2024-11-27T23:40:00Z", "endsAt": "2024-11-28T00:05:00Z",
				"generatorURL": "http://prometheus.example:9090/graph?g0.expr=container_cpu", "fingerprint": "a91b2c3d4e5f6071",
				"labels.alertname": "ContainerHighCPU", "labels.container": "nginx",
				"labels.id":       "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5f0c9a43_8d2e_4f61_9b7a_3e2d1c0b9a87.slice/cri-containerd-2b5b0b4d9f1c8e7a6d5c4b3a29180706f5e4d3c2b1a09f8e7d6c5b4a39281706.scope",
				"labels.instance": "10.0.0.12:10250", "labels.job": "kubelet", "labels.namespace": "shop",
				"labels.node": "node-2", "labels.pod": "web-7d9c6b5f4-x2x9q", "labels.severity": "warning",
				"annotations.summary": "Container CPU above 90% for 10 minutes",
			}),
		},
	}
	for i, tt := range tests {
		sameAlert(t, as[i], tt.want)
		if !reflect.DeepEqual(as[i].Fields, tt.fields) {
			t.Errorf("alert %d Fields = %v\nwant %v", i, as[i].Fields, tt.fields)
		}
	}

	// falcosidekick → Alertmanager → webhook: its labels name the container and pod.
	as = decodeOK(t, "alertmanager", fixture(t, "alertmanager_falcosidekick.json"))
	if len(as) != 1 {
		t.Fatalf("got %d alerts, want 1", len(as))
	}
	sameAlert(t, as[0], Alert{Format: "alertmanager", ID: "c0ffee0123456789", Source: "alertmanager", Rule: "Falco",
		Priority: Warning, Time: at(2024, 11, 28, 0, 0, 20, 1),
		Output: "2024-11-28T00:00:20.000000001Z: Error File below a known binary directory opened for writing (file=/usr/bin/evil)",
		Host:   "node-1", Container: "0a1b2c3d4e5f", Pod: "shop/web-7d9c6b5f4-x2x9q"})
	hasFields(t, as[0].Fields, map[string]string{"labels.rule": "Write below binary dir", "labels.priority": "Error", "labels.tags": "T1543,container,filesystem,mitre_persistence"})
	if _, ok := as[0].Fields["generatorURL"]; ok {
		t.Error(`an empty generatorURL should not be in Fields`)
	}
}

func TestDecodeStackRoxFixtures(t *testing.T) {
	as := decodeOK(t, "stackrox", fixture(t, "stackrox.json"))
	if len(as) != 1 {
		t.Fatalf("got %d alerts, want 1", len(as))
	}
	// Three processes in two containers: the most recent (not the last listed) names the target.
	sameAlert(t, as[0], Alert{Format: "stackrox", ID: "6f5a3e2c-1b0d-4c9e-8a7f-6e5d4c3b2a19", Source: "RUNTIME",
		Rule: "Cryptocurrency Mining Process Execution", Priority: Error, Time: at(2024, 11, 28, 0, 0, 41, 250000000),
		Output: "Binary '/tmp/.x/xmrig' executed with arguments '-o stratum+tcp://pool.example:3333' under user ID 0",
		Tags:   []string{"Cryptocurrency Mining"}, Container: "2b5b0b4d9f1c", Pod: "shop/web-7d9c6b5f4-x2x9q"})
	hasFields(t, as[0].Fields, map[string]string{
		"cluster":                        "prod-eu", // the notifier's custom fields
		"team":                           "platform-security",
		"alert.policy.severity":          "HIGH_SEVERITY",
		"alert.clusterName":              "prod-eu",
		"alert.deployment.name":          "web",
		"alert.deployment.labels.app":    "web",
		"alert.enforcement.action":       "KILL_POD_ENFORCEMENT",
		"alert.policy.isDefault":         "true",
		"alert.policy.categories":        `["Cryptocurrency Mining"]`,
		"alert.processViolation.message": "Binary '/tmp/.x/xmrig' executed with arguments '-o stratum+tcp://pool.example:3333' under user ID 0",
	})

	// A deploy-time alert: lifecycleStage DEPLOY is jsonpb's omitted zero value.
	as = decodeOK(t, "stackrox", fixture(t, "stackrox_deploy.json"))
	if len(as) != 1 {
		t.Fatalf("got %d alerts, want 1", len(as))
	}
	sameAlert(t, as[0], Alert{Format: "stackrox", ID: "0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f", Source: "DEPLOY",
		Rule: "Latest tag", Priority: Notice, Time: at(2024, 11, 28, 0, 1, 0, 0),
		Output: "Container 'report' has image with tag 'latest'; Container 'log-shipper' has image with tag 'latest'",
		Tags:   []string{"DevOps Best Practices"}})
}

// ---- refusals ----

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

// ---- accepted variants ----

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

// ---- Detect ----

func TestDetect(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"falco.json", "falco"},
		{"falco_no_output.json", "falco"},
		{"falcosidekick.json", "falco"},
		{"tetragon.jsonl", "tetragon"},
		{"tracee.jsonl", "tracee"},
		{"alertmanager.json", "alertmanager"},
		{"alertmanager_falcosidekick.json", "alertmanager"},
		{"stackrox.json", "stackrox"},
		{"stackrox_deploy.json", "stackrox"},
	} {
		body := fixture(t, tt.file)
		got, err := Detect(body)
		if err != nil || got != tt.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tt.file, got, err, tt.want)
			continue
		}
		if _, err := Decode(got, body); err != nil {
			t.Errorf("Decode(Detect(%s)): %v", tt.file, err)
		}
	}
	// Each line of a JSON-lines body on its own, as serve --stdin passes it.
	for _, file := range []string{"tetragon.jsonl", "tracee.jsonl"} {
		for i, line := range bytes.Split(bytes.TrimSpace(fixture(t, file)), []byte("\n")) {
			if got, err := Detect(line); err != nil || got != strings.TrimSuffix(file, ".jsonl") {
				t.Errorf("Detect(%s line %d) = %q, %v", file, i+1, got, err)
			}
		}
	}

	for _, tt := range []struct {
		name, body, msg string
	}{
		{"unknown object", `{"event":"something","level":"high"}`, `keys "event", "level"`},
		{"array", `[{"rule":"r","priority":"Notice"}]`, "not a JSON object"},
		{"string", `"Notice A shell was spawned"`, "not a JSON object"},
		{"text", `Notice A shell was spawned`, "not JSON"},
		{"empty", " \n", "empty body"},
		{"ambiguous", `{"rule":"r","priority":"Notice","alert":{}}`, "stackrox and falco"},
		{"grafana-ish without version", `{"receiver":"x","alerts":[]}`, "expected"},
	} {
		got, err := Detect([]byte(tt.body))
		if err == nil {
			t.Errorf("%s: Detect = %q, want a refusal", tt.name, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %q does not say %q", tt.name, err, tt.msg)
		}
		if tt.name != "ambiguous" && !strings.Contains(err.Error(), "a Falco event") {
			t.Errorf("%s: error %q does not name what was expected", tt.name, err)
		}
	}
	if _, err := Detect(make([]byte, MaxBody+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: err = %v, want ErrTooLarge", err)
	}
}

func TestFormatsAreDecoders(t *testing.T) {
	want := []string{"falco", "tetragon", "tracee", "alertmanager", "stackrox"}
	if !reflect.DeepEqual(Formats, want) {
		t.Fatalf("Formats = %v, want %v", Formats, want)
	}
	for _, f := range Formats {
		_, err := Decode(f, []byte("{}"))
		if err == nil || strings.Contains(err.Error(), "unknown alert format") {
			t.Errorf("Decode(%q, {}) = %v: want the decoder's own refusal", f, err)
		}
	}
}

// ---- fuzzing ----

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "formats", "*.json*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/3])
	}
	for _, s := range []string{``, `{}`, `[]`, `null`, `{"a":1}{"b":2}`, "{\"rule\":\"\xff\"}", `{"process_exec":{"process":{"pod":{"container":{"id":"x://"}}}},"time":"2024-11-28T00:00:00Z"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if format, err := Detect(body); err == nil {
			found := false
			for _, name := range Formats {
				found = found || name == format
			}
			if !found {
				t.Fatalf("Detect = %q, not a format", format)
			}
		}
		for _, format := range Formats {
			as, err := Decode(format, body)
			if err != nil {
				if as != nil {
					t.Fatalf("%s: alerts and an error", format)
				}
				continue
			}
			for _, a := range as {
				if a.Format != format {
					t.Fatalf("%s: alert Format %q", format, a.Format)
				}
				if a.Rule == "" {
					t.Fatalf("%s: alert without a rule", format)
				}
			}
		}
	})
}
