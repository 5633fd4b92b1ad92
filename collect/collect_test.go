package collect_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
)

// changeScript makes one of each kind of change, then marks itself done and
// keeps the container running. The odd name holds a newline and an escape
// sequence.
const changeScript = `set -e
mkdir -p /data/a/b/c
echo deep > /data/a/b/c/file
echo added > /data/f
ln /data/f /data/hard
ln -s /etc/passwd /data/link
echo more >> /etc/passwd
rm /etc/group
mv /bin/vi /bin/vi.renamed
chmod 700 /root
printf 'odd' > "/data/$(printf 'new\nline\033[31mred')"
touch /data/done
exec sleep 3600`

func forEachEngine(t *testing.T, fn func(t *testing.T, h runtimetest.Harness)) {
	t.Run("docker", func(t *testing.T) { fn(t, runtimetest.Docker(t)) })
	t.Run("containerd", func(t *testing.T) { fn(t, runtimetest.Containerd(t)) })
}

func newRun(t *testing.T, s evidence.Store, caseID string) (*evidence.Run, *evidence.Signer) {
	t.Helper()
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := evidence.OpenRun(context.Background(), s, sg, evidence.CaseInfo{ID: caseID, Actor: "test", Tool: "firebreak test"})
	if err != nil {
		t.Fatal(err)
	}
	return r, sg
}

func fileStore(t *testing.T) *evidence.FileStore {
	t.Helper()
	s, err := evidence.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitForFile polls the container's writable layer for a file the script
// writes last.
func waitForFile(t *testing.T, h runtimetest.Harness, id, rel string) runtime.Layer {
	t.Helper()
	layer, err := h.Runtime().(runtime.LayerReader).WritableLayer(runtimetest.Context(t), id)
	if err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 30*time.Second, "script in the container done", func() bool {
		_, err := os.Lstat(filepath.Join(layer.Upper, rel))
		return err == nil
	})
	return layer
}

func getJSON(t *testing.T, s evidence.Store, key string, v any) {
	t.Helper()
	if err := json.Unmarshal(storetest.Read(t, s, key), v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}

func TestCollectFSDiffMatchesEngine(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", changeScript}})
		waitForFile(t, h, d.ID, "data/done")
		store := fileStore(t)
		run, sg := newRun(t, store, "FS-1")
		res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, collect.DefaultOptions())
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		if _, err := run.Finish(ctx); err != nil {
			t.Fatal(err)
		}
		var changes []collect.FileChange
		getJSON(t, store, res.Prefix+"fsdiff/changes.json", &changes)
		got := map[string]string{}
		for _, c := range changes {
			got[c.Path] = c.Kind
		}
		want := expectedChanges(t, ctx, h, d.ID)
		if !mapsEqual(got, want) {
			t.Errorf("fsdiff paths differ from the engine's:\n got  %v\n want %v", sortedKeys(got), sortedKeys(want))
		}
		byPath := map[string]collect.FileChange{}
		for _, c := range changes {
			byPath[c.Path] = c
		}
		if c := byPath["/data/link"]; c.Type != "symlink" || c.Link != "/etc/passwd" {
			t.Errorf("symlink recorded as %+v", c)
		}
		if c := byPath["/data/hard"]; c.Type != "hardlink" && byPath["/data/f"].Type != "hardlink" {
			t.Errorf("no hardlink recorded: %+v / %+v", c, byPath["/data/f"])
		}
		if c := byPath["/root"]; c.Mode != "0700" {
			t.Errorf("chmod not recorded: %+v", c)
		}
		if c := byPath["/data/a/b/c/file"]; c.SHA256 == "" || c.Size != 5 {
			t.Errorf("nested file recorded as %+v", c)
		}
		odd := "/data/new\nline\x1b[31mred"
		if _, ok := byPath[odd]; !ok {
			t.Errorf("odd name not stored byte for byte; have %v", sortedKeys(got))
		}
		// The layer tar holds the same content, with an OCI whiteout.
		entries := layerEntries(t, store, res.Prefix+"fsdiff/layer.tar.zst")
		if string(entries["data/a/b/c/file"]) != "deep\n" {
			t.Errorf("layer content of data/a/b/c/file = %q", entries["data/a/b/c/file"])
		}
		if _, ok := entries["etc/.wh.group"]; !ok {
			t.Errorf("no whiteout for /etc/group in the layer: %v", keys(entries))
		}
		rep, err := evidence.Verify(ctx, store, "FS-1", sg.Pub)
		if err != nil || !rep.OK() {
			t.Errorf("verify: %v %+v", err, rep)
		}
	})
}

// expectedChanges is the engine's own change list where it has one
// (Docker's diff), else what the script does, as an engine would list it.
func expectedChanges(t *testing.T, ctx context.Context, h runtimetest.Harness, id string) map[string]string {
	t.Helper()
	if cl, ok := h.Runtime().(runtime.ChangeLister); ok {
		list, err := cl.Changes(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, c := range list {
			m[c.Path] = c.Kind
		}
		return m
	}
	m := map[string]string{
		"/data": "A", "/data/a": "A", "/data/a/b": "A", "/data/a/b/c": "A", "/data/a/b/c/file": "A",
		"/data/f": "A", "/data/hard": "A", "/data/link": "A", "/data/done": "A",
		"/data/new\nline\x1b[31mred": "A",
		"/etc":                       "C", "/etc/passwd": "C", "/etc/group": "D",
		"/bin": "C", "/bin/vi": "D", "/bin/vi.renamed": "A", "/root": "C",
		"/run": "A", // runc makes the mount point of the spec's /run tmpfs; the image has none
	}
	return m
}

func layerEntries(t *testing.T, s evidence.Store, key string) map[string][]byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(storetest.Read(t, s, key)))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("layer tar: %v", err)
		}
		b, _ := io.ReadAll(tr)
		out[hdr.Name] = b
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, v+" "+k)
	}
	sort.Strings(out)
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCollectProcessesAndNetwork(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		ctx := runtimetest.Context(t)
		vspec, _, _ := h.Network(t)
		vspec.Cmd = []string{"sh", "-c", "httpd -p 8080 -h /etc; exec sleep 3600"}
		d := h.Run(t, runtimetest.Name(t), vspec)
		store := fileStore(t)
		run, _ := newRun(t, store, "PR-1")
		var procs []collect.Process
		runtimetest.Eventually(t, 20*time.Second, "httpd and sleep in processes.json", func() bool {
			res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, collect.Options{What: []collect.Collector{collect.WhatProcesses, collect.WhatNetwork}})
			if err != nil {
				t.Fatal(err)
			}
			procs = nil
			getJSON(t, store, res.Prefix+"processes.json", &procs)
			var names []string
			for _, p := range procs {
				names = append(names, p.Comm)
			}
			return slices.Contains(names, "httpd") && slices.Contains(names, "sleep")
		})
		for _, p := range procs {
			if len(p.Outside) > 0 {
				t.Errorf("pid %d (%s) flagged outside: %v", p.PID, p.Comm, p.Outside)
			}
			if p.Exe == "" || p.ExeSHA256 == "" || len(p.NSPID) < 2 || p.Namespaces["net"] == "" || p.Start.IsZero() {
				t.Errorf("process record incomplete: %+v", p)
			}
		}
	})
}

func TestCollectHostileLayer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) { hostileLayer(t, h) })
}

// hostileLayer: links to a host marker (absolute, relative, and one swapped
// with a file in a loop during the walk), a FIFO, a device node and a 20 GiB
// sparse file in the writable layer; collection never reads or writes the
// marker, does not hang, and records the cap.
func hostileLayer(t *testing.T, h runtimetest.Harness) {
	ctx := runtimetest.Context(t)
	// A marker on the host that a link in the container points at.
	markerDir := t.TempDir()
	marker := filepath.Join(markerDir, "host-secret")
	secret := []byte("FIREBREAK-HOST-MARKER-" + runtimetest.Name(t))
	if err := os.WriteFile(marker, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(marker)
	script := `set -e
mkdir -p /d
ln -s ` + marker + ` /d/abs-link
ln -s ../../../../../../../../` + marker + ` /d/rel-link
mkfifo /d/fifo
mknod /d/null c 1 3
dd if=/dev/zero of=/d/sparse bs=1 count=1 seek=21474836480 2>/dev/null
touch /d/ready
while true; do rm -f /d/swap; echo plain > /d/swap; rm -f /d/swap; ln -s ` + marker + ` /d/swap; done`
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", script}})
	waitForFile(t, h, d.ID, "d/ready")
	store := fileStore(t)
	run, _ := newRun(t, store, "HOSTILE-1")
	opts := collect.DefaultOptions()
	opts.What = []collect.Collector{collect.WhatFSDiff}
	opts.Limits = collect.Limits{MaxFile: 1 << 20, MaxTotal: 64 << 20}
	for i := 0; i < 5; i++ { // the swap loop races each walk differently
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		res, err := collect.Collect(cctx, h.Runtime(), run, d.Container, opts)
		cancel()
		if err != nil {
			t.Fatalf("Collect #%d: %v (a FIFO or device must not hang it)", i, err)
		}
		entries := layerEntries(t, store, res.Prefix+"fsdiff/layer.tar.zst")
		for name, b := range entries {
			if bytes.Contains(b, secret) {
				t.Fatalf("the layer captured the host marker through %s", name)
			}
		}
		var changes []collect.FileChange
		getJSON(t, store, res.Prefix+"fsdiff/changes.json", &changes)
		byPath := map[string]collect.FileChange{}
		for _, c := range changes {
			byPath[c.Path] = c
		}
		if c := byPath["/d/abs-link"]; c.Type != "symlink" || c.Link != marker {
			t.Errorf("absolute link recorded as %+v", c)
		}
		if c := byPath["/d/fifo"]; c.Type != "fifo" || c.Captured != 0 {
			t.Errorf("fifo recorded as %+v", c)
		}
		if c := byPath["/d/null"]; c.Type != "char" || c.Device != "1:3" {
			t.Errorf("device recorded as %+v", c)
		}
		if c := byPath["/d/sparse"]; !c.Truncated || c.Captured != 1<<20 || c.Size != 21474836481 || !strings.Contains(c.Note, "capped") {
			t.Errorf("sparse file recorded as %+v", c)
		}
		if !slices.ContainsFunc(res.Incomplete, func(s string) bool { return strings.Contains(s, "capped") }) {
			t.Errorf("the cap is not recorded as incomplete: %v", res.Incomplete)
		}
	}
	after, _ := os.Stat(marker)
	got, _ := os.ReadFile(marker)
	if !bytes.Equal(got, secret) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the host marker was changed")
	}
	if ents, _ := os.ReadDir(markerDir); len(ents) != 1 {
		t.Errorf("something was written beside the host marker: %v", ents)
	}
}

// TestCollectFlagsProcessOutsideNamespaces: a process in the container's
// cgroup that entered the mount namespace of a host process (nsenter from a
// container with the host's PID namespace and CAP_SYS_ADMIN) is listed and
// flagged.
func TestCollectFlagsProcessOutsideNamespaces(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	d, host := escapingContainer(t, h, "sleep 600")
	store := fileStore(t)
	run, _ := newRun(t, store, "OUT-1")
	var flagged []collect.Process
	runtimetest.Eventually(t, 20*time.Second, "the nsentered process is flagged", func() bool {
		res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, collect.Options{What: []collect.Collector{collect.WhatProcesses}})
		if err != nil {
			t.Fatal(err)
		}
		var procs []collect.Process
		getJSON(t, store, res.Prefix+"processes.json", &procs)
		flagged = nil
		for _, p := range procs {
			if len(p.Outside) > 0 {
				flagged = append(flagged, p)
			}
		}
		return len(flagged) > 0 && res.Outside == len(flagged)
	})
	for _, p := range flagged {
		if p.Comm != "sleep" || !slices.ContainsFunc(p.Outside, func(s string) bool { return strings.HasPrefix(s, "mnt namespace differs") }) {
			t.Errorf("flagged %s (pid %d): %v; want the sleep, in another mount namespace", p.Comm, p.PID, p.Outside)
		}
		if p.PID == host.Process.Pid {
			t.Error("the host process itself was taken for the container's")
		}
	}
}

// escapingContainer starts a host process, and a container with the host's
// PID namespace, CAP_SYS_ADMIN and CAP_SYS_PTRACE, no seccomp and no
// AppArmor, that runs cmd in that host process's mount namespace (nsenter)
// beside its own init. The PID of the host process is returned with it.
func escapingContainer(t *testing.T, h *runtimetest.DockerHarness, cmd string) (runtime.Details, *exec.Cmd) {
	t.Helper()
	host := exec.Command("sleep", "600")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{
		Cmd:         []string{"sh", "-c", "nsenter -t " + strconv.Itoa(host.Process.Pid) + " -m -- " + cmd + " & exec sleep 3600"},
		HostPID:     true,
		CapAdd:      []string{"SYS_ADMIN", "SYS_PTRACE"},
		SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined"},
	})
	return d, host
}

// TestCollectCreatedContainer: a container that never ran still gives its
// engine view and filesystem; what needs a process is recorded as incomplete.
func TestCollectCreatedContainer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) {
		d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{})
		store := fileStore(t)
		run, sg := newRun(t, store, "CR-1")
		res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, collect.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range res.Artifacts {
			names = append(names, strings.TrimPrefix(a.Key, res.Prefix))
		}
		for _, want := range []string{"inspect.json", "fsdiff/changes.json", "fsdiff/layer.tar.zst", "timeline.jsonl"} {
			if !slices.Contains(names, want) {
				t.Errorf("artifacts %v lack %s", names, want)
			}
		}
		joined := strings.Join(res.Incomplete, "\n")
		for _, want := range []string{"processes: not running", "network: not running"} {
			if !strings.Contains(joined, want) {
				t.Errorf("incomplete %q does not say %q", joined, want)
			}
		}
		m, err := run.Finish(runtimetest.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Incomplete) < 2 {
			t.Errorf("manifest records %v as incomplete", m.Incomplete)
		}
		if rep, err := evidence.Verify(runtimetest.Context(t), store, "CR-1", sg.Pub); err != nil || !rep.OK() {
			t.Errorf("verify: %v %+v", err, rep)
		}
	})
}

// TestCollectLayerOfIncompressibleFiles: large files that do not compress go
// into the layer as raw zstd frames between compressed ones; the stream
// still decodes as one, with the zstd tool too, and holds the same bytes.
func TestCollectLayerOfIncompressibleFiles(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c",
		"dd if=/dev/urandom of=/random1 bs=1024 count=3000 2>/dev/null; dd if=/dev/zero of=/zeros bs=1024 count=2000 2>/dev/null; " +
			"dd if=/dev/urandom of=/random2 bs=1024 count=1100 2>/dev/null; echo small > /small; touch /done; exec sleep 600"}})
	waitForFile(t, h, d.ID, "done")
	store := fileStore(t)
	run, _ := newRun(t, store, "RAW-1")
	res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, collect.Options{What: []collect.Collector{collect.WhatFSDiff}})
	if err != nil {
		t.Fatal(err)
	}
	var changes []collect.FileChange
	getJSON(t, store, res.Prefix+"fsdiff/changes.json", &changes)
	entries := layerEntries(t, store, res.Prefix+"fsdiff/layer.tar.zst")
	for _, c := range changes {
		if c.Type != "file" {
			continue
		}
		b := entries[strings.TrimPrefix(c.Path, "/")]
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != c.SHA256 || int64(len(b)) != c.Size {
			t.Errorf("%s: layer holds %d bytes with another digest (want %d, %s)", c.Path, len(b), c.Size, c.SHA256)
		}
	}
	if _, ok := entries["random2"]; !ok {
		t.Fatalf("layer entries %v", keys(entries))
	}
	// The zstd tool reads the frames as one stream too.
	rc, err := store.Get(context.Background(), res.Prefix+"fsdiff/layer.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cmd := exec.Command("sh", "-c", "zstd -dc | tar -tf -")
	cmd.Stdin = rc
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "random1") || !strings.Contains(string(out), "small") {
		t.Errorf("zstd -dc | tar -t: %v\n%s", err, out)
	}
	// Random bytes went out raw, each random file in a frame of its own
	// between compressed ones (zstd's frame magic starts each frame); the
	// zeros were compressed.
	raw, err := store.Get(context.Background(), res.Prefix+"fsdiff/layer.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(raw)
	raw.Close()
	if frames := bytes.Count(b, []byte{0x28, 0xb5, 0x2f, 0xfd}); frames < 5 {
		t.Errorf("layer has %d zstd frames; want the compressed ones and two raw ones", frames)
	}
	if len(b) > (3000+1100+200)*1024 {
		t.Errorf("layer is %d bytes; the zeros were not compressed", len(b))
	}
}

// TestCollectContainerdLogs: on containerd, the logs come from the file the
// container's creator writes (here nerdctl's json-file log, found through
// the container's state-dir label) and reach the bundle and the timeline; a
// container whose creator keeps no logs gets them recorded as incomplete,
// saying why.
func TestCollectContainerdLogs(t *testing.T) {
	h := runtimetest.Containerd(t)
	stateDir := t.TempDir()
	d := h.Create(t, runtimetest.Name(t), runtimetest.Spec{Labels: map[string]string{containerd.StateDirLabel: stateDir}})
	entry, _ := json.Marshal(map[string]string{"log": "listening on :8080\n", "stream": "stdout", "time": "2026-11-28T09:30:00.5Z"})
	if err := os.WriteFile(filepath.Join(stateDir, d.ID+"-json.log"), append(entry, '\n'), 0o640); err != nil {
		t.Fatal(err)
	}
	plain := h.Create(t, runtimetest.Name(t)+"-plain", runtimetest.Spec{})
	store := fileStore(t)
	run, _ := newRun(t, store, "LOGS-1")
	opts := collect.DefaultOptions()
	opts.What = []collect.Collector{collect.WhatLogs}
	res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(storetest.Read(t, store, res.Prefix+"logs/stdout.log")); got != "2026-11-28T09:30:00.5Z listening on :8080\n" {
		t.Errorf("logs/stdout.log = %q", got)
	}
	if tl := string(storetest.Read(t, store, res.Prefix+"timeline.jsonl")); !strings.Contains(tl, "listening on :8080") {
		t.Errorf("timeline lacks the log line:\n%s", tl)
	}
	res, err = collect.Collect(runtimetest.Context(t), h.Runtime(), run, plain.Container, opts)
	if err != nil {
		t.Fatal(err)
	}
	if joined := strings.Join(res.Incomplete, "\n"); !strings.Contains(joined, "logs:") || !strings.Contains(joined, "neither Kubernetes (CRI) nor nerdctl") {
		t.Errorf("incomplete %q does not say why there are no logs", joined)
	}
}

// TestCollectLogsOverTheCap: a container that writes more than the log cap
// gets its first lines and its newest kept, whole, with the cut recorded.
func TestCollectLogsOverTheCap(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", `i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo last; exec sleep 3600`}})
	runtimetest.Eventually(t, 20*time.Second, "the container wrote its last line", func() bool {
		var out bytes.Buffer
		err := h.Runtime().(runtime.LogReader).Logs(runtimetest.Context(t), d.ID, time.Time{}, &out, io.Discard)
		return err == nil && strings.Contains(out.String(), " last\n")
	})
	store := fileStore(t)
	run, sg := newRun(t, store, "LOGCAP-1")
	opts := collect.DefaultOptions()
	opts.What, opts.LogCap = []collect.Collector{collect.WhatLogs}, 8192
	res, err := collect.Collect(runtimetest.Context(t), h.Runtime(), run, d.Container, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := string(storetest.Read(t, store, res.Prefix+"logs/stdout.log"))
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(got) > 8192 || !strings.HasSuffix(lines[0], " line 0") || !strings.HasSuffix(lines[len(lines)-1], " last") {
		t.Errorf("kept %d bytes, from %q to %q; want at most 8192, from line 0 to the last", len(got), lines[0], lines[len(lines)-1])
	}
	for _, l := range lines {
		if _, msg, _ := strings.Cut(l, " "); msg != "last" && !strings.HasPrefix(msg, "line ") {
			t.Errorf("a line cut at the seam: %q", l)
		}
	}
	if joined := strings.Join(res.Incomplete, "\n"); !strings.Contains(joined, "stdout:") || !strings.Contains(joined, "dropped") {
		t.Errorf("the cut is not recorded: %q", joined)
	}
	if _, err := run.Finish(runtimetest.Context(t)); err != nil {
		t.Fatal(err)
	}
	if rep, err := evidence.Verify(runtimetest.Context(t), store, "LOGCAP-1", sg.Pub); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
}
