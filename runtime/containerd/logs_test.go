package containerd_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/protobuf/types/known/anypb"

	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
)

// These tests give real containerd containers what Kubernetes' CRI plugin
// and nerdctl record for them (the CRI metadata extension, the state-dir
// label) and write their log files in those tools' formats; the adapter
// must find the files from the engine's record and read them back.

func logs(t *testing.T, c *containerd.Containerd, id string, since time.Time) (string, string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	err := c.Logs(context.Background(), id, since, &out, &errw)
	return out.String(), errw.String(), err
}

func writeFile(t *testing.T, path, content string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestLogsOfCRIContainer(t *testing.T) {
	h := runtimetest.Containerd(t)
	d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{})
	logDir := t.TempDir()
	logPath := filepath.Join(logDir, "0.log")

	// The extension as the CRI plugin stores it: versioned JSON metadata.
	meta, err := json.Marshal(map[string]any{"Version": "v1", "Metadata": map[string]any{"ID": d.ID, "Name": "web", "LogPath": logPath}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), h.Containerd().Namespace())
	ctr, err := h.Containerd().Client().LoadContainer(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	ext := &anypb.Any{TypeUrl: "github.com/containerd/cri/pkg/store/container/Metadata", Value: meta}
	if err := ctr.Update(ctx, client.UpdateContainerOpts(client.WithContainerExtension(containerd.CRIMetadataExtension, ext))); err != nil {
		t.Fatal(err)
	}

	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	ts := func(s int) string { return base.Add(time.Duration(s) * time.Second).Format(time.RFC3339Nano) }
	// The oldest rotation, compressed.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(ts(1) + " stdout F first line\n"))
	zw.Close()
	writeFile(t, logPath+".20261128-100001.gz", gz.String(), base.Add(1*time.Second))
	writeFile(t, logPath+".20261128-100002", ts(2)+" stdout F second line\n"+ts(2)+" stderr F on stderr\n", base.Add(2*time.Second))
	writeFile(t, logPath, strings.Join([]string{
		ts(3) + " stdout P a line split ",
		ts(4) + " stderr F interleaved on stderr",
		ts(4) + " stdout P in three ",
		ts(5) + " stdout F parts",
		ts(6) + " stdout F bytes as they came: \x1b[31m",
		ts(7) + " stdout P unfinished when the container stopped",
	}, "\n")+"\n", base.Add(7*time.Second))

	out, errs, err := logs(t, h.Containerd(), d.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	wantOut := ts(1) + " first line\n" +
		ts(2) + " second line\n" +
		ts(3) + " a line split in three parts\n" +
		ts(6) + " bytes as they came: \x1b[31m\n" +
		ts(7) + " unfinished when the container stopped\n"
	wantErr := ts(2) + " on stderr\n" + ts(4) + " interleaved on stderr\n"
	if out != wantOut {
		t.Errorf("stdout:\n%q\nwant\n%q", out, wantOut)
	}
	if errs != wantErr {
		t.Errorf("stderr:\n%q\nwant\n%q", errs, wantErr)
	}

	// --since keeps the lines from that time on.
	out, errs, err = logs(t, h.Containerd(), d.ID, base.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := ts(6) + " bytes as they came: \x1b[31m\n" + ts(7) + " unfinished when the container stopped\n"; out != want {
		t.Errorf("stdout since +4s:\n%q\nwant\n%q", out, want)
	}
	if want := ts(4) + " interleaved on stderr\n"; errs != want {
		t.Errorf("stderr since +4s:\n%q\nwant\n%q", errs, want)
	}
}

func TestLogsOfNerdctlContainer(t *testing.T) {
	h := runtimetest.Containerd(t)
	stateDir := t.TempDir()
	d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{Labels: map[string]string{containerd.StateDirLabel: stateDir}})
	logPath := filepath.Join(stateDir, d.ID+"-json.log")
	line := func(stream, text string, s int) string {
		b, _ := json.Marshal(map[string]any{"log": text, "stream": stream, "time": time.Date(2026, 11, 28, 9, 0, s, 0, time.UTC)})
		return string(b) + "\n"
	}
	writeFile(t, logPath+".1", line("stdout", "rotated\n", 1), time.Now().Add(-time.Minute))
	writeFile(t, logPath, line("stdout", "split by the ", 2)+line("stderr", "an error\n", 3)+line("stdout", "writer\n", 4), time.Now())

	out, errs, err := logs(t, h.Containerd(), d.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-28T09:00:01Z rotated\n2026-11-28T09:00:02Z split by the writer\n"; out != want {
		t.Errorf("stdout:\n%q\nwant\n%q", out, want)
	}
	if want := "2026-11-28T09:00:03Z an error\n"; errs != want {
		t.Errorf("stderr:\n%q\nwant\n%q", errs, want)
	}
}

func TestLogsRefusesLinkAndUnknownCreator(t *testing.T) {
	h := runtimetest.Containerd(t)
	plain := h.Create(t, runtimetest.Name(t)+"-plain", runtimetest.Spec{})
	if _, _, err := logs(t, h.Containerd(), plain.ID, time.Time{}); !errors.Is(err, containerd.ErrNoLogs) || !strings.Contains(err.Error(), "neither Kubernetes (CRI) nor nerdctl") {
		t.Errorf("container made by neither tool: %v, want ErrNoLogs saying why", err)
	}

	// A container able to write where its log is kept swaps the log for a
	// link to a host file: Firebreak must not read the host file.
	marker := filepath.Join(t.TempDir(), "host-secret")
	writeFile(t, marker, "HOST SECRET\n", time.Now())
	stateDir := t.TempDir()
	d := h.Create(t, runtimetest.Name(t)+"-link", runtimetest.Spec{Labels: map[string]string{containerd.StateDirLabel: stateDir}})
	if err := os.Symlink(marker, filepath.Join(stateDir, d.ID+"-json.log")); err != nil {
		t.Fatal(err)
	}
	out, errs, err := logs(t, h.Containerd(), d.ID, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("log file swapped for a link: %v, want a refusal naming the link", err)
	}
	if strings.Contains(out+errs, "SECRET") {
		t.Errorf("the host file was read through the link: %q %q", out, errs)
	}
}

// TestLogsOfKubernetesPod runs a pod through containerd's own CRI plugin, as
// the kubelet does: the plugin records the log path and writes the
// container's output there, splitting a line longer than its limit (16 KiB
// by default) into partial entries; the adapter reads it back whole.
func TestLogsOfKubernetesPod(t *testing.T) {
	h := runtimetest.CRI(t)
	logDir := t.TempDir()
	long := strings.Repeat("x", 40000)
	pod := runtimetest.Name(t)
	id := h.Pod(t, pod, logDir, []string{"sh", "-c", "echo to stdout; echo to stderr >&2; head -c 40000 /dev/zero | tr '\\0' x; echo; echo after; exec sleep 3600"})
	// A responder names the container as kubectl shows it.
	if c, err := runtime.Resolve(context.Background(), h.Ctr, "firebreak-test/"+pod+"/main"); err != nil || c.ID != id {
		t.Errorf("resolving firebreak-test/%s/main: %+v, %v; want %s", pod, c, err, id)
	}
	var out, errs string
	runtimetest.Eventually(t, 20*time.Second, "the pod's output in its log", func() bool {
		var err error
		out, errs, err = logs(t, h.Ctr, id, time.Time{})
		return err == nil && strings.Contains(out, " after\n") && errs != ""
	})
	raw, err := os.ReadFile(filepath.Join(logDir, "main", "0.log"))
	if err != nil || !bytes.Contains(raw, []byte(" stdout P ")) {
		t.Fatalf("the plugin wrote no partial entries (%v):\n%.300s", err, raw)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], " to stdout") || !strings.HasSuffix(lines[1], " "+long) || !strings.HasSuffix(lines[2], " after") {
		t.Errorf("stdout: %d lines (%.200q); want 3, the 40000-byte one joined from its partial entries", len(lines), out)
	}
	for _, l := range append(lines, strings.TrimSuffix(errs, "\n")) {
		ts, _, _ := strings.Cut(l, " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(at) > time.Hour {
			t.Errorf("line %.80q does not start with the plugin's recent timestamp", l)
		}
	}
	if !strings.HasSuffix(errs, " to stderr\n") || strings.Count(errs, "\n") != 1 {
		t.Errorf("stderr: %q", errs)
	}
}
