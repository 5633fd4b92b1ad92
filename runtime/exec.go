package runtime

import (
	"context"
	"sync"
)

// Execer is implemented by engines that can run a command inside a running
// container. Firebreak uses it only for backup hooks (a database's own
// flush or dump before its files are read), and never in a container it
// holds: a command run in a suspect runs the attacker's binaries.
type Execer interface {
	// Exec runs cmd in the container and waits for it; when ctx ends first
	// the command is killed. The output is stdout and stderr together,
	// at most MaxExecOutput bytes (the rest is dropped).
	Exec(ctx context.Context, id string, cmd []string) (ExecResult, error)
}

// MaxExecOutput bounds what Exec keeps of a command's output.
const MaxExecOutput = 64 << 10

// ExecResult is how a command run by Exec ended.
type ExecResult struct {
	ExitCode int    `json:"exit_code"`
	Output   []byte `json:"output,omitempty"`
}

// LimitedBuffer keeps the first Max bytes written to it and drops the rest;
// writes never fail (a command's output must not block it). Safe for
// concurrent writers (stdout and stderr copied at once).
type LimitedBuffer struct {
	Max int
	mu  sync.Mutex
	b   []byte
}

func (l *LimitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.Max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes is what was kept.
func (l *LimitedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b...)
}
