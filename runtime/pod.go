package runtime

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PodPrefix starts a target that names a Kubernetes pod: pod/NAMESPACE/NAME,
// or pod/ and a unique prefix of NAMESPACE/NAME or of NAME alone.
const PodPrefix = "pod/"

// Pod is a Kubernetes pod on this node as the container runtime's CRI plugin
// records it: the sandbox that holds its namespaces and the containers of
// every attempt the kubelet made.
type Pod struct {
	SandboxID   string            `json:"sandbox_id"` // also the ID of the sandbox ("pause") container
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	UID         string            `json:"uid"`
	Attempt     uint32            `json:"attempt"`
	Ready       bool              `json:"ready"` // the sandbox runs
	Created     time.Time         `json:"created"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	IP          string            `json:"ip,omitempty"`
	NetNSPath   string            `json:"netns_path,omitempty"` // "" for a pod on the node's network
	HostNetwork bool              `json:"host_network"`
	HostPID     bool              `json:"host_pid"`
	HostIPC     bool              `json:"host_ipc"`
	LogDir      string            `json:"log_dir,omitempty"` // the kubelet's /var/log/pods/NS_NAME_UID
	// Sandbox is the pod's sandbox container as the engine lists it.
	Sandbox    Container      `json:"sandbox"`
	Containers []PodContainer `json:"containers"`
	// Probes are the pod's probes, when the node knows them (see
	// PodProbes); the CRI itself does not carry them.
	Probes      []Probe `json:"probes,omitempty"`
	ProbeSource string  `json:"probe_source,omitempty"`
	// Raw is the CRI plugin's verbose status of the sandbox, as it sent it.
	Raw []byte `json:"-"`
}

// Ref is the pod's target: pod/NAMESPACE/NAME.
func (p Pod) Ref() string { return PodPrefix + p.Namespace + "/" + p.Name }

// Members are the sandbox and every container of the pod that exists, the
// containers first.
func (p Pod) Members() []Container {
	out := make([]Container, 0, len(p.Containers)+1)
	for _, c := range p.Containers {
		out = append(out, c.Container)
	}
	return append(out, p.Sandbox)
}

// Current is each container name's latest attempt.
func (p Pod) Current() []PodContainer {
	latest := map[string]int{}
	var out []PodContainer
	for _, c := range p.Containers {
		i, ok := latest[c.ContainerName]
		if !ok {
			latest[c.ContainerName] = len(out)
			out = append(out, c)
			continue
		}
		if c.Attempt > out[i].Attempt {
			out[i] = c
		}
	}
	return out
}

// PodContainer is one container of a pod, with the settings the CRI was
// asked for.
type PodContainer struct {
	Container
	ContainerName string      `json:"container_name"` // its name in the pod spec
	Attempt       uint32      `json:"attempt"`        // the kubelet's restart count
	LogPath       string      `json:"log_path,omitempty"`
	Mounts        []PodMount  `json:"mounts,omitempty"`
	Security      PodSecurity `json:"security"`
	// Limits as the CRI was given them: 0 means none.
	MemoryLimit int64 `json:"memory_limit,omitempty"`
	CPUQuota    int64 `json:"cpu_quota,omitempty"`
}

// PodMount is a mount the kubelet asked for: a hostPath, a volume's
// directory under the kubelet's, a projected service-account token.
type PodMount struct {
	HostPath      string `json:"host_path"`
	ContainerPath string `json:"container_path"`
	ReadOnly      bool   `json:"read_only,omitempty"`
}

// PodSecurity is the security context the kubelet gave one container.
type PodSecurity struct {
	Privileged     bool     `json:"privileged,omitempty"`
	AddCaps        []string `json:"add_capabilities,omitempty"`
	DropCaps       []string `json:"drop_capabilities,omitempty"`
	RunAsUser      *int64   `json:"run_as_user,omitempty"`
	RunAsUserName  string   `json:"run_as_username,omitempty"`
	NoNewPrivs     bool     `json:"no_new_privs,omitempty"` // allowPrivilegeEscalation: false
	ReadOnlyRootfs bool     `json:"readonly_rootfs,omitempty"`
	Seccomp        string   `json:"seccomp,omitempty"`  // "unconfined", "runtime/default", "localhost/..." or ""
	AppArmor       string   `json:"apparmor,omitempty"` // likewise
}

// Probe is one of a container's probes, as the pod spec gives it.
type Probe struct {
	Container        string `json:"container"`
	Kind             string `json:"kind"` // liveness, readiness, startup
	Handler          string `json:"handler"`
	PeriodSeconds    int    `json:"period_seconds"`
	FailureThreshold int    `json:"failure_threshold"`
}

// Deadline is how long the kubelet waits on a failing probe before it acts:
// period x failure threshold, with Kubernetes' defaults (10 s, 3).
func (p Probe) Deadline() time.Duration {
	period, fail := p.PeriodSeconds, p.FailureThreshold
	if period <= 0 {
		period = 10
	}
	if fail <= 0 {
		fail = 3
	}
	return time.Duration(period*fail) * time.Second
}

// Liveness returns the pod's liveness probes.
func (p Pod) Liveness() []Probe {
	var out []Probe
	for _, pr := range p.Probes {
		if pr.Kind == "liveness" {
			out = append(out, pr)
		}
	}
	return out
}

// PodLister is implemented by engines that run Kubernetes pods (containerd
// with its CRI plugin).
type PodLister interface {
	// Pods lists the pods of the node, each with its containers.
	Pods(ctx context.Context) ([]Pod, error)
}

// IsPodRef reports whether ref names a pod.
func IsPodRef(ref string) bool { return strings.HasPrefix(ref, PodPrefix) }

// PodMatch says how a pod target fits a pod's full target (pod/NS/NAME).
type PodMatch int

const (
	PodNoMatch     PodMatch = iota
	PodPrefixMatch          // a prefix of NAMESPACE/NAME or of NAME
	PodNameExact            // NAME exactly
	PodExact                // NAMESPACE/NAME exactly
)

// MatchPod says how ref (pod/...) fits the pod whose target is full.
func MatchPod(ref, full string) PodMatch {
	q := strings.TrimPrefix(ref, PodPrefix)
	nsName := strings.TrimPrefix(full, PodPrefix)
	_, name, _ := strings.Cut(nsName, "/")
	switch {
	case q == "":
		return PodNoMatch
	case q == nsName:
		return PodExact
	case q == name:
		return PodNameExact
	case strings.HasPrefix(nsName, q) || strings.HasPrefix(name, q):
		return PodPrefixMatch
	}
	return PodNoMatch
}

// ResolvePod finds the one pod ref names among pods: pod/NAMESPACE/NAME
// exactly, else NAME exactly, else a prefix of NAMESPACE/NAME or of NAME;
// at each level the match must be one pod, or the error lists them all. A
// name made again (a new sandbox of the same pod name) is told apart by the
// sandbox's state: where exactly one of those is ready, it is the one.
func ResolvePod(pods []Pod, ref string) (Pod, error) {
	if strings.TrimPrefix(ref, PodPrefix) == "" {
		return Pod{}, fmt.Errorf("%q names no pod: give pod/NAMESPACE/NAME (`firebreak ps --pods` lists them)", ref)
	}
	for _, level := range []PodMatch{PodExact, PodNameExact, PodPrefixMatch} {
		var found []Pod
		for _, p := range pods {
			if MatchPod(ref, p.Ref()) == level {
				found = append(found, p)
			}
		}
		if len(found) > 1 && samePodName(found) {
			var ready []Pod
			for _, p := range found {
				if p.Ready {
					ready = append(ready, p)
				}
			}
			if len(ready) == 1 {
				found = ready
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		var names []string
		for _, p := range found {
			state := "ready"
			if !p.Ready {
				state = "not ready"
			}
			names = append(names, p.Ref()+" ("+ShortID(p.SandboxID)+", "+state+")")
		}
		return Pod{}, fmt.Errorf("%q matches %d pods: %s; name one as pod/NAMESPACE/NAME", ref, len(found), strings.Join(names, ", "))
	}
	return Pod{}, fmt.Errorf("%q: %w: no pod on this node is named so (`firebreak ps --pods` lists them)", ref, ErrNotFound)
}

func samePodName(ps []Pod) bool {
	for _, p := range ps[1:] {
		if p.Ref() != ps[0].Ref() {
			return false
		}
	}
	return true
}

// PodOf returns the pod a container belongs to (as a member or as its
// sandbox), if any.
func PodOf(pods []Pod, id string) (Pod, bool) {
	for _, p := range pods {
		if p.SandboxID == id {
			return p, true
		}
		for _, c := range p.Containers {
			if c.ID == id {
				return p, true
			}
		}
	}
	return Pod{}, false
}
