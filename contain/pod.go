package contain

import (
	"fmt"

	"firebreak/runtime"
)

// A pod is held as one (see PodRef): the orders below are the one place
// that says which members an act on a pod takes, and in which order; the
// case session and the playbook actions each act on the members through
// their own locks.

// PodFreezeOrder is what freezing a pod freezes: each container that runs
// (or is paused already), then the sandbox last. The containers left out
// are named, with their state.
func PodFreezeOrder(p runtime.Pod) (members []runtime.Container, skipped []string) {
	for _, c := range p.Current() {
		if c.State != runtime.StateRunning && c.State != runtime.StatePaused {
			skipped = append(skipped, fmt.Sprintf("%s is %s: nothing to freeze", c.ContainerName, c.State))
			continue
		}
		members = append(members, c.Container)
	}
	return append(members, p.Sandbox), skipped
}

// PodHeld is what releasing a pod releases: the records held for the pod
// whose sandbox is sandboxID, its containers first and the sandbox (its
// freeze and the drop rules every member shares) last.
func (c *Containment) PodHeld(sandboxID string) ([]*Record, error) {
	recs, err := c.Held()
	if err != nil {
		return nil, err
	}
	var out []*Record
	var sandbox *Record
	for _, r := range recs {
		switch {
		case r.Pod == nil || r.Pod.SandboxID != sandboxID:
		case r.Container.ID == sandboxID:
			sandbox = r
		default:
			out = append(out, r)
		}
	}
	if sandbox != nil {
		out = append(out, sandbox)
	}
	return out, nil
}
