package drill

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"
)

// TestCleanupLeavesADrillThatRunsUnderAnotherStateDir: a drill's objects
// carry its process; a cleanup with another state directory (which sees
// no drill.json of it) leaves them while that process runs, and removes
// them once it has ended.
func TestCleanupLeavesADrillThatRunsUnderAnotherStateDir(t *testing.T) {
	e := newLiveEnv(t)
	ctx := context.Background()
	owner := exec.Command("sleep", "60")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	defer owner.Process.Kill()
	start, err := procStart(owner.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	id := NewDrillID()
	name := NamePrefix + id + "-net"
	labels := map[string]string{LabelDrill: id, LabelRole: "net", LabelOwner: procRef{PID: owner.Process.Pid, Start: start}.label()}
	if _, err := e.api.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Internal: true, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	defer e.api.NetworkRemove(ctx, name)

	rep, err := Cleanup(ctx, e.s, CleanupOptions{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rep.Networks, name) || !strings.Contains(strings.Join(rep.Skipped, "\n"), id) {
		t.Fatalf("cleanup while the drill's process runs: removed %v, skipped %v", rep.Networks, rep.Skipped)
	}
	if _, err := e.api.NetworkInspect(ctx, name, network.InspectOptions{}); err != nil {
		t.Fatalf("the running drill's network is gone: %v", err)
	}

	owner.Process.Kill()
	owner.Wait()
	rep, err = Cleanup(ctx, e.s, CleanupOptions{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Networks, name) {
		t.Fatalf("cleanup after the drill's process ended: removed %v, skipped %v", rep.Networks, rep.Skipped)
	}
}
