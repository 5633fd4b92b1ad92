package runtimetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"firebreak/runtime"
)

// Conformance runs the suite every runtime.Runtime passes, against the
// engine behind h.
func Conformance(t *testing.T, h Harness) {
	rt := h.Runtime()

	t.Run("ListAndResolve", func(t *testing.T) {
		ctx := Context(t)
		name := Name(t)
		d := h.Run(t, name, Spec{})
		list, err := rt.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(c runtime.Container) bool { return c.ID == d.ID })
		if i < 0 {
			t.Fatalf("List does not hold %s", d.ID)
		}
		if list[i].Name != name || list[i].State != runtime.StateRunning || list[i].Image == "" {
			t.Errorf("List entry = %+v, want name %s, running, with image", list[i], name)
		}
		for _, ref := range []string{d.ID, name, d.ID[:len(d.ID)-1]} {
			got, err := runtime.Resolve(ctx, rt, ref)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", ref, err)
			}
			if got.ID != d.ID || !got.Created.Equal(d.Created) {
				t.Errorf("Resolve(%q) = %s created %v, want %s created %v", ref, got.ID, got.Created, d.ID, d.Created)
			}
		}
	})

	t.Run("ResolveUnknown", func(t *testing.T) {
		_, err := runtime.Resolve(Context(t), rt, "fbt-no-such-container-"+Name(t))
		var nf *runtime.NotFoundError
		if !errors.As(err, &nf) || !runtime.IsNotFound(err) {
			t.Fatalf("Resolve(unknown) = %v, want NotFoundError", err)
		}
		if !strings.Contains(err.Error(), "firebreak ps") {
			t.Errorf("error %q does not say how to find the right name", err)
		}
	})

	t.Run("ResolveAmbiguousPrefix", func(t *testing.T) {
		ctx := Context(t)
		// Create containers until two of ours share a first character
		// (at most 17 by pigeonhole; containerd IDs here share a prefix
		// by construction).
		byFirst := map[byte][]runtime.Details{}
		var pair []runtime.Details
		for i := 0; i < 17 && pair == nil; i++ {
			d := h.Create(t, Name(t), Spec{})
			byFirst[d.ID[0]] = append(byFirst[d.ID[0]], d)
			if len(byFirst[d.ID[0]]) == 2 {
				pair = byFirst[d.ID[0]]
			}
		}
		if pair == nil {
			t.Fatal("no two containers share a first character")
		}
		prefix := commonPrefix(pair[0].ID, pair[1].ID)
		_, err := runtime.Resolve(ctx, rt, prefix)
		var amb *runtime.AmbiguousError
		if !errors.As(err, &amb) {
			t.Fatalf("Resolve(%q) = %v, want AmbiguousError", prefix, err)
		}
		for _, p := range pair {
			if !slices.ContainsFunc(amb.Matches, func(c runtime.Container) bool { return c.ID == p.ID }) {
				t.Errorf("AmbiguousError matches %v lack %s", amb.Matches, p.ID)
			}
			if !strings.Contains(err.Error(), p.ID) {
				t.Errorf("error %q does not list %s", err, p.ID)
			}
		}
	})

	t.Run("InspectRunning", func(t *testing.T) {
		ctx := Context(t)
		d := h.Run(t, Name(t), Spec{})
		got, err := rt.Inspect(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != runtime.StateRunning {
			t.Fatalf("Inspect = pid %d state %s, want a pid and running", got.Pid, got.State)
		}
		if got.NetworkMode.Kind != "private" {
			t.Errorf("network mode %+v netns %q, want private with a namespace path", got.NetworkMode, got.NetNSPath)
		}
		if len(got.Raw) == 0 {
			t.Error("Inspect carries no engine document")
		}
		if got.Created.IsZero() {
			t.Error("no creation time")
		}
		// The rest is about the process on this host.
		RequireProcesses(t, h)
		if got.Pid <= 0 {
			t.Fatalf("Inspect = pid %d state %s, want a pid and running", got.Pid, got.State)
		}
		if got.NetNSPath == "" {
			t.Errorf("network mode %+v netns %q, want private with a namespace path", got.NetworkMode, got.NetNSPath)
		}
	})

	t.Run("InspectCreatedNotStarted", func(t *testing.T) {
		ctx := Context(t)
		d := h.Create(t, Name(t), Spec{})
		got, err := rt.Inspect(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != runtime.StateCreated || got.Pid != 0 || got.NetNSPath != "" {
			t.Errorf("created container: state %s pid %d netns %q, want created, 0, none", got.State, got.Pid, got.NetNSPath)
		}
		if err := rt.Pause(ctx, d.ID); !runtime.IsNotRunning(err) {
			t.Errorf("Pause(created) = %v, want not-running error", err)
		}
	})

	t.Run("InspectHostNetwork", func(t *testing.T) {
		d := h.Create(t, Name(t), Spec{HostNetwork: true})
		if d.NetworkMode.Kind != "host" {
			t.Errorf("host-network container reported as %+v", d.NetworkMode)
		}
	})

	t.Run("InspectNotFound", func(t *testing.T) {
		_, err := rt.Inspect(Context(t), "fbt-gone-"+strings.Repeat("0", 20))
		if !runtime.IsNotFound(err) {
			t.Errorf("Inspect(missing) = %v, want not found", err)
		}
	})

	t.Run("PauseUnpauseIdempotent", func(t *testing.T) {
		ctx := Context(t)
		d := h.Run(t, Name(t), Spec{})
		for i := 0; i < 2; i++ {
			if err := rt.Pause(ctx, d.ID); err != nil {
				t.Fatalf("Pause #%d: %v", i+1, err)
			}
			got, err := rt.Inspect(ctx, d.ID)
			if err != nil || got.State != runtime.StatePaused {
				t.Fatalf("after Pause #%d: state %s, err %v", i+1, got.State, err)
			}
		}
		for i := 0; i < 2; i++ {
			if err := rt.Unpause(ctx, d.ID); err != nil {
				t.Fatalf("Unpause #%d: %v", i+1, err)
			}
			got, err := rt.Inspect(ctx, d.ID)
			if err != nil || got.State != runtime.StateRunning {
				t.Fatalf("after Unpause #%d: state %s, err %v", i+1, got.State, err)
			}
		}
	})

	t.Run("StopAndKill", func(t *testing.T) {
		st, ok := rt.(runtime.Stopper)
		if !ok {
			t.Fatalf("%s does not implement Stopper", rt.Name())
		}
		ctx := Context(t)
		d := h.Run(t, Name(t), Spec{})
		if err := st.Kill(ctx, d.ID, "SIGKILL"); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		Eventually(t, 20*time.Second, "killed container stops", func() bool {
			got, err := rt.Inspect(ctx, d.ID)
			return err == nil && got.State == runtime.StateStopped
		})
		// Stop of a paused container thaws it so it can end.
		e := h.Run(t, Name(t), Spec{})
		if err := rt.Pause(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.Stop(ctx, e.ID, 2*time.Second); err != nil {
			t.Fatalf("Stop(paused): %v", err)
		}
		Eventually(t, 20*time.Second, "stopped container stops", func() bool {
			got, err := rt.Inspect(ctx, e.ID)
			return err == nil && got.State == runtime.StateStopped
		})
		if err := st.Stop(ctx, e.ID, time.Second); err != nil {
			t.Errorf("Stop of a stopped container: %v", err)
		}
	})

	t.Run("Exec", func(t *testing.T) {
		ex, ok := rt.(runtime.Execer)
		if !ok {
			t.Skipf("%s runs no commands in containers (backup hooks are refused there)", rt.Name())
		}
		ctx := Context(t)
		d := h.Run(t, Name(t), Spec{})
		res, err := ex.Exec(ctx, d.ID, []string{"sh", "-c", "echo out; echo err >&2; exit 4"})
		if err != nil || res.ExitCode != 4 || !strings.Contains(string(res.Output), "out") || !strings.Contains(string(res.Output), "err") {
			t.Errorf("Exec = %d %q, %v; want exit 4 with both streams", res.ExitCode, res.Output, err)
		}
		res, err = ex.Exec(ctx, d.ID, []string{"sh", "-c", "yes firebreak | head -c 200000"})
		if err != nil || len(res.Output) != runtime.MaxExecOutput {
			t.Errorf("Exec of a long output kept %d bytes (%v), want %d", len(res.Output), err, runtime.MaxExecOutput)
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := ex.Exec(short, d.ID, []string{"sleep", "60"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Exec past its deadline = %v, want the deadline", err)
		}
		// The killed command is gone: the container's only process is init.
		Eventually(t, 10*time.Second, "the timed-out command is killed", func() bool {
			res, err := ex.Exec(ctx, d.ID, []string{"sh", "-c", "ps | grep -c '[s]leep 60'"})
			return err == nil && strings.TrimSpace(string(res.Output)) == "0"
		})
	})

	t.Run("CheckSameDetectsReplacement", func(t *testing.T) {
		ctx := Context(t)
		name := Name(t)
		d := h.Create(t, name, Spec{})
		if _, err := runtime.CheckSame(ctx, rt, d.Container); err != nil {
			t.Fatalf("CheckSame on an unchanged container: %v", err)
		}
		h.Remove(t, d.ID)
		_, err := runtime.CheckSame(ctx, rt, d.Container)
		var rep *runtime.ReplacedError
		if !errors.As(err, &rep) || rep.Now != nil {
			t.Fatalf("CheckSame after removal = %v, want ReplacedError (gone)", err)
		}
		again := h.Create(t, name, Spec{})
		_, err = runtime.CheckSame(ctx, rt, d.Container)
		if !errors.As(err, &rep) {
			t.Fatalf("CheckSame after recreation under the same name = %v, want ReplacedError", err)
		}
		if again.ID == d.ID && rep.Now == nil {
			t.Errorf("same ID recreated, but error does not carry the new container")
		}
	})
}

func commonPrefix(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[:i]
}
