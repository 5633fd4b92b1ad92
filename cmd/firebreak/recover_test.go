package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// recoverService is a running service with a named volume holding "healthy"
// in /data/ok (its health check), backed up through the CLI, then damaged.
func recoverService(t *testing.T, flags []string) (*runtimetest.DockerHarness, runtime.Details, string) {
	t.Helper()
	h := runtimetest.Docker(t)
	name := runtimetest.Name(t)
	dir := h.Volume(t, name+"-data")
	if err := os.WriteFile(filepath.Join(dir, "ok"), []byte("healthy"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := h.Run(t, name, runtimetest.Spec{Binds: []string{name + "-data:/data"}, Network: h.UserNetwork(t, name+"-net", false),
		Healthcheck: []string{"CMD", "grep", "-q", "healthy", "/data/ok"}, HealthInterval: 300 * time.Millisecond})
	if r := cli(t, flags, "backup", d.Name); r.code != exitOK {
		t.Fatalf("backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok"), []byte("ransom"), 0o644); err != nil {
		t.Fatal(err)
	}
	return h, d, dir
}

// custody is every custody entry of a case in a file store, in one text.
func custody(t *testing.T, store, caseID string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(store, "cases", caseID, "runs", "*", "custody.jsonl"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no custody log in case %s (%v)", caseID, err)
	}
	var all strings.Builder
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

// checkRecovered: the name is held by a new running container whose volume
// says "healthy"; the suspect is renamed and still paused; the case's
// custody log holds every act of the recover, in order.
func checkRecovered(t *testing.T, h *runtimetest.DockerHarness, d runtime.Details, dir, store, caseID string) {
	t.Helper()
	suspect := runtimetest.Inspect(t, h, d.ID)
	if suspect.Name != d.Name+".suspect-"+caseID || suspect.State != runtime.StatePaused {
		t.Errorf("suspect is %s %s, want %s.suspect-%s and paused", suspect.Name, suspect.State, d.Name, caseID)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ok")); string(b) != "ransom" {
		t.Errorf("the suspect's volume was changed: %q", b)
	}
	nc, err := runtime.Resolve(runtimetest.Context(t), h.Runtime(), d.Name)
	if err != nil || nc.ID == d.ID {
		t.Fatalf("no new container named %s: %v", d.Name, err)
	}
	nd := runtimetest.Inspect(t, h, nc.ID)
	if nd.State != runtime.StateRunning || nd.Labels["io.firebreak.case"] != caseID {
		t.Errorf("new container %s labels %v", nd.State, nd.Labels)
	}
	for _, m := range nd.Security.Mounts {
		if b, err := os.ReadFile(filepath.Join(m.Source, "ok")); m.Destination == "/data" && (err != nil || string(b) != "healthy") {
			t.Errorf("restored ok = %q, %v", b, err)
		}
	}
	log := custody(t, store, caseID)
	last := -1
	for _, act := range []string{`"recover.plan"`, `"recover.verify"`, `"recover.rename"`, `"recover.volume"`, `"recover.restore"`, `"recover.create"`, `"recover.start"`, `"recover.health"`, `"action":"recover"`} {
		i := strings.Index(log, act)
		if i < 0 {
			t.Errorf("the custody log of %s has no %s entry:\n%s", caseID, act, log)
			continue
		}
		if i < last {
			t.Errorf("%s is logged out of order", act)
		}
		last = i
	}
}

// TestRecoverCLILogsTheCase: a recover through the CLI leaves its whole
// story in the case: every act in the custody log as it happened, the
// recovery (plan and outcome) as recovery.json, and the case verifies.
func TestRecoverCLILogsTheCase(t *testing.T) {
	store, state := t.TempDir(), t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", state, "--runtime", "docker"}
	h, d, dir := recoverService(t, flags)
	h.RemoveByLabel(t, "io.firebreak.case", "IR-20")
	engine := []string{"--state-dir", state, "--runtime", "docker"}
	if r := cli(t, engine, "contain", d.Name, "--case", "IR-20"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, flags, "recover", d.Name, "--case", "IR-20", "--yes", "--health-timeout", "30s")
	if r.code != exitOK {
		t.Fatalf("recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkRecovered(t, h, d, dir, store, "IR-20")
	if !strings.Contains(r.stderr, "custody head of case IR-20: ") {
		t.Errorf("recover did not print the case's custody head:\n%s", r.stderr)
	}
	if keys, _ := filepath.Glob(filepath.Join(store, "cases", "IR-20", "recover", "*", "recovery.json")); len(keys) != 1 {
		t.Errorf("recovery.json in the case: %v", keys)
	}
	if r := cli(t, flags, "evidence", "verify", "IR-20"); r.code != exitOK {
		t.Errorf("evidence verify IR-20: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The suspect is still held: its record is kept under its ID.
	if r := cli(t, engine, "status", d.ID); r.code != exitOK || !strings.Contains(r.stdout, "("+d.Name+".suspect-IR-20, contained as "+d.Name+")") {
		t.Errorf("status of the suspect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRestoreCleanPlaybook: the built-in restore-clean playbook contains,
// captures and seals, then on approval restores the service; its journal
// and the case hold each act.
func TestRestoreCleanPlaybook(t *testing.T) {
	store := t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", t.TempDir(), "--runtime", "docker"}
	h, d, dir := recoverService(t, flags)
	h.RemoveByLabel(t, "io.firebreak.case", "IR-21")
	// Without the approval the restore does not happen (exit 7) and the
	// suspect keeps its name, contained.
	r := cli(t, flags, "run", "restore-clean", "--target", d.Name, "--case", "IR-21")
	if r.code != exitApproval {
		t.Fatalf("restore-clean without approval: exit %d, want 7\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name || got.State != runtime.StatePaused {
		t.Fatalf("suspect after the unapproved run: %s %s", got.Name, got.State)
	}
	r = cli(t, flags, "run", "restore-clean", "--resume", "IR-21", "--approve", "restore")
	if r.code != exitOK {
		t.Fatalf("restore-clean resumed with the approval: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkRecovered(t, h, d, dir, store, "IR-21")
	// The restore step told its progress against the snapshot's totals
	// and its last report met them (off a terminal: lines on stderr).
	reports := regexp.MustCompile(`: restore: restore: (\d+) of (\d+) files, ([0-9.]+ [KMG]?i?B) of ([0-9.]+ [KMG]?i?B)\n`).FindAllStringSubmatch(r.stderr, -1)
	if len(reports) == 0 {
		t.Errorf("no restore progress on stderr:\n%s", r.stderr)
	} else if m := reports[len(reports)-1]; m[1] != m[2] || m[3] != m[4] || m[2] == "0" {
		t.Errorf("last restore progress %q, want its totals reached", m[0])
	}
	if log := custody(t, store, "IR-21"); !strings.Contains(log, `"step restore"`) {
		t.Errorf("no custody entry for the playbook's restore step:\n%s", log)
	}
}

// TestRecoverRemovesTheSuspectOnlyWhenCaptured: --keep-suspect=false is
// refused (exit 3, nothing changed) until the case holds the suspect's
// writable layer; then the suspect is removed once the service is back.
func TestRecoverRemovesTheSuspectOnlyWhenCaptured(t *testing.T) {
	store, state := t.TempDir(), t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", state, "--runtime", "docker"}
	h, d, _ := recoverService(t, flags)
	h.RemoveByLabel(t, "io.firebreak.case", "IR-22")
	if r := cli(t, []string{"--state-dir", state, "--runtime", "docker"}, "contain", d.Name, "--case", "IR-22"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s", r.code, r.stderr)
	}
	r := cli(t, flags, "recover", d.Name, "--case", "IR-22", "--yes", "--keep-suspect=false")
	if r.code != exitRefused || !strings.Contains(r.stderr, "collect") {
		t.Fatalf("recover --keep-suspect=false before a collect: exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := runtimetest.Inspect(t, h, d.ID); got.Name != d.Name || got.State != runtime.StatePaused {
		t.Fatalf("the refused recover changed the suspect: %s %s", got.Name, got.State)
	}
	if r := cli(t, flags, "collect", d.Name, "--case", "IR-22", "--what", "fsdiff,inspect"); r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, flags, "recover", d.Name, "--case", "IR-22", "--yes", "--keep-suspect=false", "--health-timeout", "30s")
	if r.code != exitOK || !strings.Contains(r.stdout, "remove") {
		t.Fatalf("recover --keep-suspect=false after a collect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := h.Runtime().Inspect(runtimetest.Context(t), d.ID); !runtime.IsNotFound(err) {
		t.Errorf("the suspect is still there: %v", err)
	}
	if log := custody(t, store, "IR-22"); !strings.Contains(log, `"recover.remove"`) {
		t.Errorf("no recover.remove in the custody log:\n%s", log)
	}
}

// TestRecoverHardens: recover --harden makes the new container confined
// beyond the original, each change in the plan and the custody log: a
// read-only root with a tmpfs where the suspect wrote (from the case's fs
// diff), no-new-privileges, every capability dropped but the one kept; the
// service still comes up healthy.
func TestRecoverHardens(t *testing.T) {
	store, state := t.TempDir(), t.TempDir()
	flags := []string{"--store", "file://" + store, "--key-dir", t.TempDir(), "--state-dir", state, "--runtime", "docker"}
	h, d, _ := recoverService(t, flags)
	h.RemoveByLabel(t, "io.firebreak.case", "IR-23")
	ctx := runtimetest.Context(t)
	if ex, ok := h.Runtime().(runtime.Execer); !ok {
		t.Fatal("docker runs no commands")
	} else if res, err := ex.Exec(ctx, d.ID, []string{"sh", "-c", "mkdir -p /var/cache/app && echo x > /var/cache/app/state"}); err != nil || res.ExitCode != 0 {
		t.Fatalf("writing in the container: %v %+v", err, res)
	}
	if r := cli(t, []string{"--state-dir", state, "--runtime", "docker"}, "contain", d.Name, "--case", "IR-23"); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s", r.code, r.stderr)
	}
	if r := cli(t, flags, "collect", d.Name, "--case", "IR-23", "--what", "fsdiff"); r.code != exitOK {
		t.Fatalf("collect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, flags, "recover", d.Name, "--case", "IR-23", "--harden", "--keep-cap", "ROOT"); r.code != exitUsage {
		t.Errorf("--keep-cap of a capability it lacked: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, flags, "recover", d.Name, "--case", "IR-23", "--yes", "--harden", "--keep-cap", "CHOWN", "--health-timeout", "30s")
	if r.code != exitOK || !strings.Contains(r.stdout, "read-only root") || !strings.Contains(r.stdout, "/var/cache") {
		t.Fatalf("recover --harden: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	nc, err := runtime.Resolve(ctx, h.Runtime(), d.Name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Docker().API().ContainerInspect(ctx, nc.ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := got.HostConfig
	if !hc.ReadonlyRootfs || !strings.Contains(strings.Join(hc.SecurityOpt, ","), "no-new-privileges") ||
		strings.Join(hc.CapDrop, ",") != "ALL" || strings.TrimPrefix(strings.Join(hc.CapAdd, ","), "CAP_") != "CHOWN" {
		t.Errorf("new container: read-only %v, security %v, cap drop %v add %v", hc.ReadonlyRootfs, hc.SecurityOpt, hc.CapDrop, hc.CapAdd)
	}
	if _, ok := hc.Tmpfs["/var/cache"]; !ok {
		t.Errorf("no tmpfs at /var/cache, where the suspect wrote: %v", hc.Tmpfs)
	}
	if hc.Memory == 0 || hc.PidsLimit == nil || *hc.PidsLimit == 0 {
		t.Errorf("no limits: memory %d pids %v", hc.Memory, hc.PidsLimit)
	}
	if log := custody(t, store, "IR-23"); !strings.Contains(log, `"recover.harden"`) {
		t.Errorf("no recover.harden in the custody log")
	}
}
