package containerd_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
)

// A pod run through the real CRI plugin with a CNI network is listed with
// its sandbox, both containers, its address and namespace, the mounts and
// security context the kubelet asked for, and the liveness probe that
// `kubectl apply` left in its annotation.
func TestPodsThroughCRI(t *testing.T) {
	h := runtimetest.CRI(t)
	applied, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "fbt-pods-web", "namespace": "firebreak-test"},
		"spec": map[string]any{"containers": []any{
			map[string]any{"name": "app", "livenessProbe": map[string]any{"httpGet": map[string]any{"path": "/", "port": 80}, "periodSeconds": 5, "failureThreshold": 2}},
			map[string]any{"name": "sidecar"},
		}},
	})
	sleep := []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"}
	tp := h.RunPod(t, runtimetest.PodSpec{
		Name:        "fbt-pods-web",
		Labels:      map[string]string{"app": "fbt-web"},
		Annotations: map[string]string{containerd.LastAppliedAnnotation: string(applied)},
		Containers: []runtimetest.PodContainerSpec{
			{Name: "app", Command: sleep, Mounts: []*cri.Mount{{HostPath: "/var/log", ContainerPath: "/host/log", Readonly: true}}},
			{Name: "sidecar", Command: sleep},
		},
	})
	pods, err := h.Ctr.Pods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := runtime.ResolvePod(pods, "pod/firebreak-test/fbt-pods-web")
	if err != nil {
		t.Fatal(err)
	}
	if p.SandboxID != tp.SandboxID || p.IP != tp.IP || !p.Ready || p.HostNetwork {
		t.Errorf("pod = sandbox %s ip %s ready %v host %v; want %s %s true false", p.SandboxID, p.IP, p.Ready, p.HostNetwork, tp.SandboxID, tp.IP)
	}
	if p.Labels["app"] != "fbt-web" || p.LogDir != tp.LogDir {
		t.Errorf("labels %v log dir %q (want %q)", p.Labels, p.LogDir, tp.LogDir)
	}
	if _, err := os.Stat(p.NetNSPath); err != nil || !strings.Contains(p.NetNSPath, "netns") {
		t.Errorf("netns path %q: %v", p.NetNSPath, err)
	}
	if p.Sandbox.ID != tp.SandboxID || p.Sandbox.State != runtime.StateRunning {
		t.Errorf("sandbox container = %+v", p.Sandbox)
	}
	if len(p.Containers) != 2 {
		t.Fatalf("containers = %+v", p.Containers)
	}
	app := p.Containers[0]
	if app.ContainerName != "app" || app.ID != tp.Containers["app"] || app.State != runtime.StateRunning || app.Name != "firebreak-test/fbt-pods-web/app" {
		t.Errorf("app = %+v", app)
	}
	var logMount bool
	for _, m := range app.Mounts {
		logMount = logMount || (m.HostPath == "/var/log" && m.ContainerPath == "/host/log" && m.ReadOnly)
	}
	if !logMount {
		t.Errorf("app mounts = %+v, want /var/log at /host/log read-only", app.Mounts)
	}
	if app.Security.Seccomp != "unconfined" || app.Security.Privileged {
		t.Errorf("app security = %+v", app.Security)
	}
	if !strings.HasSuffix(app.LogPath, "app/0.log") {
		t.Errorf("app log path %q", app.LogPath)
	}
	live := p.Liveness()
	if len(live) != 1 || live[0].Container != "app" || live[0].Handler != "httpGet" || live[0].Deadline() != 10*time.Second {
		t.Errorf("liveness = %+v (source %q)", live, p.ProbeSource)
	}
	if got, ok := runtime.PodOf(pods, tp.Containers["sidecar"]); !ok || got.SandboxID != tp.SandboxID {
		t.Errorf("PodOf(sidecar) = %v %v", got.SandboxID, ok)
	}
	if _, err := runtime.ResolvePod(pods, "pod/fbt-pods-w"); err != nil {
		t.Errorf("a unique prefix of the name: %v", err)
	}
}
