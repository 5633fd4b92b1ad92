package docker_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"firebreak/runtime"
	"firebreak/runtime/docker"
	"firebreak/runtime/runtimetest"
)

// watchLive starts a watch on the engine behind h and returns once it
// reports containers being made.
func watchLive(t *testing.T, h *runtimetest.DockerHarness) *runtimetest.Recorder {
	t.Helper()
	rec := runtimetest.StartWatch(t, h.Docker())
	rec.WaitLive(t,
		func() string { return h.Create(t, runtimetest.EventName(t)+"-live", runtimetest.Spec{}).ID },
		func(id string) { h.Remove(t, id) })
	return rec
}

// TestWatchLifecycle: a container's life arrives as one word per change, in
// order; Docker's kill and stop around the die, and an exec's events, are
// "other".
func TestWatchLifecycle(t *testing.T) {
	h := runtimetest.Docker(t)
	api := h.Docker().API()
	ctx := runtimetest.Context(t)
	rec := watchLive(t, h)

	name := runtimetest.EventName(t)
	begin := time.Now()
	d := h.Create(t, name, runtimetest.Spec{})
	zero := 0
	steps := []struct {
		what string
		do   func() error
	}{
		{"rename", func() error { return api.ContainerRename(ctx, d.ID, name+"-renamed") }},
		{"start", func() error { return api.ContainerStart(ctx, d.ID, container.StartOptions{}) }},
		{"exec", func() error {
			ex, err := api.ContainerExecCreate(ctx, d.ID, container.ExecOptions{Cmd: []string{"true"}})
			if err != nil {
				return err
			}
			if err := api.ContainerExecStart(ctx, ex.ID, container.ExecStartOptions{Detach: true}); err != nil {
				return err
			}
			runtimetest.Eventually(t, 30*time.Second, "exec ends", func() bool {
				in, err := api.ContainerExecInspect(ctx, ex.ID)
				return err == nil && !in.Running
			})
			return nil
		}},
		{"pause", func() error { return api.ContainerPause(ctx, d.ID) }},
		{"unpause", func() error { return api.ContainerUnpause(ctx, d.ID) }},
		{"stop", func() error { return api.ContainerStop(ctx, d.ID, container.StopOptions{Timeout: &zero}) }},
		{"remove", func() error { return api.ContainerRemove(ctx, d.ID, container.RemoveOptions{}) }},
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
	want := []string{"create", "rename", "start", "pause", "unpause", "stop", "destroy"}
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
	h := runtimetest.Docker(t)
	rec := watchLive(t, h)
	if err := rec.Stop(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch after cancel = %v", err)
	}

	ctx, cancel := context.WithCancel(runtimetest.Context(t))
	cancel()
	done := make(chan error, 1)
	go func() { done <- h.Docker().Watch(ctx, func(runtime.Event) {}) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch(cancelled context) = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch(cancelled context) did not return within 10s")
	}
}

// TestWatchFailsWithoutEngine: a stream that cannot be had is an error, not
// the context's, so the caller knows to list again and re-watch.
func TestWatchFailsWithoutEngine(t *testing.T) {
	d, err := docker.New("unix://" + t.TempDir() + "/no-docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Watch(runtimetest.Context(t), func(runtime.Event) { t.Error("an event from no engine") })
	if err == nil || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "docker Events") {
		t.Errorf("Watch = %v, want the failed call named", err)
	}
}
