package runtimetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"firebreak/runtime/containerd"
)

// CRINamespace is the containerd namespace Kubernetes' CRI plugin keeps its
// pods and containers in.
const CRINamespace = "k8s.io"

// PauseImage is the test image whose default command waits for a signal,
// as a pod's sandbox ("pause") container does; scripts/testenv.sh builds it
// and imports it with the test image into the CRI namespace.
func PauseImage() string { return envOr("FIREBREAK_TEST_PAUSE_IMAGE", "firebreak.local/pause:test") }

// CRIHarness runs pods through containerd's own CRI plugin, as the kubelet
// does, so that tests see what the plugin records and writes.
type CRIHarness struct {
	RT  cri.RuntimeServiceClient
	Ctr *containerd.Containerd // the adapter, in the CRI namespace
}

// CRI connects to containerd's CRI plugin. The sandbox image the plugin is
// configured with is made to name the test pause image when the namespace
// lacks it (and that name is removed again when the test ends), since no
// registry is reachable to pull it from.
func CRI(t testing.TB) *CRIHarness {
	t.Helper()
	RequireRoot(t)
	if os.Getenv("FIREBREAK_TEST_CRI") == "0" {
		// Decided and said by scripts/testenv.sh: the daemon runs, but was
		// not started here and cannot start pods in this sandbox.
		t.Skip("FIREBREAK_TEST_CRI=0: the running containerd cannot start pods here (no CAP_SYS_RESOURCE, no restrict_oom_score_adj)")
	}
	address := envOr("CONTAINERD_ADDRESS", containerd.DefaultAddress)
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		SkipOrFail(t, "containerd CRI: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &CRIHarness{RT: cri.NewRuntimeServiceClient(conn)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := h.RT.Status(ctx, &cri.StatusRequest{Verbose: true})
	if err != nil {
		SkipOrFail(t, "containerd CRI plugin: %v", err)
	}
	var cfg struct {
		SandboxImage string `json:"sandboxImage"`
	}
	if err := json.Unmarshal([]byte(st.Info["config"]), &cfg); err != nil || cfg.SandboxImage == "" {
		t.Fatalf("CRI status gives no sandbox image (%v): %s", err, st.Info["config"])
	}
	h.Ctr, err = containerd.New(address, CRINamespace)
	if err != nil {
		SkipOrFail(t, "containerd: %v", err)
	}
	t.Cleanup(func() { h.Ctr.Close() })
	is := h.Ctr.Client().ImageService()
	nctx := namespaces.WithNamespace(ctx, CRINamespace)
	for _, name := range []string{Image(), PauseImage()} {
		if _, err := is.Get(nctx, name); err != nil {
			SkipOrFail(t, "image %s in containerd namespace %s (scripts/testenv.sh up imports it): %v", name, CRINamespace, err)
		}
	}
	if _, err := is.Get(nctx, cfg.SandboxImage); err != nil {
		pause, _ := is.Get(nctx, PauseImage())
		if _, err := is.Create(nctx, images.Image{Name: cfg.SandboxImage, Target: pause.Target}); err != nil {
			t.Fatalf("naming the test pause image %s: %v", cfg.SandboxImage, err)
		}
		t.Cleanup(func() {
			_ = is.Delete(namespaces.WithNamespace(context.Background(), CRINamespace), cfg.SandboxImage)
		})
	}
	// The plugin learns of images from containerd's events; until it knows
	// the sandbox image it would try to pull it from its registry.
	images := cri.NewImageServiceClient(conn)
	Eventually(t, 10*time.Second, "the CRI plugin knows "+cfg.SandboxImage, func() bool {
		st, err := images.ImageStatus(ctx, &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: cfg.SandboxImage}})
		return err == nil && st.Image != nil
	})
	return h
}

// Pod runs a pod on the host's network (no CNI needed) with one container,
// "main", running cmd, labelled and logging under logDir as the kubelet
// asks; the pod's namespace is firebreak-test. It returns the container's
// ID; the pod is stopped and removed when the test ends.
func (h *CRIHarness) Pod(t testing.TB, name, logDir string, cmd []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sandbox := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: name, Namespace: "firebreak-test", Uid: name},
		LogDirectory: logDir,
		Linux: &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
			NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE},
		}},
	}
	pod, err := h.RT.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: sandbox})
	if err != nil {
		SkipOrFail(t, "RunPodSandbox: %v (where the sandbox lacks CAP_SYS_RESOURCE, containerd needs restrict_oom_score_adj = true in its CRI plugin's config, as scripts/testenv.sh starts it)", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := h.RT.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
			t.Errorf("stopping test pod %s: %v", name, err)
		}
		if _, err := h.RT.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil {
			t.Errorf("removing test pod %s: %v", name, err)
		}
	})
	c, err := h.RT.CreateContainer(ctx, &cri.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId,
		Config: &cri.ContainerConfig{
			Metadata: &cri.ContainerMetadata{Name: "main"},
			// The labels the kubelet gives every container it creates.
			Labels: map[string]string{
				"io.kubernetes.pod.namespace":  sandbox.Metadata.Namespace,
				"io.kubernetes.pod.name":       name,
				"io.kubernetes.pod.uid":        sandbox.Metadata.Uid,
				"io.kubernetes.container.name": "main",
			},
			Image:   &cri.ImageSpec{Image: Image()},
			Command: cmd,
			LogPath: "main/0.log",
		},
		SandboxConfig: sandbox,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	if err := os.MkdirAll(logDir+"/main", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := h.RT.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	return c.ContainerId
}

// PodSpec describes a test pod run through the CRI plugin as the kubelet
// would run it.
type PodSpec struct {
	Namespace, Name string            // Namespace defaults to firebreak-test
	Labels          map[string]string // pod labels (on the sandbox)
	Annotations     map[string]string // pod annotations (on the sandbox)
	HostNetwork     bool              // the node's network; else CNI's (needs FIREBREAK_TEST_CRI_CNI=1)
	SharePID        bool              // one PID namespace for the pod (shareProcessNamespace); else one per container, the kubelet's default
	LogDir          string            // the pod's log directory; a temporary one when ""
	Containers      []PodContainerSpec
}

// PodContainerSpec is one container of a test pod.
type PodContainerSpec struct {
	Name       string
	Command    []string
	Mounts     []*cri.Mount
	Privileged bool
	Attempt    uint32
}

// TestPod is a running test pod.
type TestPod struct {
	SandboxID  string
	IP         string
	LogDir     string
	Containers map[string]string // container name -> ID
	Config     *cri.PodSandboxConfig
}

// RequireCNI skips (or fails, where daemons are required) a test that
// needs pods with their own network namespaces when the running
// containerd has no CNI network configured.
func RequireCNI(t testing.TB) {
	t.Helper()
	if os.Getenv("FIREBREAK_TEST_CRI_CNI") != "1" {
		SkipOrFail(t, "FIREBREAK_TEST_CRI_CNI is not 1: containerd's CRI plugin has no CNI network here (scripts/testenv.sh up configures one)")
	}
}

// RunPod runs a pod with its containers started; it is stopped and removed
// when the test ends.
func (h *CRIHarness) RunPod(t testing.TB, spec PodSpec) TestPod {
	t.Helper()
	if !spec.HostNetwork {
		RequireCNI(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if spec.Namespace == "" {
		spec.Namespace = "firebreak-test"
	}
	if spec.LogDir == "" {
		spec.LogDir = t.TempDir()
	}
	uid := spec.Name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	mode := cri.NamespaceMode_POD
	if spec.HostNetwork {
		mode = cri.NamespaceMode_NODE
	}
	pid := cri.NamespaceMode_CONTAINER
	if spec.SharePID {
		pid = cri.NamespaceMode_POD
	}
	sandbox := &cri.PodSandboxConfig{
		Metadata: &cri.PodSandboxMetadata{Name: spec.Name, Namespace: spec.Namespace, Uid: uid},

		LogDirectory: spec.LogDir,
		Labels:       spec.Labels,
		Annotations:  spec.Annotations,
		Linux: &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
			NamespaceOptions: &cri.NamespaceOption{Network: mode, Pid: pid},
		}},
	}
	if !spec.HostNetwork {
		sandbox.Hostname = spec.Name // a pod on the node's network keeps the node's
	}
	// The kubelet labels a sandbox with the pod's identity as well.
	sandbox.Labels = mergeLabels(spec.Labels, map[string]string{
		"io.kubernetes.pod.namespace": spec.Namespace,
		"io.kubernetes.pod.name":      spec.Name,
		"io.kubernetes.pod.uid":       uid,
	})
	pod, err := h.RT.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: sandbox})
	if err != nil {
		SkipOrFail(t, "RunPodSandbox %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A test may leave the pod frozen: thaw first, or the stop waits.
		for _, id := range append(h.podContainers(ctx, pod.PodSandboxId), pod.PodSandboxId) {
			_ = h.Ctr.Unpause(ctx, id)
		}
		// A test may have removed the pod itself, as the kubelet would.
		if _, err := h.RT.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil && status.Code(err) != codes.NotFound {
			t.Errorf("stopping test pod %s: %v", spec.Name, err)
		}
		if _, err := h.RT.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId}); err != nil && status.Code(err) != codes.NotFound {
			t.Errorf("removing test pod %s: %v", spec.Name, err)
		}
	})
	out := TestPod{SandboxID: pod.PodSandboxId, LogDir: spec.LogDir, Containers: map[string]string{}, Config: sandbox}
	for _, cs := range spec.Containers {
		out.Containers[cs.Name] = h.StartContainer(t, out, cs)
	}
	st, err := h.RT.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: pod.PodSandboxId})
	if err != nil {
		t.Fatalf("PodSandboxStatus %s: %v", spec.Name, err)
	}
	out.IP = st.GetStatus().GetNetwork().GetIp()
	if !spec.HostNetwork && out.IP == "" {
		t.Fatalf("pod %s has no address from CNI", spec.Name)
	}
	return out
}

// StartContainer creates and starts one container in a test pod, labelled
// and logging as the kubelet does, and returns its ID.
func (h *CRIHarness) StartContainer(t testing.TB, pod TestPod, cs PodContainerSpec) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	md := pod.Config.Metadata
	logPath := fmt.Sprintf("%s/%d.log", cs.Name, cs.Attempt)
	if err := os.MkdirAll(pod.LogDir+"/"+cs.Name, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := &cri.ContainerConfig{
		Metadata: &cri.ContainerMetadata{Name: cs.Name, Attempt: cs.Attempt},
		Labels: map[string]string{
			"io.kubernetes.pod.namespace":  md.Namespace,
			"io.kubernetes.pod.name":       md.Name,
			"io.kubernetes.pod.uid":        md.Uid,
			"io.kubernetes.container.name": cs.Name,
		},
		Annotations: map[string]string{"io.kubernetes.container.restartCount": strconv.Itoa(int(cs.Attempt))},
		Image:       &cri.ImageSpec{Image: Image()},
		Command:     cs.Command,
		LogPath:     logPath,
		Mounts:      cs.Mounts,
		Linux: &cri.LinuxContainerConfig{SecurityContext: &cri.LinuxContainerSecurityContext{
			Privileged:       cs.Privileged,
			NamespaceOptions: pod.Config.Linux.SecurityContext.NamespaceOptions,
		}},
	}
	c, err := h.RT.CreateContainer(ctx, &cri.CreateContainerRequest{PodSandboxId: pod.SandboxID, Config: cfg, SandboxConfig: pod.Config})
	if err != nil {
		t.Fatalf("CreateContainer %s/%s: %v", md.Name, cs.Name, err)
	}
	if _, err := h.RT.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatalf("StartContainer %s/%s: %v", md.Name, cs.Name, err)
	}
	return c.ContainerId
}

func (h *CRIHarness) podContainers(ctx context.Context, sandboxID string) []string {
	list, err := h.RT.ListContainers(ctx, &cri.ListContainersRequest{Filter: &cri.ContainerFilter{PodSandboxId: sandboxID}})
	if err != nil {
		return nil
	}
	var ids []string
	for _, c := range list.Containers {
		ids = append(ids, c.Id)
	}
	return ids
}

func mergeLabels(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
