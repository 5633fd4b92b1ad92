package docker_test

import (
	"testing"

	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Conformance(t, runtimetest.Docker(t))
}

// TestLinkedContainerKeepsItsName: Docker lists a container that another
// links to under the link's name too ("/b2/bpalias" before "/bp"); it is
// listed and resolved by its own name, and the link's name resolves to it.
func TestLinkedContainerKeepsItsName(t *testing.T) {
	h := runtimetest.Docker(t)
	ctx := runtimetest.Context(t)
	bp := h.Run(t, runtimetest.Name(t)+"-bp", runtimetest.Spec{})
	b2 := h.Run(t, runtimetest.Name(t)+"-b2", runtimetest.Spec{Links: []string{bp.Name + ":bpalias"}})
	list, err := h.Runtime().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed runtime.Container
	for _, c := range list {
		if c.ID == bp.ID {
			listed = c
		}
	}
	if listed.Name != bp.Name {
		t.Errorf("listed as %q, want its own name %q (other names %v)", listed.Name, bp.Name, listed.Names)
	}
	for _, ref := range []string{bp.Name, b2.Name + "/bpalias"} {
		got, err := runtime.Resolve(ctx, h.Runtime(), ref)
		if err != nil || got.ID != bp.ID || got.Name != bp.Name {
			t.Errorf("Resolve(%q) = %s %q, %v; want %s %q", ref, got.ShortID(), got.Name, err, bp.ShortID(), bp.Name)
		}
	}
}
