package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// TestConsolePodContainRelease drives the console in a real terminal
// against containerd's real CRI plugin: the pods grouping (P), the victim
// pod found by typing part of its name, contained as one with the keys and
// the confirmation and shown so; the engine has every member and the
// sandbox paused, `firebreak status pod/...` holds the pod, and the peer
// pod runs on. A new attempt the kubelet starts beside the frozen one shows
// as RESTARTED from the engine's events. Released the same way, all of it
// runs again. Before that, c on one of the pod's containers opens the
// pod's dialog; after it, e captures the pod into a case that verifies.
func TestConsolePodContainRelease(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	tag := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	vname, pname := "fbpv-victim-"+tag, "fbpv-peer-"+tag
	victim := h.RunPod(t, runtimetest.PodSpec{Name: vname,
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}, {Name: "sidecar", Command: idle}}})
	peer := h.RunPod(t, runtimetest.PodSpec{Name: pname,
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}}})
	ref := "pod/firebreak-test/" + vname
	members := []string{victim.Containers["web"], victim.Containers["sidecar"], victim.SandboxID}

	flags, state, store := consoleFlags(t, "--runtime", "containerd", "--namespace", "k8s.io")
	gflags := []string{"--runtime", "containerd", "--namespace", "k8s.io", "--state-dir", state}
	env, argv := selfCLI(t)
	x := startTmux(t, 160, 40, env, append(argv, flags...)...)
	x.waitFor(20*time.Second, "containers · sorted by", "POD")

	// a container of the pod opens the pod's dialog, never a refusal
	x.keys("/")
	x.text("victim-" + tag)
	x.keys("Enter")
	x.waitFor(10*time.Second, "filter: victim-"+tag, "(3 of ")
	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+ref+"?", "acted on as one", "freeze:", "[>Cancel<]")
	x.keys("Escape")
	x.waitFor(5*time.Second, "cancelled: nothing changed")
	x.keys("Escape")
	x.waitFor(5*time.Second, "containers · sorted by")

	// the pods, and the victim found by typing part of its name
	x.keys("P")
	x.waitFor(10*time.Second, "pods · sorted by", "MEMBERS", ref)
	x.keys("/")
	x.text("victim-" + tag)
	x.keys("Enter")
	s := x.waitFor(10*time.Second, "filter: victim-"+tag, ref)
	if l := row(s, ref); !strings.Contains(l, "2 running") || strings.Contains(s, pname) {
		t.Fatalf("the filtered pods:\n%s", s)
	}

	// contain: the pod's plan and command line; Cancel is the default
	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+ref+"?", "1. cut:", "freeze:", "· sidecar (", "· sandbox (", "--namespace k8s.io contain", "[>Cancel<]")
	x.keys("Tab")
	x.waitFor(5*time.Second, "[>Contain<]")
	x.keys("Enter")
	x.waitFor(60*time.Second, "contain "+ref+": done")
	x.waitUntil(20*time.Second, "the pod shown contained", func(s string) bool {
		l := row(s, ref)
		return strings.Contains(l, "contained (held 3 of 3)") && strings.Contains(l, "2 paused") && strings.Contains(l, "paused")
	})
	for _, id := range members {
		if st := stateOf(t, h, id); st != runtime.StatePaused {
			t.Errorf("%s is %s after the console's contain, want paused", runtime.ShortID(id), st)
		}
	}
	if st := stateOf(t, h, peer.Containers["web"]); st != runtime.StateRunning {
		t.Errorf("the peer pod is %s, want running", st)
	}
	r := runCLI(t, append(gflags, "status", ref)...)
	if r.code != exitOK || !strings.Contains(r.stdout, ref+" (sandbox") || !strings.Contains(r.stdout, "3 members held") {
		t.Errorf("status %s after the console's contain: exit %d\n%s%s", ref, r.code, r.stdout, r.stderr)
	}

	// the kubelet starts a new attempt beside the frozen web: the row says
	// so from the engine's events
	h.StartContainer(t, victim, runtimetest.PodContainerSpec{Name: "web", Command: idle, Attempt: 1})
	x.waitUntil(20*time.Second, "the new attempt shown", func(s string) bool {
		l := row(s, ref)
		return strings.Contains(l, "RESTARTED") && strings.Contains(l, "held 2 of 3")
	})

	// release it the same way
	x.keys("r")
	x.waitDialog(10*time.Second, "Release "+ref+"?", "· web (", "--namespace k8s.io release")
	x.keys("Tab")
	x.waitFor(5*time.Second, "[>Release<]")
	x.keys("Enter")
	x.waitFor(60*time.Second, "release "+ref+": done")
	x.waitUntil(20*time.Second, "the pod shown released", func(s string) bool {
		l := row(s, ref)
		return strings.Contains(l, "2 running") && !strings.Contains(l, "contained") && !strings.Contains(l, "RESTARTED")
	})
	for _, id := range members {
		if st := stateOf(t, h, id); st != runtime.StateRunning {
			t.Errorf("%s is %s after the console's release, want running", runtime.ShortID(id), st)
		}
	}
	if st := stateOf(t, h, peer.Containers["web"]); st != runtime.StateRunning {
		t.Errorf("the peer pod is %s, want running", st)
	}
	r = runCLI(t, append(gflags, "status", "-o", "json")...)
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("status after the console's release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// capture the pod: one signed run of every member and the pod, which
	// verifies
	x.keys("e")
	d := x.waitDialog(10*time.Second, "Capture evidence of "+ref+"?", "--namespace k8s.io collect --case")
	caseID := regexp.MustCompile(`case-[0-9]{8}-[0-9]{6}-[0-9a-f]+`).FindString(d)
	if caseID == "" {
		t.Fatalf("no case in the capture dialog:\n%s", d)
	}
	x.keys("Tab")
	x.waitFor(5*time.Second, "[>Capture<]")
	x.keys("Enter")
	s = x.waitFor(120*time.Second, "collect "+ref+": case "+caseID)
	if strings.Contains(s, "failed") {
		t.Fatalf("the pod's capture:\n%s", s)
	}
	r = runCLI(t, "--state-dir", state, "evidence", "verify", caseID, "--store", "file://"+store, "--key-dir", flagValue(flags, "--key-dir"))
	if r.code != exitOK || !strings.Contains(r.stdout, "OK: 1 run") {
		t.Errorf("verify of the console's pod capture %s: exit %d\n%s%s", caseID, r.code, r.stdout, r.stderr)
	}
	// a pod's capture: the pod's own record beside each member's bundle
	for _, id := range []string{victim.Containers["sidecar"], victim.SandboxID, "pod-" + victim.SandboxID} {
		if got, _ := filepath.Glob(filepath.Join(store, "cases", caseID, id, "*")); len(got) == 0 {
			t.Errorf("the pod's capture holds nothing under %s", id)
		}
	}
	x.keys("q")
	x.waitFor(10*time.Second, "[exited 0]")

	acts := consoleActs(t, state)
	if len(acts) != 3 || acts[0].Act != "contain" || acts[0].Result != "done" || acts[1].Act != "release" || acts[1].Result != "done" || acts[2].Act != "collect" || !strings.HasPrefix(acts[2].Result, "done") {
		t.Fatalf("journal: %+v", acts)
	}
	if !strings.HasSuffix(acts[2].Command, " "+ref) || !strings.Contains(acts[2].Command, "collect --case "+caseID) {
		t.Errorf("journalled capture %q", acts[2].Command)
	}
	for i, verb := range []string{"contain", "release"} {
		if want := "--runtime containerd --namespace k8s.io " + verb + " " + ref; !strings.HasSuffix(acts[i].Command, want) {
			t.Errorf("journalled command %q, want one ending %q", acts[i].Command, want)
		}
	}
}
