package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// statusOf is `firebreak status -o json` of one container.
func statusOf(t *testing.T, flags []string, ref string) statusJSON {
	t.Helper()
	r := cli(t, flags, "status", "-o", "json", ref)
	var rows []statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("status %s: exit %d, %v\n%s%s", ref, r.code, err, r.stdout, r.stderr)
	}
	return rows[0]
}

// TestCLIStopAndKillOnDocker: stop and kill end a real container's
// processes, are recorded where status shows them, refuse to kill off a
// terminal without --yes, and leave alone what does not run.
func TestCLIStopAndKillOnDocker(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	other := h.Run(t, runtimetest.Name(t)+"-stop", runtimetest.Spec{})
	sandbox := h.Run(t, runtimetest.Name(t)+"-sbx", runtimetest.Spec{Labels: map[string]string{"io.cri-containerd.kind": "sandbox"}})
	flags := []string{"--runtime", "docker", "--state-dir", t.TempDir()}

	// off a terminal, kill without --yes changes nothing and says why
	var out, errb bytes.Buffer
	d := newDeps(&out, &errb)
	d.stdin = strings.NewReader(victim.Name + "\n")
	if code := run(context.Background(), append(flags, "kill", victim.Name), d); code != exitApproval || !strings.Contains(errb.String(), "add --yes") {
		t.Fatalf("kill without --yes off a terminal: exit %d, want %d saying to add --yes\n%s", code, exitApproval, errb.String())
	}
	if got := runtimetest.Inspect(t, h, victim.ID); got.State != runtime.StateRunning {
		t.Fatalf("an unconfirmed kill left it %s", got.State)
	}
	// a target that does not exist is bad input before the missing --yes
	if r := cli(t, flags, "kill", victim.Name+"-nope"); r.code != exitUsage {
		t.Errorf("kill of an unknown target without --yes: exit %d, want 2\n%s", r.code, r.stderr)
	}
	if r := cli(t, flags, "kill", "--yes", "--signal", "SIGNOPE", victim.Name); r.code != exitUsage {
		t.Errorf("a signal that does not exist: exit %d, want 2\n%s", r.code, r.stderr)
	}

	// a contained (frozen) container is thawed behind its drop rules and
	// killed; the record says so
	if r := cli(t, flags, "contain", "--case", "IR-9", victim.Name); r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := cli(t, flags, "kill", "--yes", "-o", "json", victim.Name)
	if r.code != exitOK {
		t.Fatalf("kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var line struct {
		Type string `json:"type"`
		OK   bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &line); err != nil || line.Type != "kill" || !line.OK {
		t.Errorf("kill JSON: %v %+v\n%s", err, line, r.stdout)
	}
	if got := runtimetest.Inspect(t, h, victim.ID); got.State == runtime.StateRunning || got.State == runtime.StatePaused {
		t.Fatalf("after kill the container is %s", got.State)
	}
	st := statusOf(t, flags, victim.Name)
	if st.Record == nil || st.Ended == nil || st.Ended.Action != "kill" || st.Ended.Signal != "SIGKILL" || st.Case != "IR-9" {
		t.Fatalf("status after kill: %+v", st.Record)
	}
	if st.Live == nil || st.Live.Drift != "" {
		t.Errorf("a killed container shows drift: %+v", st.Live)
	}
	var acts []string
	for _, l := range st.Log {
		acts = append(acts, l.Action)
	}
	if got := strings.Join(acts, ","); !strings.Contains(got, "thaw-for-kill") || !strings.HasSuffix(got, "kill,kill") {
		t.Errorf("record log %s: want the thaw and the kill", got)
	}
	if r := cli(t, flags, "status", victim.Name); !strings.Contains(r.stdout, "processes ended by Firebreak: kill SIGKILL") {
		t.Errorf("status text:\n%s", r.stdout)
	}
	// killing it again changes nothing
	if r := cli(t, flags, "kill", "--yes", victim.Name); r.code != exitOK || !strings.Contains(r.stdout, "unchanged") {
		t.Errorf("a second kill: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// stop asks nothing and makes a record for a container that held nothing
	if r := cli(t, flags, "stop", "--grace", "1s", "--case", "IR-10", other.Name); r.code != exitOK || !strings.Contains(r.stdout, "stop "+other.ID[:12]) {
		t.Fatalf("stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := runtimetest.Inspect(t, h, other.ID); got.State == runtime.StateRunning {
		t.Fatalf("after stop the container is %s", got.State)
	}
	if st := statusOf(t, flags, other.Name); st.Ended == nil || st.Ended.Action != "stop" || st.Ended.Grace != "1s" || st.Case != "IR-10" {
		t.Errorf("status after stop: %+v", st.Record)
	}

	// a pod's sandbox is refused before anything is asked or done
	if r := cli(t, flags, "kill", "--yes", sandbox.Name); r.code != exitRefused || !strings.Contains(r.stdout+r.stderr, "kubelet") {
		t.Errorf("kill of a sandbox: exit %d, want 3 naming the kubelet\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := runtimetest.Inspect(t, h, sandbox.ID); got.State != runtime.StateRunning {
		t.Errorf("a refused kill left the sandbox %s", got.State)
	}
}

// TestCLIKillAsksForTheNameOnATerminal: on a terminal kill acts only once
// the container's name is typed; another answer changes nothing.
func TestCLIKillAsksForTheNameOnATerminal(t *testing.T) {
	h := runtimetest.Docker(t)
	victim := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := []string{"--runtime", "docker", "--state-dir", t.TempDir()}
	kill := func(answer string) (int, string) {
		master, term := ptyPair(t)
		var prompt bytes.Buffer
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				mu.Lock()
				prompt.Write(buf[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		if _, err := io.WriteString(master, answer+"\n"); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		d := newDeps(&out, term)
		d.stdin = term
		code := run(context.Background(), append(flags, "kill", victim.Name), d)
		time.Sleep(100 * time.Millisecond) // let the prompt be read
		term.Close()
		master.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return code, prompt.String() + out.String()
	}
	// Interrupted while it waits for the name (Ctrl-C cancels the
	// command's context): it stops waiting, nothing changed, exit 130.
	{
		master, term := ptyPair(t)
		go io.Copy(io.Discard, master)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		d := newDeps(&bytes.Buffer{}, term)
		d.stdin = term
		code := run(ctx, append(flags, "kill", victim.Name), d)
		cancel()
		term.Close()
		master.Close()
		if code != exitInterrupted {
			t.Fatalf("interrupted at the prompt: exit %d, want %d", code, exitInterrupted)
		}
		if got := runtimetest.Inspect(t, h, victim.ID); got.State != runtime.StateRunning {
			t.Fatalf("an interrupted prompt killed it: %s", got.State)
		}
	}
	code, said := kill(victim.Name[:len(victim.Name)-1])
	if code != exitApproval || !strings.Contains(said, "Type "+victim.Name+" to kill it") {
		t.Fatalf("a wrong name: exit %d, want %d after asking for the name\n%s", code, exitApproval, said)
	}
	if got := runtimetest.Inspect(t, h, victim.ID); got.State != runtime.StateRunning {
		t.Fatalf("a wrong name killed it: %s", got.State)
	}
	code, said = kill(victim.Name)
	if code != exitOK || !strings.Contains(said, "kill "+victim.ID[:12]) {
		t.Fatalf("the typed name: exit %d\n%s", code, said)
	}
	if got := runtimetest.Inspect(t, h, victim.ID); got.State == runtime.StateRunning {
		t.Fatalf("after the typed name the container is %s", got.State)
	}
}

// ptyPair opens a pseudo-terminal: its master end and its terminal end.
func ptyPair(t *testing.T) (master, term *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening the terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}
