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
