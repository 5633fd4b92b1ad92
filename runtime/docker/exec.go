package docker

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"firebreak/runtime"
)

var _ runtime.Execer = (*Docker)(nil)

// Exec runs cmd in the container through the engine's exec API. The engine
// cannot stop an exec, so when ctx ends first its process is killed from
// the host by the PID the engine reports.
func (d *Docker) Exec(ctx context.Context, id string, cmd []string) (runtime.ExecResult, error) {
	ex, err := d.api.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return runtime.ExecResult{}, fmt.Errorf("docker ContainerExecCreate in %s: %w", short(id), err)
	}
	att, err := d.api.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return runtime.ExecResult{}, fmt.Errorf("docker ContainerExecAttach in %s: %w", short(id), err)
	}
	defer att.Close()
	out := &runtime.LimitedBuffer{Max: runtime.MaxExecOutput}
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(out, out, att.Reader)
		copied <- err
	}()
	select {
	case err := <-copied:
		if err != nil {
			return runtime.ExecResult{Output: out.Bytes()}, fmt.Errorf("reading the output of %v in %s: %w", cmd, short(id), err)
		}
	case <-ctx.Done():
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if in, err := d.api.ContainerExecInspect(ictx, ex.ID); err == nil && in.Running && in.Pid > 0 {
			_ = syscall.Kill(in.Pid, syscall.SIGKILL)
		}
		att.Close()
		<-copied
		return runtime.ExecResult{Output: out.Bytes()}, fmt.Errorf("%v in %s: %w", cmd, short(id), ctx.Err())
	}
	// The streams close as the process ends; the engine may record its exit
	// a moment later.
	for wait := 0; ; wait++ {
		in, err := d.api.ContainerExecInspect(context.WithoutCancel(ctx), ex.ID)
		if err != nil {
			return runtime.ExecResult{Output: out.Bytes()}, fmt.Errorf("docker ContainerExecInspect in %s: %w", short(id), err)
		}
		if !in.Running || wait == 50 {
			return runtime.ExecResult{ExitCode: in.ExitCode, Output: out.Bytes()}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}
