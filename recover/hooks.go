package recover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"firebreak/runtime"
)

// Hook is a command run inside a container around its backup (a database's
// flush before its files are read, the unlock after), as Velero's hooks.
type Hook struct {
	Command []string      // argv, run in the container
	Timeout time.Duration // killed after this; 0 is DefaultHookTimeout
	// OnError is what a failure (an error, a timeout, a non-zero exit)
	// does: HookFail ends the backup, HookContinue notes it and goes on.
	OnError string
}

// What a failed hook does.
const (
	HookFail     = "fail"
	HookContinue = "continue"
)

// DefaultHookTimeout bounds a hook given no timeout.
const DefaultHookTimeout = 30 * time.Second

// CheckHook says what is wrong with a hook, for the user to fix.
func CheckHook(h Hook) error {
	if len(h.Command) == 0 || strings.TrimSpace(strings.Join(h.Command, "")) == "" {
		return errors.New("give the command to run")
	}
	if h.Timeout < 0 {
		return fmt.Errorf("timeout %s: give a positive duration", h.Timeout)
	}
	if h.OnError != "" && h.OnError != HookFail && h.OnError != HookContinue {
		return fmt.Errorf("on-error %q: give fail or continue", h.OnError)
	}
	return nil
}

// HookRun is how one hook ran, kept in the snapshot.
type HookRun struct {
	When     string   `json:"when"` // pre or post
	Command  []string `json:"command"`
	ExitCode int      `json:"exit_code"`
	Output   string   `json:"output,omitempty"`
	MS       int64    `json:"ms"`
	Error    string   `json:"error,omitempty"`
	Ignored  bool     `json:"ignored,omitempty"` // failed, and on-error was continue
}

// Failed is whether the hook did not run to a zero exit.
func (h HookRun) Failed() bool { return h.Error != "" || h.ExitCode != 0 }

// RunHook runs a hook in the container; the error is set only when the
// hook failed and its OnError is fail.
func RunHook(ctx context.Context, ex runtime.Execer, id, when string, h Hook) (HookRun, error) {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultHookTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, err := ex.Exec(hctx, id, h.Command)
	run := HookRun{When: when, Command: h.Command, ExitCode: res.ExitCode, Output: string(res.Output), MS: time.Since(start).Milliseconds()}
	if err != nil {
		run.Error = err.Error()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			run.Error = fmt.Sprintf("killed after %s: %v", timeout, err)
		}
	}
	if !run.Failed() {
		return run, nil
	}
	if h.OnError == HookContinue {
		run.Ignored = true
		return run, nil
	}
	why := run.Error
	if why == "" {
		why = fmt.Sprintf("exit %d", run.ExitCode)
	}
	out := strings.TrimSpace(run.Output)
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	if out != "" {
		why += ": " + out
	}
	return run, &HookError{When: when, Command: h.Command, Why: why}
}

// HookError says a hook failed and ended the backup.
type HookError struct {
	When    string
	Command []string
	Why     string
}

func (e *HookError) Error() string {
	return fmt.Sprintf("the %s-backup hook %q failed (%s); no snapshot was taken (--hook-on-error continue goes on after a failed hook)", e.When, strings.Join(e.Command, " "), e.Why)
}
