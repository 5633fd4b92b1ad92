package containerd

// The acts on a container's task: freeze and thaw, stop and signal.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/containerd/containerd/v2/client"

	"firebreak/runtime"
)

// task loads the container's task and its status. A container without a
// task yields an error for which IsNotRunning is true.
func (c *Containerd) task(ctx context.Context, id string) (client.Task, client.ProcessStatus, error) {
	ctr, err := c.load(ctx, id)
	if err != nil {
		return nil, "", err
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil, "", fmt.Errorf("container %s has no task: %w", short(id), runtime.ErrNotRunning)
	}
	if err != nil {
		return nil, "", wrap("Container.Task", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, "", wrap("Task.Status", id, err)
	}
	return task, st.Status, nil
}

func (c *Containerd) Pause(ctx context.Context, id string) error {
	ctx = c.ctx(ctx)
	task, status, err := c.task(ctx, id)
	if err != nil {
		return err
	}
	switch status {
	case client.Paused, client.Pausing:
		return nil
	case client.Running:
	default:
		return fmt.Errorf("pausing %s (task %s): %w", short(id), status, runtime.ErrNotRunning)
	}
	if err := task.Pause(ctx); err != nil {
		return wrap("Task.Pause", id, err)
	}
	return nil
}

func (c *Containerd) Unpause(ctx context.Context, id string) error {
	ctx = c.ctx(ctx)
	task, status, err := c.task(ctx, id)
	if errors.Is(err, runtime.ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	if status != client.Paused && status != client.Pausing {
		return nil
	}
	if err := task.Resume(ctx); err != nil {
		return wrap("Task.Resume", id, err)
	}
	return nil
}

// Stop sends SIGTERM to the task, waits up to grace for it to exit, then
// SIGKILL. The task stays (stopped) for inspection; a paused task is thawed
// first so it can receive the signal.
func (c *Containerd) Stop(ctx context.Context, id string, grace time.Duration) error {
	ctx = c.ctx(ctx)
	task, status, err := c.task(ctx, id)
	if errors.Is(err, runtime.ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	if status == client.Stopped {
		return nil
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return wrap("Task.Wait", id, err)
	}
	if status == client.Paused {
		_ = task.Resume(ctx)
	}
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !cerrdefs.IsNotFound(err) {
		return wrap("Task.Kill", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !cerrdefs.IsNotFound(err) {
		return wrap("Task.Kill", id, err)
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Containerd) Kill(ctx context.Context, id, signal string) error {
	ctx = c.ctx(ctx)
	sig, err := signalOf(signal)
	if err != nil {
		return err
	}
	task, _, err := c.task(ctx, id)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, sig); err != nil {
		return wrap("Task.Kill", id, err)
	}
	return nil
}

// CheckSignal says whether Kill takes the signal (runtime.SignalChecker).
func (c *Containerd) CheckSignal(signal string) error {
	_, err := signalOf(signal)
	return err
}

func signalOf(s string) (syscall.Signal, error) {
	switch strings.TrimPrefix(strings.ToUpper(s), "SIG") {
	case "", "KILL", "9":
		return syscall.SIGKILL, nil
	case "TERM", "15":
		return syscall.SIGTERM, nil
	case "INT", "2":
		return syscall.SIGINT, nil
	case "HUP", "1":
		return syscall.SIGHUP, nil
	case "STOP", "19":
		return syscall.SIGSTOP, nil
	}
	return 0, fmt.Errorf("signal %q: use KILL, TERM, INT, HUP or STOP", s)
}
