package tui

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/klauspost/compress/zstd"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/internal/app"
)

const (
	evCase      = "case-20261128-120000-tui"
	evContainer = "4f9a1c2b3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeef"
	hostileName = "\x1b]0;pwned\x07evil\u202etxt.sh"
	hostileBody = "clip \x1b]52;c;aGk=\x07 done\nbidi \u202eexe.txt\n\x1b[2Jcleared\x1b[1A\rover\n"
)

var (
	textBody   = "hello responder\nsecond line\n"
	binaryBody = append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00"), bytes.Repeat([]byte{0, 1, 2, 0xfe, 'A'}, 20)...)
	evTime     = time.Date(2026, 11, 28, 11, 59, 0, 0, time.UTC)
	bigBody    = []byte(strings.Repeat("a log line that repeats for the preview's limit\n", 2200))
)

// evCapture is one capture of the test case: where it is and what it holds.
type evCapture struct {
	storeDir, keyDir string
	prefix           string // the capture's key prefix
}

// buildEvidence writes a real, signed case into a local store with the
// project's own evidence code: a run with a filesystem diff (changes.json
// and a zstd layer tar built here), a log, and something not captured.
func buildEvidence(t *testing.T) evCapture {
	t.Helper()
	ctx := context.Background()
	c := evCapture{storeDir: t.TempDir(), keyDir: t.TempDir()}
	st, err := evidence.NewFileStore(c.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := evidence.LoadOrCreateSigner(c.keyDir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := evidence.OpenRunWith(ctx, st, signer, evidence.CaseInfo{ID: evCase, Actor: "tester@host", Tool: "firebreak test", Targets: []string{"victim"}}, evidence.RunOptions{Host: "testhost"})
	if err != nil {
		t.Fatal(err)
	}
	c.prefix = evidence.CasePrefix(evCase) + evContainer + "/20261128T115900.000000000Z/"
	layer, changes := buildLayer(t)
	if _, err := run.Put(ctx, c.prefix+"fsdiff/layer.tar.zst", bytes.NewReader(layer), "fsdiff", evContainer); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Put(ctx, c.prefix+"fsdiff/changes.json", bytes.NewReader(changes), "fsdiff", evContainer); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Put(ctx, c.prefix+"logs/stdout.log", strings.NewReader("started\n\x1b]0;log title\x07line\n"), "logs", evContainer); err != nil {
		t.Fatal(err)
	}
	run.Incomplete("memory: not captured in this test")
	if _, err := run.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// buildLayer makes a layer tar (zstd) and its changes.json as a capture
// writes them: an added text file, an added binary and a hard link to it,
// a changed file, a deleted one (a whiteout), a symlink, directories, and
// a file whose name and content hold escape sequences.
func buildLayer(t *testing.T) (layer, changes []byte) {
	t.Helper()
	var tb bytes.Buffer
	zw, err := zstd.NewWriter(&tb, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	var list []collect.FileChange
	dir := func(p, kind string) {
		if err := tw.WriteHeader(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: evTime, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		list = append(list, collect.FileChange{Path: "/" + p, Kind: kind, Type: "dir", Mode: "0755", MTime: evTime})
	}
	file := func(p, kind string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: evTime, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
		list = append(list, collect.FileChange{Path: "/" + p, Kind: kind, Type: "file", Mode: "0644", Size: int64(len(body)), MTime: evTime, SHA256: sum(body), Captured: int64(len(body))})
	}
	// whiteouts first in their directory, as the layer spec asks
	if err := tw.WriteHeader(&tar.Header{Name: "etc/.wh.shadow-", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: evTime, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	dir("etc", "C")
	list = append(list, collect.FileChange{Path: "/etc/shadow-", Kind: "D", Type: "whiteout", MTime: evTime})
	if err := tw.WriteHeader(&tar.Header{Name: "etc/localtime", Typeflag: tar.TypeSymlink, Linkname: "/usr/share/zoneinfo/UTC", Mode: 0o777, ModTime: evTime, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	list = append(list, collect.FileChange{Path: "/etc/localtime", Kind: "A", Type: "symlink", Mode: "0777", Link: "/usr/share/zoneinfo/UTC", MTime: evTime})
	file("etc/motd", "A", []byte(textBody))
	file("etc/passwd", "C", []byte("root:x:0:0:root:/root:/bin/sh\nbackdoor:x:0:0::/:/bin/sh\n"))
	dir("tmp", "C")
	file("tmp/"+hostileName, "A", []byte(hostileBody))
	// var and var/log are in the image, unchanged: only implied
	file("var/log/big.log", "A", bigBody)
	// a name that is not UTF-8, as a capture records it
	raw := "var/log/bad\xffname"
	if err := tw.WriteHeader(&tar.Header{Name: raw, Typeflag: tar.TypeReg, Mode: 0o600, Size: 3, ModTime: evTime, Format: tar.FormatPAX, PAXRecords: map[string]string{"hdrcharset": "BINARY"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte("raw")); err != nil {
		t.Fatal(err)
	}
	list = append(list, collect.FileChange{Path: strings.ToValidUTF8("/"+raw, "\uFFFD"), PathB64: base64.StdEncoding.EncodeToString([]byte("/" + raw)), Kind: "A", Type: "file", Mode: "0600", Size: 3, MTime: evTime, SHA256: sum([]byte("raw")), Captured: 3})
	// usr and usr/local are in the image, unchanged: only implied
	dir("usr/local/bin", "A")
	file("usr/local/bin/implant", "A", binaryBody)
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/implant2", Typeflag: tar.TypeLink, Linkname: "usr/local/bin/implant", Mode: 0o755, ModTime: evTime, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	list = append(list, collect.FileChange{Path: "/usr/local/bin/implant2", Kind: "A", Type: "hardlink", Mode: "0755", Size: int64(len(binaryBody)), Link: "/usr/local/bin/implant", MTime: evTime})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return tb.Bytes(), append(js, '\n')
}

// offline is the console as `firebreak tui --offline --store DIR` builds
// it: real Sessions with no engine, the store opened read-only.
func offline(t *testing.T, c evCapture, w, h int) (*Model, *Sessions) {
	t.Helper()
	b := NewSessions(app.Options{Store: app.StoreOptions{URL: c.storeDir, KeyDir: c.keyDir}, StateDir: t.TempDir(), Actor: "tester@host"})
	if b.Store() == nil {
		t.Fatalf("no store: %v", b.storeErr)
	}
	m := started(b, w, h, Options{Offline: true})
	t.Cleanup(m.Close)
	return m, b
}

// resize redraws at each test size and checks the frame.
func checkSizes(t *testing.T, m *Model, what string) {
	t.Helper()
	w, h := m.width, m.height
	for _, s := range [][2]int{{80, 24}, {160, 48}} {
		m.Update(tea.WindowSizeMsg{Width: s[0], Height: s[1]})
		v := m.View()
		checkFrame(t, v, s[0], s[1])
		if strings.ContainsRune(v, 0x1b) || strings.ContainsRune(v, 0x202e) {
			t.Errorf("%s at %dx%d: a raw escape or bidi override reached the screen", what, s[0], s[1])
		}
	}
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
}

// moveTo puts the cursor on the row that ok picks, with the keys a user
// would press.
func moveTo(t *testing.T, m *Model, n int, cursor func() int, ok func(i int) bool) {
	t.Helper()
	for i := range n {
		if ok(i) {
			press(m, "g")
			for cursor() < i {
				press(m, "down")
			}
			return
		}
	}
	t.Fatalf("no row found:\n%s", m.View())
}

func TestEvidenceOfflineBrowseVerifyAndDiff(t *testing.T) {
	c := buildEvidence(t)
	m, _ := offline(t, c, 120, 40)
	if m.active != screenEvidence {
		t.Fatalf("offline console starts on view %d", m.active)
	}
	v := m.View()
	if !strings.Contains(v, evCase) || !strings.Contains(v, "offline") {
		t.Fatalf("cases list lacks the case:\n%s", v)
	}
	checkSizes(t, m, "cases list")

	// the list counts what the case view lists: artifacts, not the runs'
	// own records (case.json, custody logs, signatures)
	listed := m.evidence.cases
	// (b) the case: runs and artifacts with digests
	press(m, "enter")
	cs := m.evidence.cs
	if m.evidence.level != levelCase || cs == nil || !cs.loaded {
		t.Fatalf("enter did not open the case:\n%s", m.View())
	}
	v = m.View()
	mf := cs.manifests[0]
	for _, want := range []string{"run " + mf.Run[:20], "testhost", "tester@host", "fsdiff/changes.json", "fsdiff/layer.tar.zst", "logs/stdout.log", "incomplete: memory", "not verified"} {
		if !strings.Contains(v, want) {
			t.Errorf("case view lacks %q:\n%s", want, v)
		}
	}
	for _, a := range mf.Artifacts {
		if !strings.Contains(v, a.SHA256[:12]) {
			t.Errorf("case view lacks the digest of %s:\n%s", a.Key, v)
		}
	}
	checkSizes(t, m, "case")
	arts := 0
	for _, mf := range cs.manifests {
		arts += len(mf.Artifacts)
	}
	for _, c := range listed {
		if c.ID == evCase && (c.Artifacts != arts || c.Runs != len(cs.manifests)) {
			t.Errorf("cases list says %d runs, %d artifacts; the case has %d, %d", c.Runs, c.Artifacts, len(cs.manifests), arts)
		}
	}

	// verify: OK per artifact, the verdict, the custody head
	press(m, "v")
	v = m.View()
	if cs.report == nil || !cs.report.OK() || !strings.Contains(v, "VERIFIED OK") || !strings.Contains(v, "custody heads: testhost "+cs.report.Heads[0].Head[:16]) {
		t.Fatalf("verify: report %+v\n%s", cs.report, v)
	}
	artifacts := 0
	for _, r := range cs.rows {
		if r.kind == rowArtifact {
			artifacts++
			if got := cs.result(r); got != "OK" {
				t.Errorf("artifact %s: %s, want OK", r.art.Key, got)
			}
		}
	}
	if artifacts != 3 || strings.Count(v, " OK ") < 3 {
		t.Errorf("want 3 artifacts each OK, got %d:\n%s", artifacts, v)
	}
	checkSizes(t, m, "verified case")

	// (c) the diff browser from changes.json
	moveTo(t, m, len(cs.rows), func() int { return cs.nav.cursor }, func(i int) bool {
		return cs.rows[i].kind == rowArtifact && strings.HasSuffix(cs.rows[i].art.Key, "changes.json")
	})
	press(m, "enter")
	d := m.evidence.diff
	if m.evidence.level != levelDiff || d == nil || !d.loaded {
		t.Fatalf("enter on changes.json did not open the diff:\n%s", m.View())
	}
	if d.layer != c.prefix+"fsdiff/layer.tar.zst" {
		t.Fatalf("diff layer %q", d.layer)
	}
	v = m.View()
	for _, want := range []string{
		fmt.Sprintf("A file     0644 %9s %s", fmt.Sprintf("%d B", len(textBody)), sum([]byte(textBody))[:12]),
		"C dir      0755         - -",
		"D whiteout",
		"shadow-",
		"  ▾ usr",
		"implant2 ⇒ /usr/local/bin/implant",
		"localtime → /usr/share/zoneinfo/UTC",
		`\x1b]0;pwned\aevil\u202etxt.sh`,
		"12 changes: 8 added, 3 changed, 1 deleted",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("diff lacks %q:\n%s", want, v)
		}
	}
	checkSizes(t, m, "diff")

	preview := func(name string) string {
		t.Helper()
		rows := d.visible()
		moveTo(t, m, len(rows), func() int { return d.nav.cursor }, func(i int) bool { return rows[i].name == name })
		press(m, "enter")
		if m.evidence.level != levelPreview || !m.evidence.pv.loaded {
			t.Fatalf("enter on %q opened no preview:\n%s", name, m.View())
		}
		if e := m.evidence.pv.err; e != "" {
			t.Fatalf("preview of %q: %s", name, e)
		}
		checkSizes(t, m, "preview of "+Inert(name))
		v := m.View()
		press(m, "esc")
		if m.evidence.level != levelDiff {
			t.Fatal("esc did not go back to the diff")
		}
		return v
	}
	if v := preview("motd"); !strings.Contains(v, "hello responder") || !strings.Contains(v, "second line") || m.evidence.diff.current().name != "motd" {
		t.Errorf("text preview:\n%s", v)
	}
	for _, name := range []string{"implant", "implant2"} {
		v := preview(name)
		if !strings.Contains(v, "00000000  7f 45 4c 46 02 01 01 00  00 00 00 01 02 fe 41 00  |.ELF..........A.|") {
			t.Errorf("hex preview of %s:\n%s", name, v)
		}
	}
	v = preview(hostileName)
	for _, want := range []string{`clip \x1b]52;c;aGk=\a done`, `bidi \u202eexe.txt`, `\x1b[2Jcleared\x1b[1A\rover`, `\x1b]0;pwned\aevil\u202etxt.sh`} {
		if !strings.Contains(v, want) {
			t.Errorf("hostile preview lacks %q:\n%s", want, v)
		}
	}
	if v := preview("bad\xffname"); !strings.Contains(v, `/var/log/bad\xffname`) || !strings.Contains(v, "raw") {
		t.Errorf("preview of a name that is not UTF-8:\n%s", v)
	}
	// a file larger than the preview reads: its start, said so; scrolls;
	// x shows it as hex
	rows := d.visible()
	moveTo(t, m, len(rows), func() int { return d.nav.cursor }, func(i int) bool { return rows[i].name == "big.log" })
	press(m, "enter")
	if v := m.View(); !strings.Contains(v, "text, first 64.0 KiB of 103.1 KiB") || !strings.Contains(v, "a log line that repeats") {
		t.Errorf("big preview:\n%s", v)
	}
	press(m, "G")
	if p := m.evidence.pv; p.off == 0 || p.off+p.height != len(p.lines(m.width)) {
		t.Errorf("G in the preview: offset %d, height %d, lines %d", p.off, p.height, len(p.lines(m.width)))
	}
	press(m, "x")
	if v := m.View(); !strings.Contains(v, "00000000  61 20 6c 6f 67 20") {
		t.Errorf("x did not show hex:\n%s", v)
	}
	checkSizes(t, m, "big preview")
	press(m, "esc")
	if v := preview("localtime"); !strings.Contains(v, "symbolic link to /usr/share/zoneinfo/UTC") {
		t.Errorf("symlink preview:\n%s", v)
	}
	if v := preview("shadow-"); !strings.Contains(v, "deleted") {
		t.Errorf("whiteout preview:\n%s", v)
	}

	// collapse, filter by kind and by path
	rows = d.visible()
	moveTo(t, m, len(rows), func() int { return d.nav.cursor }, func(i int) bool { return rows[i].name == "usr" })
	n := len(d.visible())
	press(m, "left")
	if got := len(d.visible()); got != n-4 {
		t.Errorf("closing usr: %d rows, want %d", got, n-4)
	}
	press(m, "f") // added only
	for _, r := range d.visible() {
		if len(r.kids) == 0 && (r.ch == nil || r.ch.Kind != "A") {
			t.Errorf("added filter shows %s", r.path)
		}
	}
	press(m, "f", "f") // deleted
	if v := m.View(); !strings.Contains(v, "shadow-") || strings.Contains(v, "motd") {
		t.Errorf("deleted filter:\n%s", v)
	}
	press(m, "esc", "/")
	typeText(m, "pass")
	press(m, "enter")
	if rows := d.visible(); len(rows) != 2 || rows[1].path != "/etc/passwd" {
		t.Errorf("filter pass: %d rows", len(rows))
	}
	press(m, "esc", "esc")
	if m.evidence.level != levelCase {
		t.Fatalf("esc from the diff: level %d", m.evidence.level)
	}

	// another artifact previews as it is
	moveTo(t, m, len(cs.rows), func() int { return cs.nav.cursor }, func(i int) bool {
		return cs.rows[i].kind == rowArtifact && strings.HasSuffix(cs.rows[i].art.Key, "stdout.log")
	})
	press(m, "enter")
	if v := m.View(); !strings.Contains(v, `\x1b]0;log title\aline`) {
		t.Errorf("log preview:\n%s", v)
	}
	checkSizes(t, m, "log preview")
	press(m, "esc")

	// tamper with one stored object: verify names it
	logPath := filepath.Join(c.storeDir, filepath.FromSlash(c.prefix+"logs/stdout.log"))
	if err := os.WriteFile(logPath, []byte("started\nnothing to see\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.storeDir, "cases", evCase, "planted.bin"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	press(m, "v")
	v = m.View()
	if !strings.Contains(v, "✗ planted.bin: object in the case that no manifest lists") {
		t.Errorf("an object no manifest lists is not shown:\n%s", v)
	}
	if cs.report == nil || cs.report.OK() || !strings.Contains(v, "VERIFY FAILED") {
		t.Fatalf("verify after tampering:\n%s", v)
	}
	for _, r := range cs.rows {
		if r.kind != rowArtifact {
			continue
		}
		want := "OK"
		if strings.HasSuffix(r.art.Key, "stdout.log") {
			want = "FAIL"
		}
		if got := cs.result(r); got != want {
			t.Errorf("after tampering, %s: %s, want %s", r.art.Key, got, want)
		}
	}
	moveTo(t, m, len(cs.rows), func() int { return cs.nav.cursor }, func(i int) bool {
		return cs.rows[i].kind == rowArtifact && strings.HasSuffix(cs.rows[i].art.Key, "stdout.log")
	})
	if v := m.View(); !strings.Contains(v, "FAIL") || !strings.Contains(v, "manifest says") {
		t.Errorf("the tampered artifact's row and problem are not shown:\n%s", v)
	}
	checkSizes(t, m, "failed verify")
	press(m, "esc")
	if m.evidence.level != levelCases {
		t.Fatalf("esc from the case: level %d", m.evidence.level)
	}
}

// namedStore is a real store with a fixed name, for golden files.
type namedStore struct {
	evidence.Store
	name string
}

func (s namedStore) String() string { return s.name }

func TestEvidenceGolden(t *testing.T) {
	c := buildEvidence(t)
	sess := NewSessions(app.Options{Store: app.StoreOptions{URL: c.storeDir, KeyDir: c.keyDir}, StateDir: t.TempDir()})
	at := time.Date(2026, 11, 28, 12, 0, 5, 0, time.UTC)
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := &fakeBackend{store: namedStore{sess.Store(), "file:///var/lib/firebreak/evidence"}, VerifyFn: sess.Verify}
		b.CasesFn = func(context.Context) ([]CaseSummary, error) {
			return []CaseSummary{
				{ID: evCase, Runs: 1, Artifacts: 3, Bytes: 2345, Updated: at},
				{ID: "case-20261127-093000-beef01", Runs: 3, Artifacts: 41, Bytes: 812 << 20, Updated: at.Add(-26 * time.Hour)},
				{ID: "IR-\x1b]0;pwned\x07-\u202eevil", Runs: 0, Artifacts: 2, Bytes: 10, Updated: at.Add(-72 * time.Hour)},
			}, nil
		}
		m := started(b, size[0], size[1], Options{Offline: true})
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("evidence-cases-%dx%d", size[0], size[1]), v)

		press(m, "enter")
		cs := m.evidence.cs
		moveTo(t, m, len(cs.rows), func() int { return cs.nav.cursor }, func(i int) bool {
			return cs.rows[i].kind == rowArtifact && strings.HasSuffix(cs.rows[i].art.Key, "changes.json")
		})
		press(m, "enter", "down", "down")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("evidence-diff-%dx%d", size[0], size[1]), v)
		m.Close()
	}
}

// A case named by the run view opens when the view loads.
func TestEvidenceFocusCaseFromRunView(t *testing.T) {
	c := buildEvidence(t)
	sess := NewSessions(app.Options{Store: app.StoreOptions{URL: c.storeDir, KeyDir: c.keyDir}, StateDir: t.TempDir()})
	b := fleetOf(2)
	b.store, b.CasesFn, b.VerifyFn = sess.Store(), sess.Cases, sess.Verify
	m := started(b, 100, 30, Options{})
	m.evidence.focusCase = evCase
	press(m, "3")
	if m.active != screenEvidence || m.evidence.level != levelCase || m.evidence.cs == nil || !m.evidence.cs.loaded {
		t.Fatalf("the focused case is not open:\n%s", m.View())
	}
	if !strings.Contains(m.View(), "case "+evCase) {
		t.Fatalf("case view:\n%s", m.View())
	}
	// keys typed faster than they are read arrive as one message
	press(m, "jj")
	if got := m.evidence.cs.nav.cursor; got != 2 {
		t.Fatalf("jj moved the cursor to %d, want 2", got)
	}
	// v on the list opens and verifies
	press(m, "esc", "v")
	if cs := m.evidence.cs; cs == nil || cs.report == nil || !cs.report.OK() || !strings.Contains(m.View(), "VERIFIED OK") {
		t.Fatalf("v on the list:\n%s", m.View())
	}
	press(m, "?")
	if v := m.View(); !strings.Contains(v, "evidence view") || !strings.Contains(v, "verify the case") {
		t.Fatalf("help lacks the evidence keys:\n%s", v)
	}
}

// slowStore answers List and Stat, and blocks every Get until the call is
// cancelled.
type slowStore struct {
	evidence.Store
	started chan string
}

func (s slowStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasSuffix(key, "changes.json") {
		s.started <- key
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Store.Get(ctx, key)
}

// A slow store shows the spinner; esc cancels the read, and the browser
// says so instead of hanging.
func TestEvidenceSlowStoreCancels(t *testing.T) {
	c := buildEvidence(t)
	sess := NewSessions(app.Options{Store: app.StoreOptions{URL: c.storeDir, KeyDir: c.keyDir}, StateDir: t.TempDir()})
	slow := slowStore{Store: sess.Store(), started: make(chan string, 1)}
	b := &fakeBackend{store: slow, CasesFn: sess.Cases, VerifyFn: sess.Verify}
	m := started(b, 80, 24, Options{Offline: true})
	defer m.Close()
	press(m, "enter")
	cs := m.evidence.cs
	moveTo(t, m, len(cs.rows), func() int { return cs.nav.cursor }, func(i int) bool {
		return cs.rows[i].kind == rowArtifact && strings.HasSuffix(cs.rows[i].art.Key, "changes.json")
	})
	_, cmd := m.Update(keyMsg("enter"))
	msgs := make(chan tea.Msg, 8)
	var run func(c tea.Cmd)
	run = func(c tea.Cmd) {
		if c == nil {
			return
		}
		switch msg := c().(type) {
		case tea.BatchMsg:
			for _, c := range msg {
				go run(c)
			}
		case nil:
		default:
			msgs <- msg
		}
	}
	go run(cmd)
	select {
	case <-slow.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not start")
	}
	if v := m.View(); !strings.Contains(v, "reading changes.json (esc cancels reading)") || !strings.Contains(v, "reading changes") {
		t.Fatalf("no spinner while the store is slow:\n%s", v)
	}
	press(m, "esc")
	if len(m.busy) != 0 || !strings.Contains(m.status, "cancelled") {
		t.Fatalf("esc did not cancel: %v %q", m.busy, m.status)
	}
	deadline := time.After(5 * time.Second)
	for m.evidence.diff.err == "" {
		select {
		case msg := <-msgs:
			if _, ok := msg.(spinMsg); ok {
				continue
			}
			m.Update(msg)
		case <-deadline:
			t.Fatal("the cancelled read never answered")
		}
	}
	if v := m.View(); !strings.Contains(v, "reading cancelled") {
		t.Fatalf("after cancel:\n%s", v)
	}
	press(m, "esc")
	if m.evidence.level != levelCase {
		t.Fatalf("esc after the cancel: level %d", m.evidence.level)
	}
}

// A key pinned with --pubkey is the one verify trusts: the case's own key
// pinned verifies and says so; another key pinned fails, whatever
// signing.pub lies beside the evidence.
func TestEvidenceOfflineVerifiesAgainstPinnedKeys(t *testing.T) {
	c := buildEvidence(t)
	own, err := evidence.LoadPublicKey(c.keyDir)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys []evidence.TrustedKey
		want string
	}{
		{"beside", nil, "not pinned"},
		{"own", []evidence.TrustedKey{{Key: own, Source: "--pubkey", Pinned: true}}, "(pinned: --pubkey)"},
		{"other", []evidence.TrustedKey{{Key: other.Pub, Source: "--pubkey", Pinned: true}}, "VERIFY FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, b := offline(t, c, 160, 48)
			b.Trust(tc.keys)
			press(m, "enter", "v")
			v := m.View()
			if !strings.Contains(v, tc.want) {
				t.Errorf("verify with %s keys: want %q on screen:\n%s", tc.name, tc.want, v)
			}
			if ok := m.evidence.cs != nil && m.evidence.cs.report != nil && m.evidence.cs.report.OK(); ok != (tc.name != "other") {
				t.Errorf("verify with %s keys: OK = %v", tc.name, ok)
			}
		})
	}
}

// An answer for a case the responder left is dropped.
func TestEvidenceStaleAnswersAreDropped(t *testing.T) {
	c := buildEvidence(t)
	m, _ := offline(t, c, 80, 24)
	press(m, "enter")
	old := m.gens["evidence/case"]
	press(m, "esc", "enter")
	m.Update(caseMsg{gen: old, id: evCase, manifests: nil})
	if cs := m.evidence.cs; cs == nil || len(cs.manifests) != 1 {
		t.Fatal("a stale case answer replaced the newer one")
	}
	m.Update(casesMsg{gen: m.gens["evidence/cases"] - 1})
	if len(m.evidence.cases) != 1 {
		t.Fatal("a stale list answer emptied the cases")
	}
}

func TestLooksBinary(t *testing.T) {
	for _, tc := range []struct {
		data   string
		cut    bool
		binary bool
	}{
		{"plain text\n", false, false},
		{"with NUL\x00", false, true},
		{"latin1 \xe9t\xe9", false, true},
		{"cut in a rune \xe2\x82", true, false},
		{"cut in a rune \xe2\x82", false, true},
		{"escapes \x1b]0;x\x07 are text", false, false},
	} {
		if got := looksBinary([]byte(tc.data), tc.cut); got != tc.binary {
			t.Errorf("looksBinary(%q, %v) = %v", tc.data, tc.cut, got)
		}
	}
}
