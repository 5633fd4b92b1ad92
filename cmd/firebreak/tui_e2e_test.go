package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
	"firebreak/tui"
)

// consoleFlags are a console's own state, key and store directories.
func consoleFlags(t *testing.T, engine ...string) (flags []string, state, store string) {
	state, store = t.TempDir(), t.TempDir()
	flags = append(engine, "--state-dir", state, "tui", "--key-dir", t.TempDir(), "--spool-dir", t.TempDir(), "--store", "file://"+store)
	return flags, state, store
}

func consoleActs(t *testing.T, state string) []tui.Act {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "console", "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var acts []tui.Act
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var a tui.Act
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("journal line %q: %v", l, err)
		}
		acts = append(acts, a)
	}
	return acts
}

// TestConsoleContainsRunsAndReleasesOnDocker drives the console in a real
// terminal against the real Docker Engine with the keys a responder presses.
func TestConsoleContainsRunsAndReleasesOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, _, _ := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	if len(victim.Networks) == 0 {
		t.Fatal("the victim has no network to detach")
	}
	flags, state, _ := consoleFlags(t, "--runtime", "docker")
	env, argv := selfCLI(t)
	x := startTmux(t, 160, 40, env, append(argv, flags...)...)
	x.waitFor(20*time.Second, "containers · sorted by", "RISK")
	x.checkStyled()

	// find the victim by typing part of its name
	part := victim.Name[len(victim.Name)-10:]
	x.keys("/")
	x.text(part)
	x.keys("Enter")
	s := x.waitFor(10*time.Second, "filter: "+part, victim.Name)
	if rows := strings.Count(s, "running"); rows != 1 {
		t.Fatalf("the filter %q shows %d running rows:\n%s", part, rows, s)
	}

	// contain: the dialog shows the plan and the CLI line; Cancel is the
	// default, so the responder moves to Contain first
	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+victim.Name+"?", "· pause", "CLI: firebreak", "--runtime docker contain "+victim.Name, "[>Cancel<]")
	x.keys("Tab")
	x.waitFor(5*time.Second, "[>Contain<]")
	x.keys("Enter")
	x.waitUntil(30*time.Second, "the victim contained", func(s string) bool {
		return strings.Contains(row(s, victim.Name), "contained")
	})
	d, err := h.Runtime().Inspect(runtimetest.Context(t), victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != runtime.StatePaused || len(d.Networks) != 0 {
		t.Fatalf("after contain in the console: state %s, %d networks attached; want paused and detached", d.State, len(d.Networks))
	}

	// run the evidence-only playbook on it and find its case in the
	// evidence view
	x.keys("p")
	x.waitFor(10*time.Second, "Run a playbook on", "evidence-only")
	x.choose("evidence-only")
	x.keys("Enter")
	x.waitFor(5*time.Second, "since")
	x.keys("Enter") // the one parameter keeps its default
	d2 := x.waitDialog(10*time.Second, "Run evidence-only?", "CLI: firebreak", "--runtime docker run evidence-only --case")
	caseID := strings.Fields(strings.SplitN(d2, "case: ", 2)[1])[0]
	x.keys("Tab", "Enter")
	x.waitUntil(90*time.Second, "the run finished", func(s string) bool {
		return strings.Contains(s, "finished") || strings.Contains(s, "FAILED")
	})
	s = x.screen()
	if !strings.Contains(line(s, "▶ evidence-only ·"), "finished") {
		t.Fatalf("the run did not finish well:\n%s", s)
	}
	x.keys("e")
	x.waitFor(20*time.Second, caseID)

	// release it the same way
	x.keys("1")
	x.waitFor(5*time.Second, victim.Name)
	x.keys("r")
	x.waitDialog(10*time.Second, "Release "+victim.Name+"?")
	x.keys("Tab", "Enter")
	x.waitUntil(30*time.Second, "the victim released", func(s string) bool {
		l := row(s, victim.Name)
		return l != "" && !strings.Contains(l, "contained") && strings.Contains(l, "running")
	})
	// The engine's event can show it running before the act has ended
	// (the drop rules go after the thaw): quit once the act says done.
	x.waitFor(10*time.Second, "release "+victim.Name+": done")
	d, err = h.Runtime().Inspect(runtimetest.Context(t), victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != runtime.StateRunning || len(d.Networks) == 0 {
		t.Fatalf("after release: state %s, %d networks", d.State, len(d.Networks))
	}
	x.keys("q")
	x.waitFor(10*time.Second, "[exited 0]")

	var got []string
	for _, a := range consoleActs(t, state) {
		got = append(got, a.Act+" "+a.Result)
		if a.Command == "" || !strings.HasPrefix(a.Command, "firebreak") {
			t.Errorf("act %s journalled without its command line: %+v", a.Act, a)
		}
	}
	if want := "contain done,run started,run-finished done,release done"; strings.Join(got, ",") != want {
		t.Fatalf("console journal: %s, want %s", strings.Join(got, ","), want)
	}
}

// TestConsoleContainsOnContainerd is the same contain on a containerd
// container.
func TestConsoleContainsOnContainerd(t *testing.T) {
	h := runtimetest.Containerd(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags, state, _ := consoleFlags(t, "--runtime", "containerd", "--namespace", runtimetest.ContainerdNamespace())
	env, argv := selfCLI(t)
	x := startTmux(t, 160, 40, env, append(argv, flags...)...)
	x.waitFor(20*time.Second, "containers · sorted by", "RISK")
	x.keys("/")
	x.text(victim.Name)
	x.keys("Enter")
	x.waitFor(10*time.Second, "filter: "+victim.Name, "containerd/")
	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+victim.Name+"?", "--runtime containerd --namespace "+runtimetest.ContainerdNamespace()+" contain "+victim.Name)
	x.keys("Tab", "Enter")
	x.waitUntil(30*time.Second, "the victim contained", func(s string) bool {
		return strings.Contains(row(s, victim.Name), "contained")
	})
	d, err := h.Runtime().Inspect(runtimetest.Context(t), victim.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != runtime.StatePaused {
		t.Fatalf("after contain: state %s, want paused", d.State)
	}
	x.keys("r")
	x.waitDialog(10*time.Second, "Release "+victim.Name+"?")
	x.keys("Tab", "Enter")
	x.waitUntil(30*time.Second, "the victim released", func(s string) bool {
		l := row(s, victim.Name)
		return l != "" && !strings.Contains(l, "contained") && strings.Contains(l, "running")
	})
	// The engine's event can show it running before the act has ended
	// (the drop rules go after the thaw): quit once the act says done.
	x.waitFor(10*time.Second, "release "+victim.Name+": done")
	x.keys("q")
	x.waitFor(10*time.Second, "[exited 0]")
	acts := consoleActs(t, state)
	if len(acts) != 2 || acts[0].Act != "contain" || acts[1].Act != "release" {
		t.Fatalf("journal: %+v", acts)
	}
}

// TestConsoleShowsDriftAndKillsOnDocker: a victim contained in the console
// and thawed from outside (`docker unpause`) shows DRIFT within its event;
// killed from the console by typing its name, it no longer runs, and
// `firebreak status` records the kill.
func TestConsoleShowsDriftAndKillsOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, _, _ := h.Network(t)
	victim := h.Run(t, runtimetest.Name(t), vspec)
	flags, state, _ := consoleFlags(t, "--runtime", "docker")
	env, argv := selfCLI(t)
	x := startTmux(t, 160, 40, env, append(argv, flags...)...)
	x.waitFor(20*time.Second, "containers · sorted by", "RISK")
	x.keys("/")
	x.text(victim.Name)
	x.keys("Enter")
	x.waitFor(10*time.Second, "filter: "+victim.Name, victim.Name)
	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+victim.Name+"?", "[>Cancel<]")
	x.keys("Tab", "Enter")
	x.waitFor(30*time.Second, "contain "+victim.Name+": done")
	// the row is read again after the act: wait for that read, then check it
	s := x.waitUntil(10*time.Second, "the row contained", func(s string) bool { return strings.Contains(row(s, victim.Name), "contained") })
	if l := row(s, victim.Name); strings.Contains(l, "DRIFT") {
		t.Fatalf("after contain the row says %q", l)
	}

	// thawed by hand, from outside the console
	if out, err := exec.Command("docker", "unpause", victim.ID).CombinedOutput(); err != nil {
		t.Fatalf("docker unpause: %v\n%s", err, out)
	}
	x.waitUntil(10*time.Second, "the victim drifting", func(s string) bool {
		return strings.Contains(row(s, victim.Name), "DRIFT")
	})
	// the CLI sees the same drift, and fails a check with it
	if r := runCLI(t, "--runtime", "docker", "--state-dir", state, "status", victim.Name); r.code != exitNotIsolated || !strings.Contains(r.stdout, "DRIFT") || !strings.Contains(r.stderr, victim.Name) {
		t.Errorf("status of the drifted victim: exit %d, want %d, DRIFT and its name\n%s%s", r.code, exitNotIsolated, r.stdout, r.stderr)
	}

	// kill it: the dialog wants the name typed before Kill can be pressed
	x.keys("K")
	x.waitDialog(10*time.Second, "Kill "+victim.Name+"?", "SIGKILL to its init", "Type "+victim.Name, "--runtime docker kill --case", "[>Cancel<]")
	x.keys("Tab", "Enter")
	x.waitDialog(5*time.Second, "( Kill )")
	if d := runtimetest.Inspect(t, h, victim.ID); d.State != runtime.StateRunning {
		t.Fatalf("Enter before the name was typed acted: %s", d.State)
	}
	x.text(victim.Name)
	x.waitDialog(5*time.Second, "[>Kill<]")
	x.keys("Enter")
	x.waitFor(30*time.Second, "kill "+victim.Name+": done")
	x.waitUntil(10*time.Second, "the victim killed", func(s string) bool {
		l := row(s, victim.Name)
		return strings.Contains(l, "killed") && !strings.Contains(l, "DRIFT")
	})
	if d := runtimetest.Inspect(t, h, victim.ID); d.State == runtime.StateRunning || d.State == runtime.StatePaused {
		t.Fatalf("after the console's kill the victim is %s", d.State)
	}
	x.keys("q")
	x.waitFor(10*time.Second, "[exited 0]")

	r := runCLI(t, "--runtime", "docker", "--state-dir", state, "status", "-o", "json", victim.Name)
	var st []statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st) != 1 || st[0].Record == nil || st[0].Ended == nil || st[0].Ended.Action != "kill" || st[0].Actor == "" {
		t.Fatalf("status after the console's kill: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	acts := consoleActs(t, state)
	if len(acts) != 2 || acts[0].Act != "contain" || acts[1].Act != "kill" || acts[1].Result != "done" ||
		!strings.Contains(acts[1].Command, "kill --case "+st[0].Case+" --yes "+victim.Name) {
		t.Fatalf("journal: %+v (case %s)", acts, st[0].Case)
	}
}
