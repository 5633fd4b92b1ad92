package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"firebreak/runtime/runtimetest"
)

// TestNoTerminalQueryAtStart: a command run on a terminal that answers
// nothing (script(1)'s pty) writes no terminal query: no OSC 11
// background-colour request and no cursor position report request, which
// Bubble Tea's init made every command send (and wait 5 s for).
func TestNoTerminalQueryAtStart(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		runtimetest.SkipOrFail(t, "script(1) (util-linux's bsdutils): %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, "-qec", "'"+exe+"' version", "/dev/null")
	cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1", "TERM=xterm-256color")
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("firebreak version on a pty: %v\n%q", err, out)
	}
	if !bytes.Contains(out, []byte("firebreak")) {
		t.Fatalf("firebreak version on a pty printed %q", out)
	}
	for _, q := range []string{"\x1b]11;?", "\x1b[6n"} {
		if bytes.Contains(out, []byte(q)) {
			t.Errorf("firebreak version sent the terminal query %q: %q", q, out)
		}
	}
}

// TestTUIChecksItsFlagsBeforeTheTerminal: bad flags are said as such off
// a terminal too, not hidden behind "needs a terminal".
func TestTUIChecksItsFlagsBeforeTheTerminal(t *testing.T) {
	flags := []string{"--state-dir", t.TempDir()}
	for args, want := range map[string]string{
		"--pubkey garbage":                "--pubkey",
		"--drill no-such-scenario":        "--drill",
		"--runtime docker --namespaces a": "--namespaces",
		"":                                "needs a terminal",
	} {
		r := cli(t, flags, append([]string{"tui"}, strings.Fields(args)...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("tui %s off a terminal: exit %d %q, want 2 naming %s", args, r.code, r.stderr, want)
		}
	}
}
