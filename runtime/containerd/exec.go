package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"

	"firebreak/runtime"
)

var _ runtime.Execer = (*Containerd)(nil)

// Exec runs cmd in the container's task as its own process, with the
// container's user, environment and working directory.
func (c *Containerd) Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error) {
	ctx = c.ctx(ctx)
	task, _, err := c.task(ctx, id)
	if err != nil {
		return runtime.ExecResult{}, err
	}
	ctr, err := c.load(ctx, id)
	if err != nil {
		return runtime.ExecResult{}, err
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return runtime.ExecResult{}, wrap("Container.Spec", id, err)
	}
	if spec.Process == nil {
		return runtime.ExecResult{}, fmt.Errorf("container %s has no process in its spec", short(id))
	}
	ps := *spec.Process
	ps.Args, ps.Terminal = cmd, false
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return runtime.ExecResult{}, err
	}
	out := &runtime.LimitedBuffer{Max: runtime.MaxExecOutput}
	execID := "firebreak-" + hex.EncodeToString(b)
	p, err := task.Exec(ctx, execID, &ps, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return runtime.ExecResult{}, wrap("Task.Exec", id, err)
	}
	bg := context.WithoutCancel(ctx)
	defer func() { _, _ = p.Delete(bg) }()
	exited, err := p.Wait(bg)
	if err != nil {
		return runtime.ExecResult{}, wrap("Process.Wait", id, err)
	}
	if err := p.Start(ctx); err != nil {
		return runtime.ExecResult{}, wrap("Process.Start", id, err)
	}
	select {
	case st := <-exited:
		if io := p.IO(); io != nil {
			io.Wait() // the output is copied when the process ends
		}
		return runtime.ExecResult{ExitCode: int(st.ExitCode()), Output: out.Bytes()}, st.Error()
	case <-ctx.Done():
		_ = p.Kill(bg, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		return runtime.ExecResult{Output: out.Bytes()}, fmt.Errorf("%v in %s: %w", cmd, short(id), ctx.Err())
	}
}
