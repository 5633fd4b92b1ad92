package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
)

// minioCLI starts a private MinIO server with a bucket and returns the flags
// that point the CLI at it.
func minioCLI(t *testing.T, lock bool) (*storetest.Server, *evidence.S3Store, []string) {
	t.Helper()
	srv := storetest.StartMinIO(t)
	bucket := "fbt-cli"
	st := srv.Store(t, bucket, lock)
	for k, v := range srv.Env() {
		t.Setenv(k, v)
	}
	flags := []string{"--runtime=docker", "--store", srv.URL(bucket), "--key-dir", t.TempDir(), "--spool-dir", t.TempDir()}
	return srv, st, flags
}

// dropFlag leaves out a flag and its value (sync, for one, signs nothing
// and takes no --key-dir).
func dropFlag(flags []string, name string) []string {
	var out []string
	for i := 0; i < len(flags); i++ {
		if flags[i] == name {
			i++
			continue
		}
		out = append(out, flags[i])
	}
	return out
}

func cli(t *testing.T, flags []string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, append(args, flags...)...)
}

func bucketKeys(t *testing.T, st *evidence.S3Store) map[string]bool {
	t.Helper()
	objs, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, o := range objs {
		m[o.Key] = true
	}
	return m
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/objects/") && !strings.Contains(filepath.Base(p), ".partial-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func flagValue(flags []string, name string) string {
	for i, f := range flags {
		if f == name && i+1 < len(flags) {
			return flags[i+1]
		}
	}
	return ""
}

// collectIntoMinIO collects target into case caseID through the CLI and
// checks that every artifact of the bundle is in the bucket and that verify
// passes.
func collectIntoMinIO(t *testing.T, st *evidence.S3Store, flags []string, caseID, target string) collectJSON {
	t.Helper()
	r := cli(t, flags, "collect", "--case", caseID, "-o", "json", target)
	if r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var line collectJSON
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &line); err != nil {
		t.Fatal(err)
	}
	have := bucketKeys(t, st)
	names := []string{"inspect.json", "processes.json", "network.json", "indicators.json", "logs/stdout.log", "logs/stderr.log", "fsdiff/changes.json", "fsdiff/layer.tar.zst", "timeline.jsonl"}
	for _, n := range names {
		if !have[line.Prefix+n] {
			t.Errorf("%s not in MinIO", line.Prefix+n)
		}
	}
	for _, a := range line.Artifacts {
		if !have[a.Key] {
			t.Errorf("artifact %s not in MinIO", a.Key)
		}
	}
	if r := cli(t, flags, "evidence", "verify", caseID); r.code != exitOK || !strings.Contains(r.stdout, "OK") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return line
}

func TestCLICollectToMinIOAndVerify(t *testing.T) {
	h := runtimetest.Docker(t)
	_, st, flags := minioCLI(t, false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "echo hi; mkdir /w; echo x > /w/f; exec sleep 3600"}})
	line := collectIntoMinIO(t, st, flags, "MINIO-1", d.Name)

	// One byte of one stored object changed behind the tool's back.
	ctx := context.Background()
	key := line.Prefix + "processes.json"
	b := storetest.Read(t, st, key)
	b[10] ^= 1
	putObject(t, st, key, b)
	r := cli(t, flags, "evidence", "verify", "MINIO-1")
	if r.code != exitUnverified || !strings.Contains(r.stdout, key) || !strings.Contains(r.stdout, "sha256") {
		t.Errorf("verify after a changed byte: exit %d\n%s", r.code, r.stdout)
	}
	b[10] ^= 1
	putObject(t, st, key, b)

	// One manifest entry changed.
	ms, err := evidence.Manifests(ctx, st, "MINIO-1")
	if err != nil {
		t.Fatal(err)
	}
	mkey := "cases/MINIO-1/runs/" + ms[0].Run + "/manifest.json"
	mb := storetest.Read(t, st, mkey)
	changed := bytes.Replace(mb, []byte(`"collector": "logs"`), []byte(`"collector": "LOGS"`), 1)
	if bytes.Equal(changed, mb) {
		t.Fatal("manifest has no logs entry to change")
	}
	putObject(t, st, mkey, changed)
	r = cli(t, flags, "evidence", "verify", "MINIO-1")
	if r.code != exitUnverified || !strings.Contains(r.stdout, mkey) || !strings.Contains(r.stdout, "signature") {
		t.Errorf("verify after a changed manifest entry: exit %d\n%s", r.code, r.stdout)
	}
}

// The same on containerd: a running container (made as nerdctl makes them,
// so that its log file is found) collected into MinIO through the CLI; every
// artifact of the bundle is in the bucket, verify passes, and one changed
// byte of the layer makes verify fail naming it.
func TestCLICollectContainerdToMinIOAndVerify(t *testing.T) {
	h := runtimetest.Containerd(t)
	_, st, flags := minioCLI(t, false)
	flags = append(slices.DeleteFunc(slices.Clone(flags), func(f string) bool { return f == "--runtime=docker" }),
		"--runtime=containerd", "--namespace", h.Containerd().Namespace())
	stateDir := t.TempDir()
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{
		Cmd:    []string{"sh", "-c", "mkdir /w; echo x > /w/f; exec sleep 3600"},
		Labels: map[string]string{containerd.StateDirLabel: stateDir},
	})
	entry, _ := json.Marshal(map[string]string{"log": "started\n", "stream": "stdout", "time": time.Now().UTC().Format(time.RFC3339Nano)})
	if err := os.WriteFile(filepath.Join(stateDir, d.ID+"-json.log"), append(entry, '\n'), 0o640); err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 10*time.Second, "script in the container done", func() bool {
		layer, err := h.Containerd().WritableLayer(context.Background(), d.ID)
		if err != nil {
			return false
		}
		_, err = os.Stat(layer.Upper + "/w/f")
		return err == nil
	})
	line := collectIntoMinIO(t, st, flags, "MINIO-CTRD", d.Name)
	key := line.Prefix + "fsdiff/layer.tar.zst"
	b := storetest.Read(t, st, key)
	b[len(b)/2] ^= 1
	putObject(t, st, key, b)
	r := cli(t, flags, "evidence", "verify", "MINIO-CTRD")
	if r.code != exitUnverified || !strings.Contains(r.stdout, key) {
		t.Errorf("verify after a changed byte of the layer: exit %d\n%s", r.code, r.stdout)
	}
}

// putObject overwrites an object directly in the bucket, as someone with
// write access to the bucket could.
func putObject(t *testing.T, st *evidence.S3Store, key string, b []byte) {
	t.Helper()
	c := st.Config()
	_, err := st.Client().PutObject(context.Background(), c.Bucket, c.Prefix+key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCLICollectWithMinIODownSpoolsAndSyncs(t *testing.T) {
	h := runtimetest.Docker(t)
	srv, st, flags := minioCLI(t, false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "echo x > /f; exec sleep 3600"}})
	srv.Stop()
	r := cli(t, flags, "collect", "--case", "DOWN-1", d.Name)
	if r.code != exitSpooled || !strings.Contains(r.stderr, "NOT yet replicated") {
		t.Fatalf("collect with MinIO down: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	spooled := spoolFiles(t, flagValue(flags, "--spool-dir"))
	if len(spooled) < 10 { // case.json, 8 artifacts, custody, manifest, signature
		t.Fatalf("spool holds %d files: %v", len(spooled), spooled)
	}
	srv.Start()
	r = cli(t, dropFlag(flags, "--key-dir"), "evidence", "sync")
	if r.code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if left := spoolFiles(t, flagValue(flags, "--spool-dir")); len(left) != 0 {
		t.Errorf("spool not emptied after sync: %v", left)
	}
	if n := len(bucketKeys(t, st)); n != len(spooled) {
		t.Errorf("MinIO holds %d objects, the spool held %d", n, len(spooled))
	}
	if r := cli(t, flags, "evidence", "verify", "DOWN-1"); r.code != exitOK {
		t.Errorf("verify after sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCLICollectWithMinIOStoppedMidway(t *testing.T) {
	h := runtimetest.Docker(t)
	srv, st, flags := minioCLI(t, false)
	// Enough incompressible data that the upload takes a while.
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "dd if=/dev/urandom of=/big bs=1M count=300 2>/dev/null; touch /ready; exec sleep 3600"}})
	runtimetest.Eventually(t, 60*time.Second, "big file written", func() bool {
		_, err := os.Stat(upperOf(t, h, d.ID) + "/ready")
		return err == nil
	})
	var wg sync.WaitGroup
	var r cliResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		r = cli(t, flags, "collect", "--case", "MID-1", d.Name)
	}()
	runtimetest.Eventually(t, 30*time.Second, "collection has started writing", func() bool {
		for k := range bucketKeys(t, st) {
			if strings.HasSuffix(k, "processes.json") {
				return true
			}
		}
		return false
	})
	srv.Stop()
	wg.Wait()
	if r.code != exitSpooled {
		t.Fatalf("collect with MinIO stopped midway: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	srv.Start()
	if r := cli(t, dropFlag(flags, "--key-dir"), "evidence", "sync"); r.code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, flags, "evidence", "verify", "MID-1"); r.code != exitOK {
		t.Errorf("verify after sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func upperOf(t *testing.T, h *runtimetest.DockerHarness, id string) string {
	t.Helper()
	l, err := h.Docker().WritableLayer(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l.Upper
}

func TestCLIObjectLockRetention(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})

	_, plain, flags := minioCLI(t, false)
	r := cli(t, flags, "collect", "--case", "LOCK-0", "--retain", "1d", d.Name)
	if r.code == exitOK || !strings.Contains(r.stderr, "object lock") {
		t.Fatalf("--retain on a bucket without object lock: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(bucketKeys(t, plain)); n != 0 {
		t.Errorf("refused retention still wrote %d objects", n)
	}

	_, locked, flags := minioCLI(t, true)
	r = cli(t, flags, "collect", "--case", "LOCK-1", "--retain", "1d", "--what", "inspect", d.Name)
	if r.code != exitOK {
		t.Fatalf("collect with retention: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	c := locked.Config()
	ctx := context.Background()
	var target minio.ObjectInfo
	for o := range locked.Client().ListObjects(ctx, c.Bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if strings.HasSuffix(o.Key, "inspect.json") {
			target = o
		}
	}
	if target.Key == "" {
		t.Fatal("inspect.json not stored")
	}
	err := locked.Client().RemoveObject(ctx, c.Bucket, target.Key, minio.RemoveObjectOptions{VersionID: target.VersionID})
	if err == nil {
		t.Fatal("a retained artifact version was deleted")
	}
	ret, until, err := locked.Client().GetObjectRetention(ctx, c.Bucket, target.Key, target.VersionID)
	if err != nil || ret == nil || *ret != minio.Governance || until == nil || until.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("retention = %v until %v (%v), want governance for a day", ret, until, err)
	}
}
