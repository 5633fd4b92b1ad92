package runtimetest

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ServeCmd runs busybox httpd in the foreground on port 8080, serving /etc:
// a test peer that answers GET /passwd with 200.
var ServeCmd = []string{"httpd", "-f", "-p", "8080", "-h", "/etc"}

// Fetch reports whether an HTTP GET of /passwd on addr:8080 from inside the
// network namespace at nsPath gets 200. It uses nsenter and busybox nc from
// the host, independent of Firebreak's own code, and joins only the network
// namespace.
func Fetch(t testing.TB, nsPath, addr string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+nsPath, "/bin/busybox", "nc", "-w", "2", addr, "8080")
	cmd.Stdin = strings.NewReader("GET /passwd HTTP/1.0\r\n\r\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	_ = cmd.Run() // a failed connection is an answer, not an error
	return strings.HasPrefix(out.String(), "HTTP/1.") && strings.Contains(strings.SplitN(out.String(), "\n", 2)[0], " 200")
}
