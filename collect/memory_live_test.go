package collect_test

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/evidence/storetest"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// buildMemHelper builds testdata/memhelper (static) into a directory of
// its own, for a bind mount into a busybox container.
func buildMemHelper(t testing.TB) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		gobin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		t.Fatalf("no go tool to build the memory test helper (put it in PATH): %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(gobin, "build", "-o", filepath.Join(dir, "memhelper"), "./testdata/memhelper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the memory test helper: %v\n%s", err, out)
	}
	return dir
}

func requireGDB(t *testing.T) string {
	t.Helper()
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		runtimetest.SkipOrFail(t, "gdb is not installed (apt-get install -y gdb)")
	}
	return gdb
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// heldScript leaves what only live processes hold: a deleted file open on
// the shell's fd 3, busybox run from a copy since deleted, the helper run
// from a memfd, a secret in one process's environment (a user only the
// container's /etc/passwd names), and a marker built at run time in the
// shell's heap (the script's text does not hold it).
const heldScript = `set -e
echo "fbuser:x:4242:4343::/:/bin/sh" >> /etc/passwd
echo "fbgroup:x:4343:" >> /etc/group
echo "deleted but open: %[1]s" > /tmp/f
exec 3<>/tmp/f
rm /tmp/f
mkdir /tmp/d
cp /bin/busybox /tmp/d/busybox
/tmp/d/busybox sleep 1000 &
/helper/memhelper memfd &
FB_SECRET=%[2]s su -s /bin/sleep fbuser -- 1001 &
sleep 1
rm /tmp/d/busybox
m=FBH; m="${m}EAP$((6*7))MARK"
touch /tmp/ready
while :; do sleep 1000; done`

const heapMarker = "FBHEAP42MARK"

// TestCollectMemoryAndHeldFiles runs the script above on each engine,
// refuses memory while the container runs, then freezes it and checks that
// the bundle holds every held file, the environment and a core of every
// process that gdb reads.
func TestCollectMemoryAndHeldFiles(t *testing.T) {
	gdb := requireGDB(t)
	helperDir := buildMemHelper(t)
	forEachEngine(t, func(t *testing.T, h runtimetest.Harness) { memoryAndHeldFiles(t, h, gdb, helperDir) })
}

func memoryAndHeldFiles(t *testing.T, h runtimetest.Harness, gdb, helperDir string) {
	ctx := runtimetest.Context(t)
	helper, err := os.ReadFile(filepath.Join(helperDir, "memhelper"))
	if err != nil {
		t.Fatal(err)
	}
	name := runtimetest.Name(t)
	secret := "s3cret-" + name
	fileText := "deleted but open: " + name + "\n"
	d := h.Run(t, name, runtimetest.Spec{Cmd: []string{"sh", "-c", fmt.Sprintf(heldScript, name, secret)}, Binds: []string{helperDir + ":/helper:ro"}})
	waitForFile(t, h, d.ID, "tmp/ready")
	store := fileStore(t)
	run, sg := newRun(t, store, "MEM-1")
	what := []collect.Collector{collect.WhatProcesses, collect.WhatMemory}

	// Running: memory is refused, and nothing of it is stored.
	res, err := collect.Collect(ctx, h.Runtime(), run, d.Container, collect.Options{What: what})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Incomplete, func(s string) bool { return strings.Contains(s, "memory: the container is not frozen (it is running)") }) {
		t.Errorf("memory of a running container not refused: %v", res.Incomplete)
	}
	for _, a := range res.Artifacts {
		if a.Collector == string(collect.WhatMemory) {
			t.Errorf("memory stored from a running container: %s", a.Key)
		}
	}

	if err := h.Runtime().Pause(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Runtime().Unpause(ctx, d.ID) })
	res, err = collect.Collect(ctx, h.Runtime(), run, d.Container, collect.Options{What: what})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Incomplete) > 0 {
		t.Errorf("incomplete: %v", res.Incomplete)
	}
	var procs []collect.Process
	getJSON(t, store, res.Prefix+"processes.json", &procs)
	byComm := func(match func(p collect.Process) bool) collect.Process {
		t.Helper()
		i := slices.IndexFunc(procs, match)
		if i < 0 {
			t.Fatalf("no such process in %+v", procs)
		}
		return procs[i]
	}
	read := func(key string) []byte { return storetest.Read(t, store, res.Prefix+key) }
	init := byComm(func(p collect.Process) bool { return p.PID == d.Pid })
	if init.Threads != 1 || !slices.Equal(init.TIDs, []int{d.Pid}) || init.RSSKiB <= 0 || init.TracerPID != 0 ||
		!slices.ContainsFunc(init.Maps, func(m collect.Mapping) bool { return m.Path == "[heap]" }) {
		t.Errorf("init: threads %d %v, rss %d KiB, tracer %d, %d maps", init.Threads, init.TIDs, init.RSSKiB, init.TracerPID, len(init.Maps))
	}
	if !slices.Equal(init.UserNames, []string{"root", "root", "root", "root"}) {
		t.Errorf("init's users named %v", init.UserNames)
	}

	// The deleted executable: stored whole, the same bytes as busybox.
	copyRun := byComm(func(p collect.Process) bool { return p.Exe == "/tmp/d/busybox (deleted)" })
	if h := copyRun.ExeContent; !copyRun.ExeDeleted || h == nil || h.Truncated || h.SHA256 != init.ExeSHA256 || sha(read(h.Key)) != init.ExeSHA256 {
		t.Errorf("deleted executable stored as %+v; busybox is %s", copyRun.ExeContent, init.ExeSHA256)
	}
	// The memfd executable: the helper's bytes.
	memfd := byComm(func(p collect.Process) bool { return p.ExeMemfd })
	if h := memfd.ExeContent; h == nil || h.SHA256 != sha(helper) || !bytes.Equal(read(h.Key), helper) {
		t.Errorf("memfd executable stored as %+v; the helper is %s", memfd.ExeContent, sha(helper))
	}
	// The secret: raw in the environ artifact, escaped in processes.json,
	// with the user and group named from the container's own files.
	secretRun := byComm(func(p collect.Process) bool { return slices.Contains(p.Environ, "FB_SECRET="+secret) })
	if raw := read(secretRun.EnvironKey); !bytes.Contains(raw, []byte("\x00FB_SECRET="+secret+"\x00")) && !bytes.HasPrefix(raw, []byte("FB_SECRET="+secret+"\x00")) ||
		sha(raw) != secretRun.EnvironSHA256 {
		t.Errorf("environ artifact %q (digest %s)", raw, secretRun.EnvironSHA256)
	}
	if secretRun.UserNames[0] != "fbuser" || secretRun.GroupNames[0] != "fbgroup" {
		t.Errorf("uid %v gid %v named %v %v; want fbuser and fbgroup from the container's files", secretRun.UIDs, secretRun.GIDs, secretRun.UserNames, secretRun.GroupNames)
	}

	// Open files: the shell's fd 3, deleted, stored; the memfd the helper
	// holds is the same file as its executable, stored once.
	var files []collect.ProcessFiles
	getJSON(t, store, res.Prefix+"openfiles.json", &files)
	fd := func(pid, n int) collect.OpenFile {
		t.Helper()
		for _, pf := range files {
			for _, f := range pf.Files {
				if pf.PID == pid && f.FD == n {
					return f
				}
			}
		}
		t.Fatalf("pid %d fd %d not in openfiles.json", pid, n)
		return collect.OpenFile{}
	}
	f3 := fd(d.Pid, 3)
	if f3.Path != "/tmp/f (deleted)" || !f3.Deleted || f3.Type != "file" || !slices.Contains(f3.FlagNames, "O_RDWR") || f3.Content == nil ||
		f3.Content.SHA256 != sha([]byte(fileText)) || string(read(f3.Content.Key)) != fileText {
		t.Errorf("the deleted file on fd 3: %+v content %+v", f3, f3.Content)
	}
	var memfdFD *collect.OpenFile
	for _, pf := range files {
		for i, f := range pf.Files {
			if pf.PID == memfd.PID && f.Memfd {
				memfdFD = &pf.Files[i]
			}
		}
	}
	if memfdFD == nil || memfdFD.Content == nil || memfdFD.Content.SHA256 != sha(helper) ||
		(memfdFD.Content.Key != memfd.ExeContent.Key && !strings.Contains(memfd.ExeContent.Note, "same file")) {
		t.Errorf("the helper's memfd descriptor: %+v", memfdFD)
	}

	// Memory: a core and a summary per process, the shell's heap marker in
	// the shell's core, within its [heap], and gdb reads the cores.
	for _, p := range procs {
		var mc collect.MemoryCore
		getJSON(t, store, res.Prefix+fmt.Sprintf("memory/%d.json", p.PID), &mc)
		core := read(mc.Core)
		if mc.SHA256 != sha(core) || mc.Truncated || len(mc.Unreadable) > 0 || len(mc.Threads) == 0 || len(mc.RegisterNotes) > 0 || !strings.Contains(mc.Frozen, "FROZEN") {
			t.Errorf("pid %d core: %+v", p.PID, mc)
		}
		exe := filepath.Join("/proc", strconv.Itoa(p.PID), "exe")
		if p.ExeContent != nil { // read the binary back from the bundle
			exe = writeTemp(t, read(p.ExeContent.Key))
		}
		out := gdbMappings(t, gdb, writeTemp(t, core), exe)
		t.Logf("pid %d %s: core %d bytes, %d mappings, threads %v, frozen %s\n%s", p.PID, p.Exe, len(core), mc.Mappings, mc.Threads, mc.Frozen, out)
		wantFile := strings.TrimSuffix(p.Exe, " (deleted)")
		if !strings.Contains(out, "Start Addr") || !strings.Contains(out, wantFile) {
			t.Errorf("gdb on pid %d's core does not list %s:\n%s", p.PID, wantFile, out)
		}
		if p.PID == d.Pid {
			checkHeapMarker(t, core, init.Maps)
		}
	}

	// A cap cuts the cores short, says so, and gdb still reads them.
	opts := collect.Options{What: []collect.Collector{collect.WhatMemory}, Memory: collect.Limits{MaxFile: 64 << 10, MaxTotal: 1 << 30}}
	capped, err := collect.Collect(ctx, h.Runtime(), run, d.Container, opts)
	if err != nil {
		t.Fatal(err)
	}
	var mc collect.MemoryCore
	getJSON(t, store, capped.Prefix+fmt.Sprintf("memory/%d.json", d.Pid), &mc)
	core := storetest.Read(t, store, capped.Prefix+mc.Core)
	if !mc.Truncated || mc.Captured != 64<<10 || !slices.ContainsFunc(mc.Left, func(l collect.LeftMapping) bool { return l.Why == "memory cap reached" }) {
		t.Errorf("capped core: %+v", mc)
	}
	if !slices.ContainsFunc(capped.Incomplete, func(s string) bool { return strings.Contains(s, "cores lack part of their memory") }) {
		t.Errorf("the cap is not recorded as incomplete: %v", capped.Incomplete)
	}
	if out := gdbMappings(t, gdb, writeTemp(t, core), filepath.Join("/proc", strconv.Itoa(d.Pid), "exe")); !strings.Contains(out, "/bin/busybox") {
		t.Errorf("gdb on a capped core:\n%s", out)
	}

	m, err := run.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inManifest := map[string]string{}
	for _, a := range m.Artifacts {
		inManifest[a.Key] = a.SHA256
	}
	for _, want := range []struct{ key, sha string }{
		{res.Prefix + f3.Content.Key, f3.Content.SHA256},
		{res.Prefix + copyRun.ExeContent.Key, copyRun.ExeContent.SHA256},
		{res.Prefix + memfd.ExeContent.Key, memfd.ExeContent.SHA256},
		{res.Prefix + secretRun.EnvironKey, secretRun.EnvironSHA256},
	} {
		if inManifest[want.key] != want.sha {
			t.Errorf("manifest has %s with digest %q, want %s", want.key, inManifest[want.key], want.sha)
		}
	}
	if rep, err := evidence.Verify(ctx, store, "MEM-1", sg.Pub); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}
	if st := runtimetest.Inspect(t, h, d.ID).State; st != runtime.StatePaused {
		t.Errorf("the container is %s after the capture; it must stay frozen", st)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "mem-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func gdbMappings(t *testing.T, gdb, core, exe string) string {
	t.Helper()
	out, err := exec.Command(gdb, "-batch", "-nx", "-c", core, exe, "-ex", "info proc mappings").CombinedOutput()
	if err != nil {
		t.Errorf("gdb: %v\n%s", err, out)
	}
	return string(out)
}

// checkHeapMarker finds the marker in the core and checks, through the
// program headers, that the address it was read from is in the [heap].
func checkHeapMarker(t *testing.T, core []byte, maps []collect.Mapping) {
	t.Helper()
	off := bytes.Index(core, []byte(heapMarker))
	if off < 0 {
		t.Errorf("the marker %s is not in the shell's core", heapMarker)
		return
	}
	f, err := elf.NewFile(bytes.NewReader(core))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || uint64(off) < p.Off || uint64(off) >= p.Off+p.Filesz {
			continue
		}
		addr := p.Vaddr + uint64(off) - p.Off
		for _, m := range maps {
			if addr >= uint64(m.Start) && addr < uint64(m.End) && m.Path == "[heap]" {
				return
			}
		}
		t.Errorf("the marker is at %#x, outside the [heap]", addr)
		return
	}
	t.Errorf("the marker at offset %d is in no PT_LOAD", off)
}
