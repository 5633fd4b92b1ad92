package containerd_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
)

// watchLive starts a watch on the daemon behind h and returns once it
// reports containers being made.
func watchLive(t *testing.T, h *runtimetest.ContainerdHarness) *runtimetest.Recorder {
	t.Helper()
	rec := runtimetest.StartWatch(t, h.Containerd())
	rec.WaitLive(t,
		func() string { return h.Create(t, runtimetest.EventName(t)+"-live", runtimetest.Spec{}).ID },
		func(id string) { h.Remove(t, id) })
	return rec
}

// TestWatchLifecycle: a container's life arrives as one word per change, in
// order; task create and delete, and an exec's events (its exit above all),
// are "other".
func TestWatchLifecycle(t *testing.T) {
	h := runtimetest.Containerd(t)
	api := h.Containerd().Client()
	ctx := namespaces.WithNamespace(runtimetest.Context(t), h.Containerd().Namespace())
	rec := watchLive(t, h)

	name := runtimetest.EventName(t)
	begin := time.Now()
	d := h.Create(t, name, runtimetest.Spec{})
	ctr, err := api.LoadContainer(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var task client.Task
	var exited <-chan client.ExitStatus
	steps := []struct {
		what string
		do   func() error
	}{
		{"start", func() error {
			if task, err = ctr.NewTask(ctx, cio.NullIO); err != nil {
				return err
			}
			if exited, err = task.Wait(ctx); err != nil {
				return err
			}
			return task.Start(ctx)
		}},
		{"exec", func() error {
			spec, err := ctr.Spec(ctx)
			if err != nil {
				return err
			}
			ps := spec.Process
			ps.Args = []string{"true"}
			p, err := task.Exec(ctx, "fbev-exec", ps, cio.NullIO)
			if err != nil {
				return err
			}
			done, err := p.Wait(ctx)
			if err != nil {
				return err
			}
			if err := p.Start(ctx); err != nil {
				return err
			}
			<-done
			_, err = p.Delete(ctx)
			return err
		}},
		{"pause", func() error { return task.Pause(ctx) }},
		{"unpause", func() error { return task.Resume(ctx) }},
		{"stop", func() error {
			if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
				return err
			}
			<-exited
			_, err := task.Delete(ctx)
			return err
		}},
		{"remove", func() error { return ctr.Delete(ctx, client.WithSnapshotCleanup) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s %s: %v", s.what, name, err)
		}
	}
	if !rec.Wait(t, d.ID, runtime.ActionDestroy, 30*time.Second) {
		t.Fatalf("no destroy within 30s; events so far: %+v", rec.Events(d.ID))
	}
	for _, e := range rec.Events(d.ID) {
		t.Logf("%s %s", e.Time.Format(time.RFC3339Nano), e.Action)
	}
	want := []string{"create", "start", "pause", "unpause", "stop", "destroy"}
	if got := runtimetest.WithoutPauseEchoes(rec.Actions(d.ID)); !slices.Equal(got, want) {
		t.Errorf("actions = %v, want %v (all events: %+v)", got, want, rec.Events(d.ID))
	}
	var last time.Time
	for _, e := range rec.Events(d.ID) {
		if e.Time.Before(begin.Add(-time.Minute)) || e.Time.After(time.Now().Add(time.Minute)) || e.Time.Before(last) {
			t.Errorf("event %+v: time not in order or not about now (test began %v)", e, begin)
		}
		last = e.Time
	}
	if err := rec.Stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch after cancel = %v", err)
	}
}

// TestWatchReturnsWhenCancelled: a live stream ends with the context's
// error when the context ends, and so does a watch begun with an ended
// context.
func TestWatchReturnsWhenCancelled(t *testing.T) {
	h := runtimetest.Containerd(t)
	rec := watchLive(t, h)
	if err := rec.Stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch after cancel = %v", err)
	}

	ctx, cancel := context.WithCancel(runtimetest.Context(t))
	cancel()
	done := make(chan error, 1)
	go func() { done <- h.Containerd().Watch(ctx, func(runtime.Event) {}) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch(cancelled context) = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch(cancelled context) did not return within 10s")
	}
}

// TestWatchFailsWithoutDaemon: a stream that cannot be had is an error, not
// the context's, so the caller knows to list again and re-watch.
// (The client's dial gives up after 10s.)
func TestWatchFailsWithoutDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the client's 10s dial timeout")
	}
	c, err := containerd.New(t.TempDir()+"/no-containerd.sock", "default")
	if err != nil {
		t.Skipf("the client fails at connecting already: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(runtimetest.Context(t), 20*time.Second)
	defer cancel()
	err = c.Watch(ctx, func(runtime.Event) { t.Error("an event from no daemon") })
	t.Logf("Watch = %v", err)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "containerd Subscribe") {
		t.Errorf("Watch = %v, want the failed call named", err)
	}
}
