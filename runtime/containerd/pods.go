package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"firebreak/runtime"
)

// CRINamespace is the containerd namespace the CRI plugin keeps Kubernetes'
// pods and containers in.
const CRINamespace = "k8s.io"

var _ runtime.PodLister = (*Containerd)(nil)

// LastAppliedAnnotation is where `kubectl apply` leaves the object it
// applied; for a pod applied directly it holds the pod spec with its probes.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// Pods lists the node's pods through the CRI plugin's own API on the
// daemon's socket (ListPodSandbox, PodSandboxStatus, ListContainers,
// ContainerStatus, each verbose): the plugin's record of what the kubelet
// asked for, which containerd's container records do not keep in a stable
// form. Pods live in the k8s.io namespace; an adapter working elsewhere
// says so.
func (c *Containerd) Pods(ctx context.Context) ([]runtime.Pod, error) {
	if c.namespace != CRINamespace {
		return nil, fmt.Errorf("pods live in containerd namespace %s, not %s: give --namespace %s", CRINamespace, c.namespace, CRINamespace)
	}
	conn, ok := c.api.Conn().(*grpc.ClientConn)
	if !ok {
		return nil, errors.New("containerd client gives no gRPC connection for the CRI API")
	}
	rt := cri.NewRuntimeServiceClient(conn)
	sbs, err := rt.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("CRI ListPodSandbox: %w (is containerd's CRI plugin enabled?)", err)
	}
	ctrs, err := rt.ListContainers(ctx, &cri.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("CRI ListContainers: %w", err)
	}
	listed, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]runtime.Container{}
	for _, l := range listed {
		byID[l.ID] = l
	}
	var pods []runtime.Pod
	for _, sb := range sbs.Items {
		p, err := c.pod(ctx, rt, sb, byID)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue // removed while listing
		}
		for _, ct := range ctrs.Containers {
			if ct.PodSandboxId != sb.Id {
				continue
			}
			pc, err := podContainer(ctx, rt, ct, byID)
			if err != nil {
				return nil, err
			}
			if pc != nil {
				p.Containers = append(p.Containers, *pc)
			}
		}
		sort.Slice(p.Containers, func(i, j int) bool {
			a, b := p.Containers[i], p.Containers[j]
			if a.ContainerName != b.ContainerName {
				return a.ContainerName < b.ContainerName
			}
			return a.Attempt < b.Attempt
		})
		pods = append(pods, *p)
	}
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Ref() != pods[j].Ref() {
			return pods[i].Ref() < pods[j].Ref()
		}
		return pods[i].Created.Before(pods[j].Created)
	})
	return pods, nil
}

// criSandboxInfo is the part of the CRI plugin's verbose sandbox status
// Firebreak reads (the plugin marshals its own structures; names as it
// writes them).
type criSandboxInfo struct {
	Pid    int `json:"pid"`
	Config struct {
		LogDirectory string `json:"log_directory"`
		Linux        struct {
			SecurityContext struct {
				NamespaceOptions struct {
					Network int `json:"network"`
					Pid     int `json:"pid"`
					Ipc     int `json:"ipc"`
				} `json:"namespace_options"`
			} `json:"security_context"`
		} `json:"linux"`
	} `json:"config"`
	RuntimeSpec *specs.Spec `json:"runtimeSpec"`
}

// criNode is NamespaceMode NODE: the host's namespace.
const criNode = int(cri.NamespaceMode_NODE)

func (c *Containerd) pod(ctx context.Context, rt cri.RuntimeServiceClient, sb *cri.PodSandbox, byID map[string]runtime.Container) (*runtime.Pod, error) {
	st, err := rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: sb.Id, Verbose: true})
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, nil
		}
		return nil, fmt.Errorf("CRI PodSandboxStatus %s: %w", short(sb.Id), err)
	}
	p := &runtime.Pod{
		SandboxID:   sb.Id,
		Ready:       sb.State == cri.PodSandboxState_SANDBOX_READY,
		Created:     time.Unix(0, sb.CreatedAt).UTC(),
		Labels:      sb.Labels,
		Annotations: sb.Annotations,
		Raw:         []byte(st.Info["info"]),
	}
	if m := sb.Metadata; m != nil {
		p.Namespace, p.Name, p.UID, p.Attempt = m.Namespace, m.Name, m.Uid, m.Attempt
	}
	if n := st.GetStatus().GetNetwork(); n != nil {
		p.IP = n.Ip
	}
	var info criSandboxInfo
	if err := json.Unmarshal(p.Raw, &info); err != nil {
		return nil, fmt.Errorf("CRI PodSandboxStatus %s: reading the plugin's verbose info: %w", short(sb.Id), err)
	}
	ns := info.Config.Linux.SecurityContext.NamespaceOptions
	p.HostNetwork, p.HostPID, p.HostIPC = ns.Network == criNode, ns.Pid == criNode, ns.Ipc == criNode
	p.LogDir = info.Config.LogDirectory
	if path, ok := netnsOf(info.RuntimeSpec); ok && p.Ready {
		p.NetNSPath = path
		if path == "" && info.Pid > 0 {
			p.NetNSPath = fmt.Sprintf("/proc/%d/ns/net", info.Pid)
		}
	}
	p.Sandbox = byID[sb.Id]
	if p.Sandbox.ID == "" {
		p.Sandbox = runtime.Container{ID: sb.Id, Name: sb.Id, Created: p.Created, State: runtime.StateUnknown, Labels: sb.Labels}
	}
	p.Probes, p.ProbeSource = probesOf(sb.Annotations)
	return p, nil
}

// criContainerInfo is the part of the verbose container status read.
type criContainerInfo struct {
	Config struct {
		Linux struct {
			Resources struct {
				CPUQuota    int64 `json:"cpu_quota"`
				MemoryLimit int64 `json:"memory_limit_in_bytes"`
			} `json:"resources"`
			SecurityContext struct {
				Capabilities struct {
					Add  []string `json:"add_capabilities"`
					Drop []string `json:"drop_capabilities"`
				} `json:"capabilities"`
				Privileged bool `json:"privileged"`
				RunAsUser  *struct {
					Value int64 `json:"value"`
				} `json:"run_as_user"`
				RunAsUsername  string      `json:"run_as_username"`
				ReadonlyRootfs bool        `json:"readonly_rootfs"`
				NoNewPrivs     bool        `json:"no_new_privs"`
				Seccomp        *criProfile `json:"seccomp"`
				Apparmor       *criProfile `json:"apparmor"`
				SeccompPath    string      `json:"seccomp_profile_path"`
				ApparmorName   string      `json:"apparmor_profile"`
			} `json:"security_context"`
		} `json:"linux"`
	} `json:"config"`
}

type criProfile struct {
	ProfileType  int    `json:"profile_type"`
	LocalhostRef string `json:"localhost_ref"`
}

// profile words a security profile as the pod spec would: "unconfined"
// where none applies.
func profile(p *criProfile, legacy string) string {
	if p != nil {
		switch cri.SecurityProfile_ProfileType(p.ProfileType) {
		case cri.SecurityProfile_RuntimeDefault:
			return "runtime/default"
		case cri.SecurityProfile_Localhost:
			return "localhost/" + p.LocalhostRef
		}
		return "unconfined"
	}
	switch {
	case legacy == "" || legacy == "unconfined":
		return "unconfined"
	case legacy == "runtime/default" || legacy == "docker/default":
		return "runtime/default"
	}
	return legacy
}

func podContainer(ctx context.Context, rt cri.RuntimeServiceClient, ct *cri.Container, byID map[string]runtime.Container) (*runtime.PodContainer, error) {
	st, err := rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: ct.Id, Verbose: true})
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, nil
		}
		return nil, fmt.Errorf("CRI ContainerStatus %s: %w", short(ct.Id), err)
	}
	pc := &runtime.PodContainer{Container: byID[ct.Id]}
	if pc.ID == "" {
		pc.Container = runtime.Container{ID: ct.Id, Name: ct.Id, Created: time.Unix(0, ct.CreatedAt).UTC(), State: runtime.StateUnknown, Labels: ct.Labels}
	}
	if m := ct.Metadata; m != nil {
		pc.ContainerName, pc.Attempt = m.Name, m.Attempt
	}
	s := st.GetStatus()
	pc.LogPath = s.GetLogPath()
	for _, m := range s.GetMounts() {
		pc.Mounts = append(pc.Mounts, runtime.PodMount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.Readonly})
	}
	var info criContainerInfo
	if raw := st.Info["info"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return nil, fmt.Errorf("CRI ContainerStatus %s: reading the plugin's verbose info: %w", short(ct.Id), err)
		}
	}
	l := info.Config.Linux
	sc := l.SecurityContext
	pc.Security = runtime.PodSecurity{
		Privileged:     sc.Privileged,
		AddCaps:        sc.Capabilities.Add,
		DropCaps:       sc.Capabilities.Drop,
		RunAsUserName:  sc.RunAsUsername,
		NoNewPrivs:     sc.NoNewPrivs,
		ReadOnlyRootfs: sc.ReadonlyRootfs,
		Seccomp:        profile(sc.Seccomp, sc.SeccompPath),
		AppArmor:       profile(sc.Apparmor, sc.ApparmorName),
	}
	if sc.RunAsUser != nil {
		uid := sc.RunAsUser.Value
		pc.Security.RunAsUser = &uid
	}
	pc.MemoryLimit, pc.CPUQuota = l.Resources.MemoryLimit, l.Resources.CPUQuota
	return pc, nil
}

// probesOf reads a pod's probes from what the node has of its spec. The
// CRI does not pass probes (the kubelet runs them itself), so the one
// source on the node is the pod object `kubectl apply` left in its
// annotation; a pod made by a controller has none there, and its probes
// must come from the API server (docs/KUBERNETES.md).
func probesOf(annotations map[string]string) ([]runtime.Probe, string) {
	raw := annotations[LastAppliedAnnotation]
	if raw == "" {
		return nil, ""
	}
	probes, err := ProbesFromPodJSON([]byte(raw))
	if err != nil {
		return nil, ""
	}
	return probes, "annotation " + LastAppliedAnnotation
}

// ProbesFromPodJSON reads the probes of a Pod object (as `kubectl get pod
// -o json` prints it, or as kubectl apply records it).
func ProbesFromPodJSON(raw []byte) ([]runtime.Probe, error) {
	type probe struct {
		Exec             *json.RawMessage `json:"exec"`
		HTTPGet          *json.RawMessage `json:"httpGet"`
		TCPSocket        *json.RawMessage `json:"tcpSocket"`
		GRPC             *json.RawMessage `json:"grpc"`
		PeriodSeconds    int              `json:"periodSeconds"`
		FailureThreshold int              `json:"failureThreshold"`
	}
	type container struct {
		Name          string `json:"name"`
		RestartPolicy string `json:"restartPolicy"` // an init container with Always is a sidecar, probed like the others
		Liveness      *probe `json:"livenessProbe"`
		Readiness     *probe `json:"readinessProbe"`
		Startup       *probe `json:"startupProbe"`
	}
	var pod struct {
		Kind string `json:"kind"`
		Spec struct {
			Containers     []container `json:"containers"`
			InitContainers []container `json:"initContainers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &pod); err != nil {
		return nil, fmt.Errorf("reading a pod object: %w", err)
	}
	if pod.Kind != "Pod" {
		return nil, fmt.Errorf("kind %q, not a Pod", pod.Kind)
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, errors.New("a Pod without containers")
	}
	var out []runtime.Probe
	containers := pod.Spec.Containers
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == "Always" {
			containers = append(containers, c)
		}
	}
	for _, c := range containers {
		for _, k := range []struct {
			kind string
			p    *probe
		}{{"liveness", c.Liveness}, {"readiness", c.Readiness}, {"startup", c.Startup}} {
			if k.p == nil {
				continue
			}
			handler := "exec"
			switch {
			case k.p.HTTPGet != nil:
				handler = "httpGet"
			case k.p.TCPSocket != nil:
				handler = "tcpSocket"
			case k.p.GRPC != nil:
				handler = "grpc"
			}
			out = append(out, runtime.Probe{Container: c.Name, Kind: k.kind, Handler: handler, PeriodSeconds: k.p.PeriodSeconds, FailureThreshold: k.p.FailureThreshold})
		}
	}
	return out, nil
}
