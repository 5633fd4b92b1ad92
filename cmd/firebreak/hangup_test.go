package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHangup: a hangup (the responder's SSH session dropped) ends a
// command as Ctrl-C does, exit 130 with what it did written; started with
// the hangup ignored (nohup), it runs on.
func TestHangup(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	scenarios := writeQuick(t)
	start := func(t *testing.T, nohup bool) (*exec.Cmd, *syncBuffer) {
		t.Helper()
		args := []string{self, "drill", "tabletop", "quick", "--scenarios", scenarios, "--report-dir", filepath.Join(t.TempDir(), "r"), "--responder", "alice"}
		script := `exec "$@"`
		if nohup {
			script = `trap "" HUP; exec "$@"`
		}
		cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
		cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close() })
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		if _, err := stdin.Write([]byte("act contained\n")); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "E2 met"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("E2 never met:\n%s", out.String())
			}
		}
		return cmd, out
	}
	wait := func(cmd *exec.Cmd, within time.Duration) (int, bool) {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode(), true
			}
			return 0, err == nil
		case <-time.After(within):
			return 0, false
		}
	}

	t.Run("hangup", func(t *testing.T) {
		cmd, out := start(t, false)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		code, ended := wait(cmd, 20*time.Second)
		if !ended || code != exitInterrupted || !strings.Contains(out.String(), "result and reports written to") {
			t.Errorf("after a hangup: ended %v, exit %d, want %d with the result written\n%s", ended, code, exitInterrupted, out.String())
		}
	})
	t.Run("nohup", func(t *testing.T) {
		cmd, out := start(t, true)
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if code, ended := wait(cmd, time.Second); ended {
			t.Fatalf("started with the hangup ignored, it ended on one: exit %d\n%s", code, out.String())
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
	})
}
