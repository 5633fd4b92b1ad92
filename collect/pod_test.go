package collect

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runPodLogs(t *testing.T, dir string, capBytes, total int64) (map[string]string, []string) {
	t.Helper()
	got := map[string]string{}
	var inc []string
	err := podLogs(dir, capBytes, total, func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		got[name] = string(b)
		return err
	}, func(why string) { inc = append(inc, why) })
	if err != nil {
		t.Fatal(err)
	}
	return got, inc
}

// The pod's log directory is the pod's to write (a hostPath of /var/log):
// a symlink or a hard link planted there to a host file is recorded, not
// copied; a FIFO swapped in for a log file between the walk and the open
// cannot hang the capture; a large file keeps its head and its newest rest.
func TestPodLogsHostile(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(host, []byte("HOST-SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web")
	if err := os.MkdirAll(web, 0o755); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("a", 100) + strings.Repeat("m", 800) + strings.Repeat("z", 100)
	for name, content := range map[string]string{"0.log": "line one\n", "0.log.20261128-101010": "rotated\n", "big.log": big} {
		if err := os.WriteFile(filepath.Join(web, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(host, filepath.Join(web, "1.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(host, filepath.Join(web, "2.log")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(web, "3.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, inc := runPodLogs(t, dir, 400, 0)
	if got["logs/web/0.log"] != "line one\n" || got["logs/web/0.log.20261128-101010"] != "rotated\n" {
		t.Errorf("logs copied: %v", got)
	}
	for name, content := range got {
		if strings.Contains(content, "HOST-SECRET") {
			t.Errorf("%s holds the host file's content", name)
		}
	}
	if b := got["logs/web/big.log"]; len(b) != 400 || b[:100] != strings.Repeat("a", 100) || !strings.HasSuffix(b, strings.Repeat("z", 100)) {
		t.Errorf("big.log kept %d bytes (%.20q...%.20q), want its first quarter and newest rest of 400", len(b), b, b[max(len(b)-20, 0):])
	}
	all := strings.Join(inc, "\n")
	for _, want := range []string{"1.log is a symlink to \"" + host + "\"", "2.log has 2 hard links", "3.log is a", "big.log is 1000 bytes"} {
		if !strings.Contains(all, want) {
			t.Errorf("incomplete lacks %q:\n%s", want, all)
		}
	}
	// A total bound stops copying, and says what was left.
	_, inc = runPodLogs(t, dir, 0, 5)
	if !strings.Contains(strings.Join(inc, "\n"), "reached 5 bytes in all") {
		t.Errorf("total bound not reported: %v", inc)
	}
}

func TestPodLogsFIFOSwapDoesNotHang(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "web", "0.log")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			fifo, reg := filepath.Join(dir, "fifo.tmp"), filepath.Join(dir, "reg.tmp")
			_ = syscall.Mkfifo(fifo, 0o644)
			_ = os.Rename(fifo, target)
			_ = os.WriteFile(reg, []byte("x"), 0o644)
			_ = os.Rename(reg, target)
		}
	}()
	defer func() { close(stop); <-swapped }()
	for i := 0; i < 500; i++ {
		done := make(chan error, 1)
		go func() {
			done <- podLogs(dir, 1<<20, 0, func(string, io.Reader) error { return nil }, func(string) {})
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("podLogs hung on run %d: a FIFO swapped in after the walk", i)
		}
	}
}
