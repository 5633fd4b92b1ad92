package contain

import (
	"testing"

	"firebreak/runtime"
)

// A pod's freeze takes the latest attempt of each container that runs or
// is paused, then the sandbox; a stopped one is named, not taken.
func TestPodFreezeOrder(t *testing.T) {
	c := func(id, name string, attempt uint32, st runtime.State) runtime.PodContainer {
		return runtime.PodContainer{Container: runtime.Container{ID: id, State: st}, ContainerName: name, Attempt: attempt}
	}
	p := runtime.Pod{Sandbox: runtime.Container{ID: "sb"}, Containers: []runtime.PodContainer{
		c("web0", "web", 0, runtime.StateStopped), c("web1", "web", 1, runtime.StateRunning),
		c("side", "sidecar", 0, runtime.StatePaused), c("job", "job", 0, runtime.StateStopped),
	}}
	members, skipped := PodFreezeOrder(p)
	var ids []string
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if len(ids) != 3 || ids[2] != "sb" || ids[0] == "web0" || len(skipped) != 1 || skipped[0] != "job is stopped: nothing to freeze" {
		t.Errorf("members %v, skipped %v", ids, skipped)
	}
}
