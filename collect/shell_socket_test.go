package collect

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"firebreak/runtime"
)

// startShellOn starts /bin/sh with its input and output on f, as nc -e or
// bash's /dev/tcp redirection leave a reverse shell.
func startShellOn(t *testing.T, f *os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh")
	cmd.Stdin, cmd.Stdout = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func shellFindings(t *testing.T, pid int) []Finding {
	t.Helper()
	var procs []*Process
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		procs, err = newProcReader("/proc").processTree(pid)
		ready := false
		for _, p := range procs {
			ready = ready || (p.PID == pid && p.Comm == "sh")
		}
		if err == nil && ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading the shell's tree: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return liveFindings(context.Background(), "/proc", runtime.Details{Pid: pid}, procs)
}

// A shell whose input and output are a TCP connection is a reverse shell,
// named with its peer; a shell on a unix socketpair (a supervisor's) is not.
func TestLiveShellOnSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(10 * time.Second)
		}
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sh := startShellOn(t, f)
	var found *Finding
	for _, fi := range shellFindings(t, sh.Process.Pid) {
		if fi.ID == "live-shell-on-socket" {
			found = &fi
		}
	}
	if found == nil || found.Severity != Critical || !strings.Contains(found.Evidence, "peer "+l.Addr().String()) {
		t.Fatalf("reverse shell finding = %+v, want critical naming peer %s", found, l.Addr())
	}

	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(pair[0]), "a"), os.NewFile(uintptr(pair[1]), "b")
	defer a.Close()
	defer b.Close()
	quiet := startShellOn(t, a)
	for _, fi := range shellFindings(t, quiet.Process.Pid) {
		// The test's own processes share a cgroup: the reverse shell is in
		// this tree too, and only the quiet one is judged here.
		if fi.ID == "live-shell-on-socket" && strings.HasPrefix(fi.Evidence, fmt.Sprintf("pid %d ", quiet.Process.Pid)) {
			t.Errorf("a shell on a unix socketpair was flagged: %s", fi.Evidence)
		}
	}
}
