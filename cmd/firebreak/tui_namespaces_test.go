package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"firebreak/internal/app"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
	"firebreak/tui"
)

// TestConsoleListsSeveralContainerdNamespaces: with --namespaces the
// console opens a session per containerd namespace and lists the
// containers of each under its own engine name (one of the test's
// namespace, one of a second namespace the test made); "all" finds both;
// a namespace containerd does not hold is bad input naming the ones it
// does.
func TestConsoleListsSeveralContainerdNamespaces(t *testing.T) {
	h := runtimetest.Containerd(t)
	ctx := runtimetest.Context(t)
	first := h.Create(t, runtimetest.Name(t), runtimetest.Spec{})

	other := runtimetest.Name(t) + "-ns"
	octx := namespaces.WithNamespace(ctx, other)
	api := h.Containerd().Client()
	if err := api.NamespaceService().Create(octx, other, nil); err != nil {
		t.Fatal(err)
	}
	id := runtimetest.Name(t) + "-other"
	if _, err := api.NewContainer(octx, id, client.WithNewSpec(oci.WithProcessArgs("true"))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := api.LoadContainer(octx, id)
		if err == nil {
			_ = c.Delete(octx)
		}
		_ = api.NamespaceService().Delete(octx, other)
	})

	g := &globalOptions{Runtime: "containerd", Address: containerdAddress(), Namespace: runtimetest.ContainerdNamespace(), StateDir: t.TempDir()}
	base := app.Options{StateDir: g.StateDir, Actor: "test", OpenRuntime: app.OpenRuntime}
	for _, want := range [][]string{{"all"}, {other, runtimetest.ContainerdNamespace()}} {
		sessions, err := openEngines(ctx, g, base, &deps{}, want)
		if err != nil {
			t.Fatalf("openEngines %v: %v", want, err)
		}
		b := tui.NewSessions(base, sessions...)
		items, err := b.List(ctx)
		b.Close()
		if err != nil {
			t.Fatalf("List over %v: %v", want, err)
		}
		found := map[string]string{}
		for _, it := range items {
			found[it.ID] = it.Engine
			if it.Engine == "containerd/moby" {
				t.Errorf("--namespaces %v lists Docker's own moby namespace: %s", want, it.ID)
			}
		}
		if e := found[first.ID]; e != "containerd/"+runtimetest.ContainerdNamespace() {
			t.Errorf("--namespaces %v: the test namespace's container listed under %q", want, e)
		}
		if e := found[id]; e != "containerd/"+other {
			t.Errorf("--namespaces %v: the second namespace's container listed under %q", want, e)
		}
	}

	_, err := openEngines(ctx, g, base, &deps{}, []string{"no-such-namespace"})
	var u *usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), `"no-such-namespace"`) || !strings.Contains(err.Error(), other) {
		t.Errorf("an unknown namespace: %v (want a usage error naming it and the ones containerd holds)", err)
	}
}

func containerdAddress() string {
	if a := os.Getenv("CONTAINERD_ADDRESS"); a != "" {
		return a
	}
	return containerd.DefaultAddress
}
