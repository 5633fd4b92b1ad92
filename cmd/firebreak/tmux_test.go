package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"firebreak/internal/testenv"
)

// tmuxTerm is a real terminal for the console's end-to-end tests: a tmux
// server of the test's own (its own socket, no user configuration) running
// one program in a window of a fixed size. Keys go in with send-keys; the
// screen comes out with capture-pane.
type tmuxTerm struct {
	t      testing.TB
	socket string
	target string
}

// startTmux runs argv (with env added) in a w x h tmux window.
func startTmux(t testing.TB, w, h int, env []string, argv ...string) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.SkipOrFail(t, "tmux is not installed (scripts/testenv.sh installs it)")
	}
	x := &tmuxTerm{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock"), target: "fb:0.0"}
	var quoted []string
	for _, e := range env {
		quoted = append(quoted, shellQuoteTest(e))
	}
	for _, a := range argv {
		quoted = append(quoted, shellQuoteTest(a))
	}
	// the program's exit status and output stay readable after it ends
	shell := "env " + strings.Join(quoted, " ") + "; echo; echo \"[exited $?]\"; sleep 600"
	x.tmux("-f", "/dev/null", "new-session", "-d", "-s", "fb", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), shell)
	x.tmux("set-option", "-g", "set-clipboard", "on")
	x.tmux("set-option", "-g", "allow-rename", "on")
	x.tmux("set-window-option", "-g", "automatic-rename", "off")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", x.socket, "kill-server").Run() })
	return x
}

func shellQuoteTest(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (x *tmuxTerm) tmux(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends named keys (Enter, Tab, Escape, Down, C-c) one by one.
func (x *tmuxTerm) keys(keys ...string) {
	x.t.Helper()
	for _, k := range keys {
		x.tmux("send-keys", "-t", x.target, k)
	}
}

// text types s literally.
func (x *tmuxTerm) text(s string) {
	x.t.Helper()
	x.tmux("send-keys", "-t", x.target, "-l", s)
}

// screen is what the window shows now, as text.
func (x *tmuxTerm) screen() string {
	x.t.Helper()
	return x.tmux("capture-pane", "-p", "-t", x.target)
}

// checkStyled fails unless the screen holds SGR sequences (colour, bold,
// reverse): the console drew through a renderer on its terminal, not one
// that dropped its styles.
func (x *tmuxTerm) checkStyled() {
	x.t.Helper()
	if s := x.tmux("capture-pane", "-p", "-e", "-t", x.target); !strings.Contains(s, "\x1b[1m") && !strings.Contains(s, "\x1b[38;5;") {
		x.t.Errorf("the console drew without styles (no bold, no colour):\n%s", s)
	}
}

// waitFor waits until every want is on the screen and returns the screen.
func (x *tmuxTerm) waitFor(within time.Duration, want ...string) string {
	x.t.Helper()
	end := time.Now().Add(within)
	for {
		s := x.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(end) {
			x.t.Fatalf("the screen never showed %q in %s; it shows:\n%s", missing, within, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitUntil waits until cond holds for the screen.
func (x *tmuxTerm) waitUntil(within time.Duration, what string, cond func(screen string) bool) string {
	x.t.Helper()
	end := time.Now().Add(within)
	for {
		s := x.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(end) {
			x.t.Fatalf("the screen never showed %s in %s; it shows:\n%s", what, within, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// title is the window title the program set (OSC 0/2), as tmux keeps it.
func (x *tmuxTerm) title() string {
	x.t.Helper()
	return strings.TrimSpace(x.tmux("display-message", "-p", "-t", x.target, "#{pane_title}"))
}

// buffers lists tmux's paste buffers: an OSC 52 clipboard write that
// reached the terminal makes one.
func (x *tmuxTerm) buffers() string {
	x.t.Helper()
	out, _ := exec.Command("tmux", "-S", x.socket, "list-buffers").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// dialogText is the text inside the dialog's box on the screen, its lines
// joined with spaces (the box wraps long lines at spaces).
func dialogText(screen string) string {
	var parts []string
	for _, l := range strings.Split(screen, "\n") {
		i, j := strings.Index(l, "│"), strings.LastIndex(l, "│")
		if i >= 0 && j > i {
			parts = append(parts, strings.TrimSpace(l[i+len("│"):j]))
		}
	}
	return strings.Join(parts, " ")
}

// waitDialog waits until the dialog's text holds every want and its plan
// has been read (a dialog still reading it ignores Enter).
func (x *tmuxTerm) waitDialog(within time.Duration, want ...string) string {
	x.t.Helper()
	return x.waitUntil(within, fmt.Sprintf("a dialog with %q", want), func(s string) bool {
		d := dialogText(s)
		if strings.Contains(d, "reading the plan") {
			return false
		}
		for _, w := range want {
			if !strings.Contains(d, w) {
				return false
			}
		}
		return true
	})
}

// line is the screen line holding s, or "".
func line(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// row is the fleet row of the container named name: the screen line that
// holds it, not the filter line or the status line.
func row(screen, name string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, name) && !strings.HasPrefix(l, "filter:") && !strings.Contains(l, " · ") {
			return l
		}
	}
	return ""
}

// choose moves the cursor of a list that marks it with "> " to the line
// holding name, one key at a time, each time waiting for the cursor to
// move: a loaded machine draws late, and keys sent ahead overshoot.
func (x *tmuxTerm) choose(name string) {
	x.t.Helper()
	where := func() (cursor, target int, line string) {
		cursor, target = -1, -1
		for i, l := range strings.Split(x.screen(), "\n") {
			if strings.HasPrefix(l, "> ") {
				cursor, line = i, l
			}
			if strings.Contains(l, name) {
				target = i
			}
		}
		return cursor, target, line
	}
	for range 30 {
		cursor, target, line := where()
		if cursor >= 0 && cursor == target {
			return
		}
		key := "Down"
		if target >= 0 && cursor > target {
			key = "Up"
		}
		x.keys(key)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if c, _, l := where(); c != cursor || l != line {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	x.t.Fatalf("the cursor never reached %q:\n%s", name, x.screen())
}

// selfCLI is the command that runs this test binary as firebreak.
func selfCLI(t testing.TB) (env []string, argv []string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env = []string{"FIREBREAK_TEST_AS_CLI=1", "TERM=xterm-256color", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	return env, []string{self}
}
