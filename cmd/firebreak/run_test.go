package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// runFlags points a run at a private state directory, key directory and
// store.
func runFlags(t *testing.T, store string) []string {
	t.Helper()
	return []string{"--runtime=docker", "--state-dir", t.TempDir(), "--key-dir", t.TempDir(), "--spool-dir", t.TempDir(), "--store", store}
}

func journal(t *testing.T, flags []string, caseID string) []playbooks.Record {
	t.Helper()
	recs, err := playbooks.LoadJournal(flagValue(flags, "--state-dir"), caseID)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRunEscapeSuspectedEndToEnd(t *testing.T) {
	h := runtimetest.Docker(t)
	srv, st, _ := minioCLI(t, false)
	vspec, pspec, _ := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	h.Run(t, runtimetest.Name(t)+"-peer", pspec)
	flags := runFlags(t, srv.URL("fbt-cli"))
	r := cli(t, flags, "run", "escape-suspected", "--target", victim.Name, "--case", "E2E-1", "--yes")
	if r.code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := inspectDetails(t, h, victim.ID)
	if d.State != runtime.StatePaused || len(d.Networks) != 0 {
		t.Errorf("after the run: %s with %d networks, want paused and detached", d.State, len(d.Networks))
	}
	have := bucketKeys(t, st)
	n := 0
	for k := range have {
		if strings.HasSuffix(k, "/processes.json") || strings.HasSuffix(k, "/layer.tar.zst") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("evidence in MinIO lacks processes.json or layer.tar.zst: %v", have)
	}
	if r := cli(t, flags, "evidence", "verify", "E2E-1"); r.code != exitOK {
		t.Errorf("verify: exit %d\n%s", r.code, r.stdout)
	}
	finished := map[string]playbooks.Status{}
	for _, rec := range journal(t, flags, "E2E-1") {
		if rec.Type == "step_finished" {
			finished[rec.Step] = rec.Status
		}
	}
	for _, s := range []string{"isolate", "freeze", "capture", "verify", "hand_over"} {
		if finished[s] != playbooks.StatusOK {
			t.Errorf("journal: step %s finished %q, want ok", s, finished[s])
		}
	}
	if _, err := os.Stat(filepath.Join(flagValue(flags, "--state-dir"), "held")); err != nil {
		t.Errorf("no containment record: %v", err)
	}
	cli(t, flags, "release", victim.Name)
}

// TestRunResumeAfterKillAtEachStep kills the firebreak process (SIGKILL) as
// soon as each step of escape-suspected has finished, resumes the run, and
// checks that it completes, no state-changing step ran twice after it
// finished, and the evidence verifies.
func TestRunResumeAfterKillAtEachStep(t *testing.T) {
	h := runtimetest.Docker(t)
	srv, _, _ := minioCLI(t, false)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, killAfter := range []string{"isolate", "freeze", "capture", "verify"} {
		t.Run("after_"+killAfter, func(t *testing.T) {
			vspec, _, _ := h.Network(t)
			victim := h.Run(t, runtimetest.Name(t), vspec)
			bucket := "fbt-kill-" + killAfter
			srv.Store(t, bucket, false)
			flags := runFlags(t, srv.URL(bucket))
			caseID := "KILL-" + killAfter
			cmd := exec.Command(self, append([]string{"run", "escape-suspected", "--target", victim.Name, "--case", caseID, "--yes", "--output", "json"}, flags...)...)
			cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			killed := false
			for sc.Scan() {
				var ev playbooks.Event
				if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == "step_finished" && ev.Step == killAfter {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killed = true
					break
				}
			}
			_ = cmd.Wait()
			if !killed {
				t.Fatalf("the run ended before step %s finished", killAfter)
			}
			r := cli(t, flags, "run", "escape-suspected", "--resume", caseID, "--yes")
			if r.code != exitOK {
				t.Fatalf("resume: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			starts := map[string]int{}
			finishedOK := map[string]bool{}
			for _, rec := range journal(t, flags, caseID) {
				switch rec.Type {
				case "step_started":
					if finishedOK[rec.Step] && rec.Changes {
						t.Errorf("state-changing step %s started again after it finished", rec.Step)
					}
					starts[rec.Step]++
				case "step_finished":
					if rec.Status == playbooks.StatusOK {
						finishedOK[rec.Step] = true
					}
				}
			}
			for _, s := range []string{"isolate", "freeze", "capture", "verify", "hand_over"} {
				if !finishedOK[s] {
					t.Errorf("step %s never finished", s)
				}
			}
			if r := cli(t, flags, "evidence", "verify", caseID); r.code != exitOK {
				t.Errorf("verify after resume: exit %d\n%s", r.code, r.stdout)
			}
			if d := inspectDetails(t, h, victim.ID); d.State != runtime.StatePaused || len(d.Networks) != 0 {
				t.Errorf("after resume: %s, %d networks", d.State, len(d.Networks))
			}
			cli(t, flags, "release", victim.Name)
		})
	}
}

func writePlaybook(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pb.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunApprovals(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	pb := writePlaybook(t, `name: two-gates
steps:
  - id: first
    action: approval
    approval: First gate?
  - id: freeze
    action: contain.pause
    needs: [first]
  - id: second
    action: approval
    needs: [freeze]
    approval: Second gate?
`)
	store := "file://" + t.TempDir()

	// No approval, no terminal: fails closed at the first gate.
	flags := runFlags(t, store)
	r := cli(t, flags, "run", pb, "--target", victim.Name, "--case", "APP-1")
	if r.code != exitApproval || !strings.Contains(r.stderr, "--approve first") {
		t.Fatalf("no approval: exit %d\n%s", r.code, r.stderr)
	}
	if d := inspectDetails(t, h, victim.ID); d.State != runtime.StateRunning {
		t.Errorf("a step after the closed gate ran: %s", d.State)
	}

	// --approve first lets exactly that step through.
	flags = runFlags(t, store)
	r = cli(t, flags, "run", pb, "--target", victim.Name, "--case", "APP-2", "--approve", "first", "-o", "json")
	if r.code != exitApproval {
		t.Fatalf("--approve first: exit %d\n%s", r.code, r.stderr)
	}
	status := map[string]playbooks.Status{}
	for _, rec := range journal(t, flags, "APP-2") {
		if rec.Type == "step_finished" {
			status[rec.Step] = rec.Status
		}
	}
	if status["first"] != "ok" || status["freeze"] != "ok" || status["second"] != "approval-missing" {
		t.Errorf("steps = %v, want first and freeze ok, second approval-missing", status)
	}
	cli(t, flags, "release", victim.Name)
}

func TestRunLockRefusesSecondRun(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	pb := writePlaybook(t, "name: slow\nsteps:\n  - id: hold\n    action: wait\n    with: {for: 4s}\n")
	flags := runFlags(t, "file://"+t.TempDir())
	var wg sync.WaitGroup
	var first cliResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = cli(t, flags, "run", pb, "--target", victim.Name, "--case", "LOCK-A")
	}()
	lock := filepath.Join(flagValue(flags, "--state-dir"), "runs", "locks", "docker_"+victim.ID+".lock")
	runtimetest.Eventually(t, 10*time.Second, "first run holds the lock", func() bool {
		b, _ := os.ReadFile(lock)
		return strings.Contains(string(b), "LOCK-A")
	})
	second := cli(t, flags, "run", pb, "--target", victim.Name, "--case", "LOCK-B")
	wg.Wait()
	if first.code != exitOK {
		t.Errorf("first run: exit %d\n%s", first.code, first.stderr)
	}
	if second.code != exitRefused || !strings.Contains(second.stderr, "held by another run") || !strings.Contains(second.stderr, "case LOCK-A") || !strings.Contains(second.stderr, "pid ") {
		t.Errorf("second run: exit %d, stderr %q; want refused naming the holder", second.code, second.stderr)
	}
}

func TestRunDryRunChangesNothing(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := runFlags(t, "file://"+t.TempDir())
	r := cli(t, flags, "run", "cryptominer", "--target", victim.Name, "--dry-run")
	if r.code != exitOK || !strings.Contains(r.stdout, "plan ") || !strings.Contains(r.stdout, "asks: ") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if d := inspectDetails(t, h, victim.ID); d.State != runtime.StateRunning || string(d.Raw) != string(victim.Raw) {
		t.Error("dry run changed the container")
	}
	if ents, err := os.ReadDir(filepath.Join(flagValue(flags, "--state-dir"), "runs")); err == nil && len(ents) > 0 {
		t.Errorf("dry run wrote run state: %v", ents)
	}
	if ents, _ := os.ReadDir(filepath.Join(flagValue(flags, "--state-dir"), "held")); len(ents) > 0 {
		t.Errorf("dry run left containment records: %v", ents)
	}
}
