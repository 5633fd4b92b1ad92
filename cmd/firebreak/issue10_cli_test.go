package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// Tests for issue 10, on the in-process fake engine and local stores: none
// needs a daemon.

// fakeEngine is a fake engine with running containers of these names.
func fakeEngine(names ...string) *fake.Engine {
	e := fake.New()
	for _, n := range names {
		e.Start(e.Create(n).ID)
	}
	return e
}

// localFlags point a command at a new local store, key and state
// directories.
func localFlags(t *testing.T) (store string, flags []string) {
	t.Helper()
	store = "file://" + t.TempDir()
	return store, []string{"--store", store, "--key-dir", t.TempDir(), "--state-dir", t.TempDir()}
}

// runFakeWith runs a command with those of the flags it takes (reading
// commands take no --key-dir, for one); flags are "--name value" pairs or
// "--name=value".
func runFakeWith(t *testing.T, e *fake.Engine, flags []string, args ...string) cliResult {
	t.Helper()
	root, _ := newRoot(newDeps(io.Discard, io.Discard))
	cmd, _, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	takes := func(name string) bool {
		return cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
	}
	var kept []string
	for i := 0; i < len(flags); i++ {
		name, _, inline := strings.Cut(strings.TrimPrefix(flags[i], "--"), "=")
		if takes(name) {
			kept = append(kept, flags[i])
			if !inline && i+1 < len(flags) {
				kept = append(kept, flags[i+1])
			}
		}
		if !inline {
			i++
		}
	}
	return runFake(t, e, append(args, kept...)...)
}

func TestCollectRefusesBadSizesAndTimesBeforeCapturing(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name string
		args []string
		says string
	}{
		{"NegativeLogCap", []string{"--log-cap", "-1", "--what", "logs"}, "--log-cap -1"},
		{"NegativeMaxFile", []string{"--max-file", "-1"}, "--max-file -1"},
		{"NegativeMaxTotal", []string{"--max-total", "-5"}, "--max-total -5"},
		{"NegativeSince", []string{"--since", "-1h"}, "negative"},
		{"FutureSince", []string{"--since", future}, "future"},
		{"GarbageSince", []string{"--since", "yesterday"}, "give how far back"},
		{"FractionalDays", []string{"--since", "1.5d"}, "give how far back"},
		{"BadWhat", []string{"--what", "memroy"}, "--what"},
		{"LockModeWithoutRetain", []string{"--lock-mode", "compliance"}, "without --retain"},
		{"BadLockMode", []string{"--retain", "1d", "--lock-mode", "forever"}, "governance or compliance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fakeEngine("web-1")
			store, flags := localFlags(t)
			r := runFakeWith(t, e, flags, append(append([]string{"collect", "--case", "BAD-1"}, tt.args...), "web-1")...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.says) {
				t.Fatalf("exit %d, stderr %q; want %d saying %q", r.code, r.stderr, exitUsage, tt.says)
			}
			if ents, _ := os.ReadDir(strings.TrimPrefix(store, "file://")); len(ents) != 0 {
				t.Errorf("a refused collect wrote %v into the store", ents)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"", 0, ""},
		{"0", 0, ""},
		{"2h", 2 * time.Hour, ""},
		{"90d", 90 * 24 * time.Hour, ""},
		{"0d", 0, ""},
		{"2026-11-28T08:00:00Z", time.Hour, ""},
		{"2026-11-28T10:00:00+02:00", time.Hour, ""},
		{"2026-11-28T10:00:00Z", 0, "future"},
		{"-5m", 0, "negative"},
		{"-1d", 0, "negative"},
		{"1.5d", 0, "give how far back"},
		{"d", 0, "give how far back"},
		{"soon", 0, "give how far back"},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != exitUsage {
				t.Errorf("parseSince(%q) = %v, %v; want a usage error about %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRetention(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"0d", 0, false},
		{"0s", 0, false},
		{"-1d", 0, false},
		{"+1d", 0, false},
		{"1w", 0, false},
	}
	for _, tt := range tests {
		got, err := parseRetention(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestCollectZeroCapsMeanNoCap: 0 is a documented value for each cap.
func TestCollectZeroCapsMeanNoCap(t *testing.T) {
	o := &collectOptions{What: []string{"logs"}, LogCap: 0, MaxFile: 0, MaxTotal: 0, Since: "0"}
	opts, err := o.options(time.Now())
	if err != nil || opts.LogCap != 0 || opts.Limits.MaxFile != 0 || opts.Since != 0 {
		t.Errorf("options with zero caps = %+v, %v", opts, err)
	}
}

// TestStoreURLsAreChecked: a store that is not an absolute file URL or
// path, or an s3 URL, is refused (exit 2) and nothing is created where the
// command runs; reading commands never create a store.
func TestStoreURLsAreChecked(t *testing.T) {
	t.Chdir(t.TempDir())
	e := fakeEngine("web-1")
	missing := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"collect", "--store", "nonsense", "web-1"},
		{"collect", "--store", "file:relative", "web-1"},
		{"evidence", "ls", "--store", "nonsense"},
		{"evidence", "ls", "--store", "file://" + missing},
		{"evidence", "show", "--store", "file://" + missing, "C1"},
		{"evidence", "get", "--store", "file://" + missing, "cases/C1/case.json"},
		{"evidence", "verify", "--store", "file://" + missing, "C1"},
		{"evidence", "ls", "--store", missing},
	} {
		r := runFakeWith(t, e, []string{"--key-dir", t.TempDir(), "--state-dir", t.TempDir()}, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, r.code, exitUsage, r.stderr)
		}
		if strings.Contains(strings.Join(args, " "), missing) && !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("%v: stderr %q does not say the store does not exist", args, r.stderr)
		}
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Errorf("refused stores left %v in the working directory", ents)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("a reading command created %s", missing)
	}
}

// TestStoreThatCannotBeWrittenIsBadInput: a store path that is a file, or a
// read-only directory, is exit 2 with a hint, before anything is captured.
func TestStoreThatCannotBeWrittenIsBadInput(t *testing.T) {
	e := fakeEngine("web-1")
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", ro).CombinedOutput(); err != nil {
			t.Skipf("chattr: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", ro).Run() })
	}
	for _, store := range []string{"file://" + file, "file://" + ro, filepath.Join(file, "sub")} {
		r := runFake(t, e, "collect", "--store", store, "--key-dir", t.TempDir(), "--state-dir", t.TempDir(), "web-1")
		if r.code != exitUsage || !strings.Contains(r.stderr, "hint:") {
			t.Errorf("collect into %s: exit %d, stderr %q; want %d with a hint", store, r.code, r.stderr, exitUsage)
		}
	}
}

func TestEvidenceLsOfEmptyStoreAndUnknownCase(t *testing.T) {
	e := fakeEngine("web-1")
	store, flags := localFlags(t)
	r := runFakeWith(t, e, flags, "evidence", "ls")
	if r.code != exitOK || r.stdout != "no cases in "+store+"\n" {
		t.Errorf("ls of an empty store: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runFakeWith(t, e, flags, "evidence", "ls", "-o", "json")
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("ls -o json of an empty store: exit %d, stdout %q", r.code, r.stdout)
	}
	for _, args := range [][]string{{"evidence", "ls", "UNKNOWN"}, {"evidence", "show", "UNKNOWN"}} {
		r = runFakeWith(t, e, flags, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "no case UNKNOWN in "+store) {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
	if r := runFakeWith(t, e, flags, "collect", "--case", "C1", "--what", "inspect", "web-1"); r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s", r.code, r.stderr)
	}
	r = runFakeWith(t, e, flags, "evidence", "ls")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "C1\t") || !strings.Contains(r.stdout, " objects\n") {
		t.Errorf("ls: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestEvidenceGetExitCodes(t *testing.T) {
	e := fakeEngine("web-1")
	_, flags := localFlags(t)
	if r := runFakeWith(t, e, flags, "collect", "--case", "C1", "--what", "inspect", "web-1"); r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s", r.code, r.stderr)
	}
	for _, key := range []string{"../../etc/passwd", "/etc/passwd", "cases/C1/../../x", "cases/C1/nothing-here"} {
		if r := runFakeWith(t, e, flags, "evidence", "get", key); r.code != exitUsage {
			t.Errorf("get %s: exit %d, want %d (%s)", key, r.code, exitUsage, r.stderr)
		}
	}
	r := runFakeWith(t, e, flags, "evidence", "get", "cases/C1/case.json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"id": "C1"`) {
		t.Errorf("get to a pipe: exit %d, stdout %q", r.code, r.stdout)
	}
}

// openPTY returns the terminal end of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	_, term := ptyPair(t)
	return term
}

// TestEvidenceGetRefusesTerminal: an object's raw bytes (a log may carry
// escape sequences from the container) go to a file, a pipe, or with --raw,
// never to a terminal by default.
func TestEvidenceGetRefusesTerminal(t *testing.T) {
	e := fakeEngine("web-1")
	store, flags := localFlags(t)
	if r := runFakeWith(t, e, flags, "collect", "--case", "C1", "--what", "inspect", "web-1"); r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s", r.code, r.stderr)
	}
	flags = []string{"--store", store}
	get := func(out *os.File, extra ...string) cliResult {
		var errb bytes.Buffer
		d := newDeps(out, &errb)
		d.openRuntime = func(context.Context, app.EngineOptions) (runtime.Runtime, error) { return keepOpen{e}, nil }
		code := run(context.Background(), append(append([]string{"evidence", "get", "cases/C1/case.json"}, extra...), flags...), d)
		return cliResult{code: code, stderr: errb.String()}
	}
	tty := openPTY(t)
	if !isTerminal(tty) {
		t.Fatal("isTerminal(pty) = false")
	}
	r := get(tty)
	if r.code != exitUsage || !strings.Contains(r.stderr, "-f FILE") {
		t.Errorf("get to a terminal: exit %d, stderr %q; want %d naming -f FILE", r.code, r.stderr, exitUsage)
	}
	if r := get(tty, "--raw"); r.code != exitOK {
		t.Errorf("get --raw to a terminal: exit %d, stderr %q", r.code, r.stderr)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if isTerminal(devNull) {
		t.Error("isTerminal(/dev/null) = true: a character device is not a terminal")
	}
	if r := get(devNull); r.code != exitOK {
		t.Errorf("get to /dev/null: exit %d, stderr %q", r.code, r.stderr)
	}
	out := filepath.Join(t.TempDir(), "case.json")
	if r := get(tty, "-f", out); r.code != exitOK {
		t.Errorf("get -f with a terminal: exit %d, stderr %q", r.code, r.stderr)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte(`"C1"`)) {
		t.Errorf("-f wrote %q, %v", b, err)
	}
}

// TestCaseShowsHostToolAndEveryRunsTargets: case.json names the host and
// the real tool version, and a second collect into the case shows its own
// targets.
func TestCaseShowsHostToolAndEveryRunsTargets(t *testing.T) {
	e := fakeEngine("web-1", "web-2")
	_, flags := localFlags(t)
	for _, target := range []string{"web-1", "web-2"} {
		if r := runFakeWith(t, e, flags, "collect", "--case", "C2", "--what", "inspect", target); r.code != exitOK {
			t.Fatalf("collect %s: exit %d\n%s", target, r.code, r.stderr)
		}
	}
	r := runFakeWith(t, e, flags, "evidence", "get", "cases/C2/case.json")
	var info evidence.CaseInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("case.json: %v\n%s", err, r.stdout)
	}
	host, _ := os.Hostname()
	if info.Host != host || info.Tool == "firebreak dev" || !strings.HasPrefix(info.Tool, "firebreak ") {
		t.Errorf("case.json host %q tool %q; want %q and a real version", info.Host, info.Tool, host)
	}
	r = runFakeWith(t, e, flags, "evidence", "show", "C2")
	if r.code != exitOK || strings.Count(r.stdout, "targets: web-1\n") != 1 || strings.Count(r.stdout, "targets: web-2\n") != 1 || !strings.Contains(r.stdout, "on "+host) {
		t.Errorf("show: exit %d\n%s", r.code, r.stdout)
	}
}

func TestVersionOf(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "firebreak", Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123def4567890"}, {Key: "vcs.time", Value: "2026-11-28T09:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name    string
		info    *debug.BuildInfo
		ldflags string
		want    string
	}{
		{"WorkTree", info, "dev", "(devel) rev abc123def456 2026-11-28T09:00:00Z dirty"},
		{"Ldflags", info, "v1.2.0", "v1.2.0 rev abc123def456 2026-11-28T09:00:00Z dirty"},
		{"Module", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.0"}}, "dev", "v1.3.0"},
		{"NoBuildInfo", nil, "dev", "dev"},
		{"PseudoVersion", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261128090000-abc123def456+dirty"}, Settings: info.Settings}, "dev", "v0.0.0-20261128090000-abc123def456+dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.info, tt.ldflags).String(); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	r := runCLI(t, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "firebreak ") || !strings.Contains(r.stdout, "go:") {
		t.Errorf("version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "version", "-o", "json")
	var v struct {
		Type string `json:"type"`
		buildVersion
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Type != "version" || v.Version == "" || v.GoVersion == "" {
		t.Errorf("version -o json = %s (%v)", r.stdout, err)
	}
}

func TestConfigBadValueSaysWhereAndWhat(t *testing.T) {
	t.Setenv("FIREBREAK_CONFIG", "")
	tests := []struct {
		name, file, pos, says string
		args                  []string
	}{
		{"Int", "store: file:///tmp\nparallel: many\n", ":2:11", "setting parallel: \"many\" is not valid: give a whole number", []string{"release", "x"}},
		{"Retain", "retain: forever\n", ":1:9", "setting retain: \"forever\" is not valid: give whole days like 90d", []string{"collect", "x"}},
		{"LockMode", "lock_mode: hard\n", ":1:12", "setting lock_mode: \"hard\" is not valid: give governance or compliance", []string{"collect", "x"}},
		{"Output", "output: yaml\n", ":1:9", "setting output: \"yaml\" is not valid: give text or json", []string{"ps"}},
		{"ListForOne", "store: [a, b]\n", ":1:8", "setting store takes one value", []string{"collect", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runFake(t, fakeEngine(), append(tt.args, "--config", cfg, "--state-dir", t.TempDir())...)
			if r.code != exitUsage || !strings.Contains(r.stderr, cfg+tt.pos) || !strings.Contains(r.stderr, tt.says) || strings.Contains(r.stderr, "strconv") {
				t.Errorf("exit %d, stderr %q; want %d at %s saying %q", r.code, r.stderr, exitUsage, tt.pos, tt.says)
			}
		})
	}
}

// TestPsShowsRunningAndHeldByDefault: ps lists running and paused
// containers, and any that Firebreak holds; -a adds the rest.
func TestPsShowsRunningAndHeldByDefault(t *testing.T) {
	e := fakeEngine("up")
	stopped := e.Create("stopped")
	created := e.Create("created")
	e.SetState(stopped.ID, runtime.StateStopped)
	held := e.Create("held")
	e.Start(held.ID)
	state := "--state-dir=" + t.TempDir()
	if r := runFake(t, e, "contain", state, "--network=false", "held"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s", r.code, r.stderr)
	}
	if err := e.Stop(context.Background(), held.ID, 0); err != nil {
		t.Fatal(err)
	}
	names := func(args ...string) map[string]bool {
		r := runFake(t, e, append([]string{"ps", "-o", "json", state}, args...)...)
		var rows []psRow
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("ps %v: %v\n%s", args, err, r.stdout)
		}
		m := map[string]bool{}
		for _, row := range rows {
			m[row.Name] = true
		}
		return m
	}
	if got := names(); !got["up"] || !got["held"] || got["stopped"] || got["created"] {
		t.Errorf("ps = %v, want up and held only", got)
	}
	if got := names("-a"); !got["up"] || !got["held"] || !got["stopped"] || !got["created"] {
		t.Errorf("ps -a = %v, want all four", got)
	}
	_ = created
}

// TestEvidenceCommandsTakeOnlyTheirFlags: reading commands offer no
// writing flags.
func TestEvidenceCommandsTakeOnlyTheirFlags(t *testing.T) {
	tests := []struct {
		cmd       []string
		have, not []string
	}{
		{[]string{"evidence", "ls"}, []string{"--store", "--s3-credentials"}, []string{"--retain", "--lock-mode", "--spool-dir", "--key-dir"}},
		{[]string{"evidence", "show"}, []string{"--store"}, []string{"--retain", "--lock-mode", "--spool-dir", "--key-dir"}},
		{[]string{"evidence", "get"}, []string{"--store", "--raw", "--file"}, []string{"--retain", "--lock-mode", "--spool-dir", "--key-dir"}},
		{[]string{"evidence", "verify"}, []string{"--store", "--key-dir", "--spool-dir", "--pubkey"}, []string{"--retain", "--lock-mode"}},
		{[]string{"evidence", "sync"}, []string{"--store", "--retain", "--lock-mode", "--spool-dir", "--from"}, []string{"--key-dir"}},
		{[]string{"evidence", "spool", "ls"}, []string{"--spool-dir"}, []string{"--store", "--retain", "--key-dir"}},
		{[]string{"collect"}, []string{"--store", "--retain", "--lock-mode", "--spool-dir", "--key-dir"}, nil},
	}
	for _, tt := range tests {
		r := runCLI(t, append(tt.cmd, "--help")...)
		for _, f := range tt.have {
			if !strings.Contains(r.stdout, f+" ") {
				t.Errorf("%v --help lacks %s", tt.cmd, f)
			}
		}
		for _, f := range tt.not {
			if strings.Contains(r.stdout, f+" ") {
				t.Errorf("%v --help offers %s, which it does not use", tt.cmd, f)
			}
		}
	}
	if r := runCLI(t, "ps", "--help"); !strings.Contains(r.stdout, "show stopped and created containers too") || strings.Contains(r.stdout, "(default true)") {
		t.Errorf("ps --help: -a is on by default or unexplained:\n%s", r.stdout)
	}
}

func TestMissingArgumentShowsUsage(t *testing.T) {
	for _, tt := range []struct{ args, usage string }{
		{"evidence show", "Usage: firebreak evidence show CASE"},
		{"evidence get", "Usage: firebreak evidence get KEY"},
		{"evidence verify a b", "Usage: firebreak evidence verify CASE"},
		{"collect", "Usage: firebreak collect TARGET..."},
		{"playbook validate", "Usage: firebreak playbook validate FILE|NAME..."},
		{"version extra", "Usage: firebreak version"},
	} {
		r := runCLI(t, strings.Fields(tt.args)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.usage) {
			t.Errorf("%s: exit %d, stderr %q; want %d with %q", tt.args, r.code, r.stderr, exitUsage, tt.usage)
		}
	}
}

func TestExitCodeOfStoreErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"PermanentStore", &evidence.StoreError{Store: "s3://b", Problem: "x", Permanent: true}, exitUsage},
		{"WrappedPermanentStore", fmt.Errorf("opening: %w", &evidence.StoreError{Permanent: true}), exitUsage},
		{"UnreachableStore", &evidence.StoreError{Store: "s3://b", Problem: "cannot be reached"}, exitFailed},
		{"RetentionRefused", fmt.Errorf("x: %w", &evidence.RetentionError{Bucket: "b", Why: "no lock"}), exitRefused},
		{"SyncLeftSome", &syncIncompleteError{failed: 1, total: 2, first: errors.New("x")}, exitSpooled},
		{"BadInputMarker", fmt.Errorf("resume: %w", badInputErr{}), exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

type badInputErr struct{}

func (badInputErr) Error() string  { return "no run of case X to resume" }
func (badInputErr) BadInput() bool { return true }

func TestPluralWording(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{plural(1, "run"), "1 run"},
		{plural(2, "run"), "2 runs"},
		{plural(0, "artifact"), "0 artifacts"},
		{plural(int64(1), "byte"), "1 byte"},
		{plural(3, "entry", "entries"), "3 entries"},
		{plural(1, "entry", "entries"), "1 entry"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if s := nameSuffix(runtime.Container{ID: "c2", Name: "c2"}); s != "" {
		t.Errorf("nameSuffix of a container named by its ID = %q", s)
	}
	if s := nameSuffix(runtime.Container{ID: "abc", Name: ""}); s != "" {
		t.Errorf("nameSuffix of a container without a name = %q, want nothing (not \"()\")", s)
	}
}

// TestVerifyWordingIsSingular: one run of one artifact reads as such.
func TestVerifyWordingIsSingular(t *testing.T) {
	e := fakeEngine("web-1")
	_, flags := localFlags(t)
	r := runFakeWith(t, e, flags, "collect", "--case", "C1", "--what", "inspect", "web-1")
	if r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s", r.code, r.stderr)
	}
	r = runFakeWith(t, e, flags, "evidence", "verify", "C1")
	if r.code != exitOK || !strings.Contains(r.stdout, ": OK: 1 run, ") || strings.Contains(r.stdout, "1 runs") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// fakeS3 answers every request as an S3 server refusing the credentials.
func refusingS3(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(403)
		if r.Method != http.MethodHead {
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>`)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestCollectRefusesMisconfiguredS3BeforeCapturing: a store that refuses
// the credentials is exit 2 before anything is captured or spooled; one
// that cannot be reached still spools (exit 6), and stdout says where the
// evidence is.
func TestCollectRefusesMisconfiguredS3BeforeCapturing(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	e := fakeEngine("web-1")
	spool := t.TempDir()
	flags := []string{"--key-dir", t.TempDir(), "--state-dir", t.TempDir(), "--spool-dir", spool}

	store := "s3://evidence/ir?endpoint=" + refusingS3(t) + "&insecure=true"
	r := runFakeWith(t, e, flags, "collect", "--store", store, "--case", "S3-1", "--what", "inspect", "web-1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "credentials are refused") || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("collect into a store refusing the credentials: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "artifacts in s3://") {
		t.Errorf("stdout claims the evidence is in the store:\n%s", r.stdout)
	}
	if list, _ := evidence.ListSpool(context.Background(), spool); len(list) != 0 {
		t.Errorf("a refused collect spooled %+v", list)
	}

	down := "s3://evidence/ir?endpoint=" + closedPort(t) + "&insecure=true"
	r = runFakeWith(t, e, flags, "collect", "--store", down, "--case", "S3-2", "--what", "inspect", "web-1")
	if r.code != exitSpooled {
		t.Fatalf("collect into a store that is down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "NOT yet in s3://") || !strings.Contains(r.stdout, "local spool") || strings.Contains(r.stdout, "artifacts in s3://") {
		t.Errorf("stdout does not say the evidence waits in the spool:\n%s", r.stdout)
	}

	// The spool says what waits, for which store.
	r = runFake(t, e, "evidence", "spool", "ls", "--spool-dir", spool, "-o", "json")
	var list []evidence.SpoolInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || len(list[0].Cases) != 1 || list[0].Cases[0].Case != "S3-2" || list[0].Cases[0].Objects < 4 {
		t.Fatalf("spool ls = %s (%v)", r.stdout, err)
	}
	canon, _ := evidence.CanonicalURL(down, nil)
	if list[0].Remote != canon {
		t.Errorf("spool ls store = %q, want %q", list[0].Remote, canon)
	}
	r = runFake(t, e, "evidence", "spool", "ls", "--spool-dir", spool)
	if r.code != exitOK || !strings.Contains(r.stdout, "S3-2") || !strings.Contains(r.stdout, canon) {
		t.Errorf("spool ls: exit %d\n%s", r.code, r.stdout)
	}

	// A sync while the store is still down sends nothing: exit 6, and
	// the wording says so.
	r = runFakeWith(t, e, []string{"--spool-dir", spool}, "evidence", "sync", "--store", down)
	if r.code != exitSpooled || !strings.Contains(r.stderr, "NOT sent") || strings.Contains(r.stdout, "handled") {
		t.Errorf("sync to a store that is down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A sync from the spool of the down store to a misconfigured one is
	// refused as bad input, and leaves the spool as it was.
	r = runFakeWith(t, e, []string{"--spool-dir", spool}, "evidence", "sync", "--from", down, "--store", store)
	if r.code != exitUsage {
		t.Errorf("sync --from to a store refusing the credentials: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after, _ := evidence.ListSpool(context.Background(), spool); len(after) != 1 || after[0].Cases[0] != list[0].Cases[0] {
		t.Errorf("spool after refused syncs = %+v, want %+v", after, list)
	}
	// Nothing spooled for a store: said plainly, exit 0.
	r = runFakeWith(t, e, []string{"--spool-dir", spool}, "evidence", "sync", "--store", "s3://other?endpoint="+closedPort(t))
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing waits in the spool") {
		t.Errorf("sync with nothing spooled: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestPlaybookValidateReportsEveryErrorInOnePass: a structural error does
// not hide the semantic ones; allow CIDRs and webhook URLs are checked at
// validation.
func TestPlaybookValidateReportsEveryErrorInOnePass(t *testing.T) {
	pb := writePlaybook(t, `name: many
steps:
  - id: a
    action: contain.network
    with: {allow: [10.0.0.0/8, not-a-cidr]}
    retry: 2
  - id: b
    action: notify.webhook
    with: {url: "file:///etc/passwd"}
  - id: c
    action: contain.nuke
`)
	r := runCLI(t, "playbook", "validate", pb)
	if r.code != exitUsage {
		t.Fatalf("validate: exit %d\n%s", r.code, r.stdout)
	}
	for _, want := range []string{`:6:5: unknown key "retry"`, `:5:19: allow of contain.network: "not-a-cidr" is not a CIDR`, `:9:17: url of notify.webhook:`, `http:// or https://`, `:11:13: unknown action "contain.nuke"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stdout)
		}
	}
	// list marks it, with its first error.
	dir := filepath.Dir(pb)
	r = runCLI(t, "playbook", "list", "--playbooks", dir)
	if r.code != exitOK || !strings.Contains(r.stdout, "INVALID: "+pb+":5:19:") {
		t.Errorf("list does not mark the invalid playbook:\n%s", r.stdout)
	}
	r = runCLI(t, "playbook", "list", "--playbooks", dir, "-o", "json")
	var rows []playbookRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if (row.Source == pb) == row.Valid {
			t.Errorf("list -o json: %+v", row)
		}
	}
}

// TestAddUsageToErrors: once root.go calls addUsageToErrors, every
// command's argument and flag errors carry its usage line, the commands
// this issue did not touch included.
func TestAddUsageToErrors(t *testing.T) {
	for _, tt := range []struct{ args, usage string }{
		{"contain", "Usage: firebreak contain TARGET..."},
		{"release --no-such-flag x", "Usage: firebreak release"},
		{"evidence show", "Usage: firebreak evidence show CASE"},
	} {
		var out, errb bytes.Buffer
		d := newDeps(&out, &errb)
		root, _ := newRoot(d)
		addUsageToErrors(root)
		root.SetArgs(strings.Fields(tt.args))
		err := root.ExecuteContext(context.Background())
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), tt.usage) || strings.Count(err.Error(), "Usage:") != 1 {
			t.Errorf("%s: %v (exit %d), want a usage error with one %q", tt.args, err, exitCode(err), tt.usage)
		}
	}
}
