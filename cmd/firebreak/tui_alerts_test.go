package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// freezeOnApproval cuts the network at once and freezes only once a
// responder approves: the rule below gives no approval, so serve's run
// stops at freeze.
const freezeOnApproval = `name: freeze-on-approval
description: Cut the suspect's network; freeze it once a responder approves.
steps:
  - id: isolate
    action: contain.network
  - id: freeze
    action: contain.pause
    needs: [isolate]
    approval: Freeze the container?
`

// TestConsoleApprovesServesWaitingRun: serve runs a playbook from an
// alert and stops at a step its rule did not approve; the console, open
// in a real terminal, shows the alert waiting in its alerts tab, and the
// responder approves it with the keys; the step takes effect on the real
// Docker Engine (docker inspect, firebreak status).
func TestConsoleApprovesServesWaitingRun(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, _, _ := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	flags := runFlags(t, "file://"+t.TempDir())
	state := flagValue(flags, "--state-dir")
	books := t.TempDir()
	if err := os.WriteFile(filepath.Join(books, "freeze-on-approval.yaml"), []byte(freezeOnApproval), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := "- name: escape\n  match: {rule: \"Container escape attempt\"}\n  playbook: freeze-on-approval\n"
	if err := os.WriteFile(filepath.Join(state, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, flags, "--playbooks", books)

	// the console is open before the alert comes
	env, argv := selfCLI(t)
	console := append(argv, "--runtime=docker", "--state-dir", state, "tui", "--key-dir", flagValue(flags, "--key-dir"),
		"--spool-dir", flagValue(flags, "--spool-dir"), "--store", flagValue(flags, "--store"), "--playbooks", books)
	x := startTmux(t, 160, 40, env, console...)
	x.waitFor(20*time.Second, "containers · sorted by")
	x.keys("4")
	x.waitFor(10*time.Second, "No alerts.")

	if code, msg := p.post(falcoAlert(victim.ShortID(), victim.Name), nil); code != http.StatusAccepted {
		t.Fatalf("post: %d %s", code, msg)
	}
	s := x.waitFor(60*time.Second, "1 alerts (1 waiting)", "WAITING: approve")
	if l := line(s, "WAITING: approve"); !strings.Contains(l, victim.Name[:20]) || !strings.Contains(l, "Container escape attempt") {
		t.Errorf("the waiting row names neither the victim nor the rule: %q", l)
	}
	fin := stories(t, flags)[0].LastIs("finished")
	if fin == nil || fin.Status != "needs-approval" {
		t.Fatalf("serve's run: %+v, want needs-approval", stories(t, flags)[0].Then)
	}
	d := inspectDetails(t, h, victim.ID)
	if d.State != runtime.StateRunning || len(d.Networks) != 0 {
		t.Fatalf("before the approval: %s, networks %v; want running and detached (isolated, not frozen)", d.State, d.Networks)
	}

	// approve with the keys: the dialog lists the waiting step and the
	// command line; Cancel is focused, so Tab first
	x.keys("a")
	x.waitDialog(10*time.Second, "Approve and resume case "+fin.Case+"?", "freeze on "+victim.Name, "approve "+fin.Case+" freeze", "[>Cancel<]")
	x.keys("Tab")
	x.waitFor(5*time.Second, "[>Approve<]")
	x.keys("Enter")
	x.waitUntil(60*time.Second, "the resumed run finished", func(s string) bool {
		return strings.Contains(line(s, "freeze-on-approval ·"), "finished") || strings.Contains(s, "FAILED")
	})
	if s := x.screen(); !strings.Contains(line(s, "freeze-on-approval ·"), "finished") || !strings.Contains(line(s, "freeze "), "ok") {
		t.Fatalf("the resumed run:\n%s", s)
	}
	d = inspectDetails(t, h, victim.ID)
	if d.State != runtime.StatePaused || len(d.Networks) != 0 {
		t.Errorf("after the approval: %s, networks %v; want paused and detached", d.State, d.Networks)
	}
	r := cli(t, []string{"--runtime=docker", "--state-dir", state}, "status", "-o", "json", victim.Name)
	var st []struct {
		Held bool `json:"held"`
		Live *struct {
			State string `json:"state"`
			Drift string `json:"drift"`
		} `json:"live"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 1 || !st[0].Held || st[0].Live == nil || st[0].Live.State != "paused" || st[0].Live.Drift != "" {
		t.Errorf("status after the approval: %v\n%s%s", err, r.stdout, r.stderr)
	}
	// the alerts tab no longer counts it waiting
	x.keys("4")
	x.waitUntil(20*time.Second, "the alert answered", func(s string) bool {
		return strings.Contains(s, "1 alerts") && !strings.Contains(s, "waiting") && !strings.Contains(s, "WAITING")
	})
	x.keys("q")
	x.waitFor(10*time.Second, "[exited 0]")

	var got []string
	for _, a := range consoleActs(t, state) {
		got = append(got, a.Act+" "+a.Result)
		if a.Act == "approve" && !strings.Contains(a.Command, " approve "+fin.Case+" freeze") {
			t.Errorf("approval journalled with %q, want firebreak approve's line", a.Command)
		}
	}
	if want := "approve started,run-finished done"; strings.Join(got, ",") != want {
		t.Errorf("console journal: %s, want %s", strings.Join(got, ","), want)
	}
}
