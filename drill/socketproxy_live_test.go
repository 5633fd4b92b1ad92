package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

// TestSocketProxyAnswersReadsRefusesWrites drives the decoy socket with
// the client the engine-socket decoy runs: reads are answered with the
// drill's own containers, create and exec are refused, every call logged.
func TestSocketProxyAnswersReadsRefusesWrites(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the decoy's socket client is amd64 only")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "engine.sock")
	var seen []ProxyCall
	p, err := StartSocketProxy(sock, filepath.Join(dir, "calls.jsonl"), func(context.Context) ([]ProxyContainer, error) {
		return []ProxyContainer{{ID: "abc", Names: []string{"/fbdrill-x-decoy"}, State: "running"}}, nil
	}, func(c ProxyCall) { seen = append(seen, c) })
	if err != nil {
		t.Fatal(err)
	}
	bin, err := unixClient(sock)
	if err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(dir, "docker")
	if err := os.WriteFile(client, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	call := func(req string) string {
		t.Helper()
		cmd := exec.Command(client)
		cmd.Stdin = strings.NewReader(req)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		return string(out)
	}
	if out := call("GET /_ping HTTP/1.0\r\n\r\n"); !strings.HasSuffix(out, "OK") || !strings.Contains(out, "200 OK") {
		t.Errorf("ping: %q", out)
	}
	out := call("GET /v1.41/containers/json HTTP/1.0\r\n\r\n")
	body := out[strings.Index(out, "\r\n\r\n")+4:]
	var cs []ProxyContainer
	if err := json.Unmarshal([]byte(body), &cs); err != nil || len(cs) != 1 || cs[0].ID != "abc" {
		t.Errorf("containers: %q %v", body, err)
	}
	create := `{"Image":"busybox","HostConfig":{"Privileged":true}}`
	if out := call("POST /v1.41/containers/create HTTP/1.0\r\nContent-Length: " + itoa(len(create)) + "\r\n\r\n" + create); !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "refused") {
		t.Errorf("create: %q", out)
	}
	if out := call("POST /containers/x/exec HTTP/1.0\r\n\r\n"); !strings.Contains(out, "403") {
		t.Errorf("exec: %q", out)
	}
	if out := call("GET /images/json HTTP/1.0\r\n\r\n"); !strings.Contains(out, "404") {
		t.Errorf("unknown read: %q", out)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("the socket is left behind")
	}
	verdicts := []string{}
	for _, c := range seen {
		verdicts = append(verdicts, c.Method+" "+c.Verdict)
	}
	want := "GET answered,GET answered,POST refused,POST refused,GET unknown"
	if strings.Join(verdicts, ",") != want {
		t.Errorf("calls %v, want %s", verdicts, want)
	}
	if seen[2].Body != create {
		t.Errorf("create body logged as %q", seen[2].Body)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "calls.jsonl"))
	if n := bytes.Count(log, []byte("\n")); n != 5 {
		t.Errorf("log has %d lines:\n%s", n, log)
	}
}

func TestUnixClientRefusesLongPaths(t *testing.T) {
	if _, err := unixClient(strings.Repeat("x", 200)); err == nil {
		t.Error("a path longer than a sockaddr_un was taken")
	}
}

func TestHostStateDiffNamesEachChange(t *testing.T) {
	a := HostState{Nftables: []string{"table inet filter {", "}"}, SocketMode: "srw-rw---- 0", Binaries: map[string]string{"/usr/bin/runc": "aa"}, CorePattern: "core"}
	if d := a.Diff(a); len(d) != 0 {
		t.Errorf("same state differs: %v", d)
	}
	b := HostState{Nftables: []string{"table inet filter {", "table inet firebreak {", "}"}, SocketMode: "srwxrwxrwx 0", Binaries: map[string]string{"/usr/bin/runc": "bb"}, CorePattern: "|/tmp/x"}
	d := a.Diff(b)
	if len(d) != 4 || !strings.Contains(d[0], "added: table inet firebreak {") {
		t.Errorf("diff %q", d)
	}
}
