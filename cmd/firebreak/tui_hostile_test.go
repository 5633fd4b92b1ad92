package main

import (
	"strings"
	"testing"
	"time"

	"firebreak/runtime/runtimetest"
)

// hostile holds what a compromised container would put in front of a
// responder's terminal: a window title, an OSC 52 clipboard write, an OSC 8
// link, a screen clear, cursor moves, colour, a C1 CSI and a bidi override.
const hostile = "\x1b]0;PWNED-TITLE\x07\x1b]52;c;UFdORUQ=\x07\x1b]8;;http://evil.invalid/\x1b\\LINK\x1b]8;;\x1b\\\x1b[2J\x1b[H\x1b[10;10HMOVED\x1b[31mRED\u009b2J\u202eEVIL"

// TestConsoleRendersHostileStringsInert runs a container whose name is
// harmless but whose labels, process command line and log lines hold
// escape sequences, and walks the console over every view that shows
// them: the terminal's title, clipboard and screen stay the console's.
func TestConsoleRendersHostileStringsInert(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{
		Labels: map[string]string{"note": hostile, hostile: "key"},
		// $0 is the hostile string: it is in sh's command line and in
		// every log line
		Cmd: []string{"sh", "-c", `while :; do echo "log: $0"; sleep 1; done`, hostile},
	})
	flags, _, _ := consoleFlags(t, "--runtime", "docker")
	env, argv := selfCLI(t)
	x := startTmux(t, 160, 40, env, append(argv, flags...)...)
	x.waitFor(20*time.Second, "containers · sorted by", "RISK")
	title := x.title()
	if strings.Contains(title, "PWNED") {
		t.Fatalf("the title is already %q", title)
	}
	check := func(where string, want ...string) {
		t.Helper()
		s := x.waitFor(10*time.Second, want...)
		if got := x.title(); got != title {
			t.Fatalf("%s: the window title changed from %q to %q", where, title, got)
		}
		if b := x.buffers(); b != "" {
			t.Fatalf("%s: the clipboard (tmux buffers) was written: %s", where, b)
		}
		first := strings.SplitN(s, "\n", 2)[0]
		if !strings.HasPrefix(first, "firebreak ") {
			t.Fatalf("%s: the screen lost the console's header line (cleared or moved?):\n%s", where, s)
		}
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "MOVED") && !strings.Contains(l, `\x1b[10;10HMOVED`) {
				t.Fatalf("%s: text landed where a cursor move sent it: %q", where, l)
			}
		}
		if strings.Contains(s, "\u202e") {
			t.Fatalf("%s: a bidi override reached the screen", where)
		}
	}
	check("fleet")
	// its own name, not the hostile label: another test's container may
	// carry the same label
	x.keys("/")
	x.text(victim.Name)
	x.keys("Enter")
	check("fleet filtered", victim.Name, "filter: "+victim.Name)

	x.keys("Enter")
	check("detail", victim.Name, "findings")
	for _, sec := range []struct{ key, want string }{
		{"t", `\x1b]0;PWNED-TITLE\a`}, // sh's command line
		{"n", "network"},
		{"m", "mounts"},
		{"h", "history"},
		{"l", `log: \x1b]0;PWNED-TITLE\a`},
	} {
		x.keys(sec.key)
		check("detail section "+sec.key, sec.want)
	}
	x.keys("f") // follow the log for a moment
	time.Sleep(1500 * time.Millisecond)
	check("detail log followed", `\x1b]52;c;UFdORUQ=\a`)
	x.keys("Escape")
	check("fleet again", victim.Name)

	x.keys("c")
	x.waitDialog(10*time.Second, "Contain "+victim.Name+"?")
	check("contain dialog", "[>Cancel<]")
	x.keys("Escape")
	// the dialog gone before the next key: an Escape read together with
	// the key after it is that key with Alt
	x.waitUntil(5*time.Second, "the dialog closed", func(s string) bool { return !strings.Contains(s, "Contain "+victim.Name+"?") })

	// capture its evidence, then read the captured log in the evidence view
	x.keys("p")
	x.waitFor(10*time.Second, "evidence-only")
	x.choose("evidence-only")
	x.keys("Enter")
	x.waitFor(5*time.Second, "since")
	x.keys("Enter", "Tab", "Enter")
	x.waitUntil(90*time.Second, "the run finished", func(s string) bool {
		return strings.Contains(s, "finished") || strings.Contains(s, "FAILED")
	})
	check("run view", "▶ evidence-only · finished")
	x.keys("e")
	check("evidence case", "verif", "logs/")
	found := false
	for range 60 {
		if strings.Contains(x.screen(), "stdout.log") && strings.Contains(lastLines(x.screen(), 3), "stdout.log") {
			found = true
			break
		}
		x.keys("j")
		time.Sleep(30 * time.Millisecond)
	}
	if !found {
		t.Fatalf("no log artifact under the cursor:\n%s", x.screen())
	}
	x.keys("Enter")
	check("evidence log preview", `log: \x1b]0;PWNED-TITLE\a`)
	// apart: an Escape followed at once by a key reads as Alt+key
	for _, k := range []string{"Escape", "Escape", "q"} {
		x.keys(k)
		time.Sleep(100 * time.Millisecond)
	}
	x.waitFor(10*time.Second, "[exited 0]")
}

// lastLines is the last n lines of the screen above the status line.
func lastLines(screen string, n int) string {
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	if len(lines) > n+1 {
		lines = lines[len(lines)-n-1 : len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
