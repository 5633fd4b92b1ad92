package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"firebreak/internal/netns"
	"firebreak/runtime"
	"firebreak/runtime/containerd"
	"firebreak/runtime/runtimetest"
)

// These tests run pods through containerd's real CRI plugin, as the kubelet
// does, on the CNI bridge scripts/testenv.sh configures (a private test
// range, traffic only between the tests' own pods).

// serve is a pod container that answers TCP on :8080 (busybox httpd).
var serve = []string{"/bin/sh", "-c", "mkdir -p /www && echo ok >/www/index.html && exec httpd -f -p 8080 -h /www"}

// idle is a pod container that only waits.
var idle = []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"}

// reaches reports whether a TCP connection to addr:8080 opens from inside
// the network namespace at nsPath (the socket is made in it; nothing runs
// in the pod).
func reaches(t *testing.T, nsPath, addr string) bool {
	t.Helper()
	ok := false
	err := netns.Do(nsPath, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "8080"), 400*time.Millisecond)
		if err == nil {
			ok = true
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func podNetNS(t *testing.T, h *runtimetest.CRIHarness, sandboxID string) string {
	t.Helper()
	d, err := h.Ctr.Inspect(context.Background(), sandboxID)
	if err != nil || d.NetNSPath == "" {
		t.Fatalf("sandbox %s: netns %q: %v", sandboxID, d.NetNSPath, err)
	}
	return d.NetNSPath
}

func stateOf(t *testing.T, h *runtimetest.CRIHarness, id string) runtime.State {
	t.Helper()
	d, err := h.Ctr.Inspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d.State
}

func podFlags(t *testing.T) []string {
	dir := t.TempDir()
	return []string{"--runtime=containerd", "--namespace=k8s.io", "--state-dir=" + filepath.Join(dir, "state"),
		"--store=file://" + filepath.Join(dir, "evidence"), "--key-dir=" + filepath.Join(dir, "keys"), "--spool-dir=" + filepath.Join(dir, "spool")}
}

// globalPodFlags are podFlags without the store flags, for commands that
// take none.
func globalPodFlags(flags []string) []string { return flags[:3] }

// A two-container pod and a peer pod: `contain pod/...` cuts the pod's
// namespace both ways (the peer unreachable from the pod, the pod from the
// peer), freezes both containers and the sandbox, and is one entry in
// status; `release pod/...` restores reachability and thaws all three. A
// container of the pod named alone is refused with the pod target named.
func TestCLIPodContainRelease(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	victim := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-victim", Labels: map[string]string{"app": "fbt-victim"},
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}, {Name: "sidecar", Command: idle}}})
	peer := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-peer",
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}}})
	vns, pns := podNetNS(t, h, victim.SandboxID), podNetNS(t, h, peer.SandboxID)
	runtimetest.Eventually(t, 10*time.Second, "the pods reach each other", func() bool {
		return reaches(t, vns, peer.IP) && reaches(t, pns, victim.IP)
	})
	flags := podFlags(t)
	gflags := globalPodFlags(flags)

	r := cli(t, gflags, "ps", "--pods", "--selector", "app=fbt-victim")
	if r.code != exitOK || !strings.Contains(r.stdout, "pod/firebreak-test/fbt-cli-victim") || !strings.Contains(r.stdout, "sidecar:running") || strings.Contains(r.stdout, "fbt-cli-peer") {
		t.Errorf("ps --pods --selector: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = cli(t, flags, "contain", "firebreak-test/fbt-cli-victim/web")
	if r.code != exitRefused || !strings.Contains(r.stdout+r.stderr, "contain pod/firebreak-test/fbt-cli-victim") {
		t.Errorf("contain of one container of a pod: exit %d, want %d naming the pod target\n%s%s", r.code, exitRefused, r.stdout, r.stderr)
	}
	if stateOf(t, h, victim.Containers["web"]) != runtime.StateRunning || !reaches(t, vns, peer.IP) {
		t.Fatal("the refused contain changed something")
	}

	r = cli(t, flags, "contain", "--case", "IR-POD-1", "--probe", peer.IP+":8080", "pod/fbt-cli-vic")
	if r.code != exitOK {
		t.Fatalf("contain pod: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("contain:\n%s", r.stdout)
	for _, want := range []string{"contain pod/firebreak-test/fbt-cli-victim", "1. cut:", "cutting its 2 containers", "2. freeze: sidecar, web and the sandbox", "ISOLATED", "no probe known"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("contain pod output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "capture:") {
		t.Errorf("a pod without a liveness probe got the capture step:\n%s", r.stdout)
	}
	if reaches(t, vns, peer.IP) {
		t.Error("the peer is reachable from the contained pod")
	}
	if reaches(t, pns, victim.IP) {
		t.Error("the contained pod is reachable from the peer")
	}
	for _, id := range []string{victim.Containers["web"], victim.Containers["sidecar"], victim.SandboxID} {
		if st := stateOf(t, h, id); st != runtime.StatePaused {
			t.Errorf("%s is %s after contain, want paused", runtime.ShortID(id), st)
		}
	}
	if stateOf(t, h, peer.Containers["web"]) != runtime.StateRunning {
		t.Error("the peer pod was frozen too")
	}

	r = cli(t, gflags, "status")
	t.Logf("status:\n%s", r.stdout)
	if r.code != exitOK || strings.Count(r.stdout, "pod/firebreak-test/fbt-cli-victim (sandbox") != 1 || !strings.Contains(r.stdout, "3 members held") || !strings.Contains(r.stdout, "case IR-POD-1") {
		t.Errorf("status: exit %d, want one entry for the pod with 3 members\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, gflags, "ps", "--pods", "-o", "json")
	var rows []podRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("ps --pods JSON: %v\n%s", err, r.stdout)
	}
	for _, row := range rows {
		if row.SandboxID == victim.SandboxID && (row.Held != 3 || row.Phase != "contained" || row.Restart != "") {
			t.Errorf("ps --pods row = held %d phase %q restart %q", row.Held, row.Phase, row.Restart)
		}
	}

	// The kubelet, its liveness probe failing, starts a new attempt of a
	// container beside the frozen one: status and ps --pods say so.
	h.StartContainer(t, victim, runtimetest.PodContainerSpec{Name: "web", Command: idle, Attempt: 1})
	r = cli(t, gflags, "status", "pod/fbt-cli-victim")
	if !strings.Contains(r.stdout, "RESTARTED: web restarted by the kubelet: attempt 1") {
		t.Errorf("status after a restart does not report it:\n%s%s", r.stdout, r.stderr)
	}
	r = cli(t, gflags, "ps", "--pods")
	if !strings.Contains(r.stdout, "RESTARTED") {
		t.Errorf("ps --pods after a restart does not report it:\n%s", r.stdout)
	}

	r = cli(t, gflags, "release", "pod/firebreak-test/fbt-cli-victim")
	if r.code != exitOK {
		t.Fatalf("release pod: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, id := range []string{victim.Containers["web"], victim.Containers["sidecar"], victim.SandboxID} {
		if st := stateOf(t, h, id); st != runtime.StateRunning {
			t.Errorf("%s is %s after release, want running", runtime.ShortID(id), st)
		}
	}
	if !reaches(t, vns, peer.IP) || !reaches(t, pns, victim.IP) {
		t.Error("reachability not restored by release")
	}
	r = cli(t, gflags, "status", "-o", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("status after release = %s", r.stdout)
	}
}

// A pod with a liveness probe (read from the object kubectl apply left in
// its annotation) is warned about with the kubelet's deadline and captured
// between the cut and the freeze, into a case that verifies.
func TestCLIPodLivenessCapturesFirst(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	applied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "fbt-cli-live", "namespace": "firebreak-test"},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "web",
			"livenessProbe": map[string]any{"tcpSocket": map[string]any{"port": 8080}, "periodSeconds": 10, "failureThreshold": 3}}}}})
	pod := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-live", Annotations: map[string]string{containerd.LastAppliedAnnotation: string(applied)},
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}}})
	flags := podFlags(t)

	r := cli(t, flags, "contain", "--case", "IR-POD-LIVE", "pod/firebreak-test/fbt-cli-live")
	if r.code != exitOK {
		t.Fatalf("contain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	t.Logf("contain:\n%s", out)
	cut, capture, freeze := strings.Index(out, "1. cut:"), strings.Index(out, "2. capture:"), strings.Index(out, "3. freeze:")
	if cut < 0 || capture < cut || freeze < capture {
		t.Errorf("plan is not cut, capture, freeze:\n%s", out)
	}
	for _, want := range []string{"WARNING: liveness probes on web (tcpSocket, restart after 30s)", "captured before the freeze: case IR-POD-LIVE"} {
		if !strings.Contains(out, want) {
			t.Errorf("contain output lacks %q:\n%s", want, out)
		}
	}
	if st := stateOf(t, h, pod.Containers["web"]); st != runtime.StatePaused {
		t.Errorf("web is %s, want paused", st)
	}
	r = cli(t, append(globalPodFlags(flags), flags[3:5]...), "evidence", "verify", "IR-POD-LIVE")
	if r.code != exitOK || !strings.Contains(r.stdout, "OK") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, globalPodFlags(flags), "release", "pod/firebreak-test/fbt-cli-live"); r.code != exitOK {
		t.Errorf("release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// `collect pod/...` captures every container's bundle, the sandbox's (the
// pod's network state, once), the pod's CRI record and its log directory
// with rotated files, into one case that verifies.
func TestCLIPodCollect(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	logs := t.TempDir()
	pod := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-collect", LogDir: logs,
		Containers: []runtimetest.PodContainerSpec{
			{Name: "web", Command: []string{"/bin/sh", "-c", "echo web-says-hello; exec httpd -f -p 8080 -h /"}},
			{Name: "sidecar", Command: []string{"/bin/sh", "-c", "echo sidecar-says-hello; trap 'exit 0' TERM; while :; do sleep 1; done"}},
		}})
	// A rotated log, as the kubelet leaves it beside the current one.
	if err := os.WriteFile(filepath.Join(logs, "web", "0.log.20261128-101010"), []byte("2026-11-28T10:10:10.000000000Z stdout F rotated-line\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	runtimetest.Eventually(t, 10*time.Second, "both containers logged", func() bool {
		a, _ := os.ReadFile(filepath.Join(logs, "web", "0.log"))
		b, _ := os.ReadFile(filepath.Join(logs, "sidecar", "0.log"))
		return strings.Contains(string(a), "web-says-hello") && strings.Contains(string(b), "sidecar-says-hello")
	})
	flags := podFlags(t)
	r := cli(t, flags, "collect", "--case", "IR-POD-COL", "-o", "json", "pod/firebreak-test/fbt-cli-collect")
	if r.code != exitOK {
		t.Fatalf("collect pod: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var line struct {
		Ref    string `json:"ref"`
		Result struct {
			Prefix  string `json:"prefix"`
			Members []struct {
				Container runtime.Container `json:"container"`
				Prefix    string            `json:"prefix"`
				Artifacts []struct {
					Key string `json:"key"`
				} `json:"artifacts"`
			} `json:"members"`
			Artifacts []struct {
				Key string `json:"key"`
			} `json:"artifacts"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &line); err != nil {
		t.Fatalf("collect JSON: %v\n%s", err, r.stdout)
	}
	members := map[string]map[string]bool{}
	for _, m := range line.Result.Members {
		keys := map[string]bool{}
		for _, a := range m.Artifacts {
			keys[strings.TrimPrefix(a.Key, m.Prefix)] = true
		}
		members[m.Container.ID] = keys
	}
	for _, name := range []string{"web", "sidecar"} {
		keys := members[pod.Containers[name]]
		if !keys["inspect.json"] || !keys["processes.json"] || !keys["fsdiff/changes.json"] || keys["network.json"] {
			t.Errorf("%s bundle = %v: want inspect, processes, fsdiff and no network (the sandbox has it)", name, keys)
		}
	}
	if sb := members[pod.SandboxID]; !sb["network.json"] || !sb["inspect.json"] {
		t.Errorf("sandbox bundle = %v, want network.json and inspect.json", sb)
	}
	podKeys := map[string]bool{}
	for _, a := range line.Result.Artifacts {
		podKeys[strings.TrimPrefix(a.Key, line.Result.Prefix)] = true
	}
	for _, want := range []string{"pod.json", "logs/web/0.log", "logs/web/0.log.20261128-101010", "logs/sidecar/0.log"} {
		if !podKeys[want] {
			t.Errorf("pod artifacts %v lack %s", podKeys, want)
		}
	}
	store := strings.TrimPrefix(flags[3], "--store=file://")
	got, err := os.ReadFile(filepath.Join(store, line.Result.Prefix, "logs/web/0.log"))
	if err != nil || !strings.Contains(string(got), "web-says-hello") {
		t.Errorf("the web log in the store = %q, %v", got, err)
	}
	r = cli(t, append(globalPodFlags(flags), flags[3:5]...), "evidence", "verify", "IR-POD-COL")
	if r.code != exitOK || !strings.Contains(r.stdout, "OK") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Triage of a real pod reads the kubelet's settings back from the CRI
// plugin: a hostPath mount of /var/log and an automounted service-account
// token (the projected volume the kubelet mounts at the token path) are
// flagged, named with the pod and the container.
func TestCLIPodTriage(t *testing.T) {
	h := runtimetest.CRI(t)
	token := filepath.Join(t.TempDir(), "var/lib/kubelet/pods/fbt-uid/volumes/kubernetes.io~projected/kube-api-access-fbt9z")
	if err := os.MkdirAll(token, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(token, "token"), []byte("not-a-real-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	// One PID namespace for the pod (shareProcessNamespace): the other
	// members' processes are no sign of an escape.
	h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-triage", HostNetwork: !cniReady(), SharePID: true,
		Containers: []runtimetest.PodContainerSpec{{Name: "agent", Command: idle, Mounts: []*cri.Mount{
			{HostPath: "/var/log", ContainerPath: "/host/var/log", Readonly: true},
			{HostPath: token, ContainerPath: "/var/run/secrets/kubernetes.io/serviceaccount", Readonly: true},
		}}}})
	r := cli(t, []string{"--runtime=containerd", "--namespace=k8s.io"}, "triage", "-o", "json", "pod/firebreak-test/fbt-cli-triage")
	if r.code != exitOK {
		t.Fatalf("triage: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var as []struct {
		Container runtime.Container `json:"container"`
		Findings  []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
			Evidence string `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &as); err != nil || len(as) != 1 {
		t.Fatalf("triage JSON (%v):\n%s", err, r.stdout)
	}
	if as[0].Container.Name != "pod/firebreak-test/fbt-cli-triage" {
		t.Errorf("assessment names %q, want the pod", as[0].Container.Name)
	}
	got := map[string]string{}
	for _, f := range as[0].Findings {
		got[f.ID] = f.Evidence
	}
	for id := range got {
		if strings.HasPrefix(id, "live-") {
			t.Errorf("a quiet pod has live finding %s: %s", id, got[id])
		}
	}
	for id, want := range map[string]string{
		"pod-hostpath-var-log": "pod/firebreak-test/fbt-cli-triage: container agent: hostPath /var/log mounted at /host/var/log, read-only",
		"pod-sa-token":         "pod/firebreak-test/fbt-cli-triage: container agent: token automounted",
	} {
		if !strings.HasPrefix(got[id], want) {
			t.Errorf("finding %s = %q, want it to start %q (all: %v)", id, got[id], want, got)
		}
	}
	r = cli(t, []string{"--runtime=containerd", "--namespace=k8s.io"}, "triage", "--pods")
	if r.code != exitOK || !strings.Contains(r.stdout, "pod/firebreak-test/fbt-cli-triage") || !strings.Contains(r.stdout, "pod-sa-token") {
		t.Errorf("triage --pods: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func cniReady() bool { return os.Getenv("FIREBREAK_TEST_CRI_CNI") == "1" }

// A playbook runs on a pod as on a container: escape-suspected on a pod
// with a liveness probe cuts it, captures it before the freeze (the
// contain.pause action's capture_first), freezes every member, captures
// again and verifies the case; the release playbook lets it all go.
func TestCLIPodPlaybook(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	applied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "fbt-cli-run", "namespace": "firebreak-test"},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "web",
			"livenessProbe": map[string]any{"httpGet": map[string]any{"port": 8080, "path": "/"}, "periodSeconds": 5}}}}})
	pod := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-run", Annotations: map[string]string{containerd.LastAppliedAnnotation: string(applied)},
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}, {Name: "sidecar", Command: idle}}})
	flags := podFlags(t)
	r := cli(t, flags, "run", "escape-suspected", "--target", "pod/firebreak-test/fbt-cli-run", "--case", "IR-POD-RUN", "--yes", "-o", "json")
	if r.code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var freeze map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["step"] == "freeze" && ev["outputs"] != nil {
			freeze, _ = ev["outputs"].(map[string]any)
		}
	}
	if freeze["captured_first"] != true || freeze["liveness_deadline_s"] != float64(15) {
		t.Errorf("freeze outputs = %v, want captured_first and a 15 s deadline\n%s", freeze, r.stdout)
	}
	for _, id := range []string{pod.Containers["web"], pod.Containers["sidecar"], pod.SandboxID} {
		if st := stateOf(t, h, id); st != runtime.StatePaused {
			t.Errorf("%s is %s after the run, want paused", runtime.ShortID(id), st)
		}
	}
	r = cli(t, globalPodFlags(flags), "status")
	if !strings.Contains(r.stdout, "pod/firebreak-test/fbt-cli-run") || !strings.Contains(r.stdout, "3 members held") {
		t.Errorf("status after the run:\n%s%s", r.stdout, r.stderr)
	}
	r = cli(t, append(globalPodFlags(flags), flags[3]), "evidence", "ls", "IR-POD-RUN")
	if r.code != exitOK || strings.Count(r.stdout, "pod.json") < 2 {
		t.Errorf("the case holds fewer than two pod captures (before the freeze, then the capture step):\n%s%s", r.stdout, r.stderr)
	}
	r = cli(t, flags, "run", "release", "--target", "pod/fbt-cli-run", "--case", "IR-POD-REL", "--yes")
	if r.code != exitOK {
		t.Fatalf("run release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, id := range []string{pod.Containers["web"], pod.Containers["sidecar"], pod.SandboxID} {
		if st := stateOf(t, h, id); st != runtime.StateRunning {
			t.Errorf("%s is %s after release, want running", runtime.ShortID(id), st)
		}
	}
}

// Release finds a held pod by its records, and only that pod: with two
// pods contained, one of them removed by the kubelet, releasing the removed
// one by its full name leaves the other (whose name it is a prefix of) cut
// and frozen. Releasing a pod's sandbox by ID releases the whole pod.
func TestCLIPodReleaseFindsTheHeldPod(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	gone := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-rel", Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: idle}}})
	other := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-rel-2", Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: idle}}})
	flags := podFlags(t)
	gflags := globalPodFlags(flags)
	for _, ref := range []string{"pod/firebreak-test/fbt-rel", "pod/firebreak-test/fbt-rel-2"} {
		if r := cli(t, flags, "contain", "--verify=false", ref); r.code != exitOK {
			t.Fatalf("contain %s: exit %d\n%s%s", ref, r.code, r.stdout, r.stderr)
		}
	}
	ctx := context.Background()
	for _, id := range append([]string{gone.Containers["web"]}, gone.SandboxID) {
		_ = h.Ctr.Unpause(ctx, id)
	}
	if _, err := h.RT.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: gone.SandboxID}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.RT.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: gone.SandboxID}); err != nil {
		t.Fatal(err)
	}
	r := cli(t, gflags, "release", "pod/firebreak-test/fbt-rel")
	if r.code != exitOK {
		t.Fatalf("release of the removed pod: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "fbt-rel-2") {
		t.Errorf("releasing fbt-rel touched fbt-rel-2:\n%s", r.stdout)
	}
	for _, id := range []string{other.Containers["web"], other.SandboxID} {
		if st := stateOf(t, h, id); st != runtime.StatePaused {
			t.Errorf("%s of fbt-rel-2 is %s, want still paused", runtime.ShortID(id), st)
		}
	}
	r = cli(t, gflags, "status", "pod/firebreak-test/fbt-rel-2")
	if !strings.Contains(r.stdout, "2 members held") || strings.Contains(r.stdout, "NOT cut") {
		t.Errorf("status of the other pod:\n%s%s", r.stdout, r.stderr)
	}
	// The sandbox by ID stands for the whole pod.
	if r := cli(t, gflags, "release", other.SandboxID); r.code != exitOK {
		t.Fatalf("release of the sandbox: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, id := range []string{other.Containers["web"], other.SandboxID} {
		if st := stateOf(t, h, id); st != runtime.StateRunning {
			t.Errorf("%s is %s after releasing the sandbox, want running", runtime.ShortID(id), st)
		}
	}
	if r := cli(t, gflags, "status", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("status after both releases: %s", r.stdout)
	}
}

// With a liveness probe the capture comes before the freeze, so a store
// that cannot take it stops the containment before the cut; a dry run plans
// the capture and writes nothing.
func TestCLIPodCaptureFirstChecksTheStoreFirst(t *testing.T) {
	h := runtimetest.CRI(t)
	runtimetest.RequireCNI(t)
	applied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "fbt-cli-store", "namespace": "firebreak-test"},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "livenessProbe": map[string]any{"tcpSocket": map[string]any{"port": 8080}}}}}})
	pod := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-store", Annotations: map[string]string{containerd.LastAppliedAnnotation: string(applied)},
		Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}}})
	peer := h.RunPod(t, runtimetest.PodSpec{Name: "fbt-cli-store-peer", Containers: []runtimetest.PodContainerSpec{{Name: "web", Command: serve}}})
	pns := podNetNS(t, h, peer.SandboxID)
	runtimetest.Eventually(t, 10*time.Second, "the pod answers", func() bool { return reaches(t, pns, pod.IP) })
	flags := podFlags(t)
	bad := append(globalPodFlags(flags), "--store=s3://nobucket/x?endpoint=127.0.0.1:1", "--key-dir="+t.TempDir(), "--spool-dir="+t.TempDir())
	r := cli(t, bad, "contain", "--case", "IR-BAD", "pod/firebreak-test/fbt-cli-store")
	if r.code == exitOK || !strings.Contains(r.stdout+r.stderr, "Nothing was changed") || !strings.Contains(r.stdout+r.stderr, "--capture-first=false") {
		t.Errorf("contain with a dead store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !reaches(t, pns, pod.IP) || stateOf(t, h, pod.Containers["web"]) != runtime.StateRunning {
		t.Fatal("the pod was cut or frozen although its capture could not be stored")
	}
	r = cli(t, flags, "contain", "--dry-run", "--case", "IR-DRY", "pod/firebreak-test/fbt-cli-store")
	if r.code != exitOK || !strings.Contains(r.stdout, "2. capture:") || strings.Contains(r.stdout, "captured before the freeze") {
		t.Errorf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := cli(t, append(globalPodFlags(flags), flags[3]), "evidence", "ls", "IR-DRY"); strings.Contains(r.stdout, "pod.json") {
		t.Errorf("the dry run stored evidence:\n%s", r.stdout)
	}
	if !reaches(t, pns, pod.IP) || stateOf(t, h, pod.Containers["web"]) != runtime.StateRunning {
		t.Error("the dry run changed the pod")
	}
}
