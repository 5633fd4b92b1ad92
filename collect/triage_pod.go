package collect

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"firebreak/runtime"
)

// The kubelet's own mounts: a pod's volumes live under its directory in the
// kubelet's (emptyDir, configMap, secret, projected), and the runtime adds
// the sandbox's hostname, hosts and resolv.conf and /dev/shm. A hostPath
// volume is mounted from anywhere else.
const kubeletPods = "/var/lib/kubelet/pods/"

// saTokenPath is where the kubelet mounts a pod's service-account token.
const saTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// kubeletManaged reports whether a mount's host path is one the kubelet or
// the runtime made for the pod itself (not a hostPath volume).
func kubeletManaged(p runtime.Pod, hostPath string) bool {
	if strings.HasPrefix(hostPath, kubeletPods) {
		return true
	}
	// The CRI plugin's per-sandbox files (hostname, resolv.conf, hosts,
	// shm) live in its state or root directory under the sandbox's ID.
	return p.SandboxID != "" && strings.Contains(hostPath, "/sandboxes/"+p.SandboxID+"/")
}

// PodFindings triages a pod's settings as the kubelet gave them to the
// runtime: the node's namespaces, each container's security context, its
// hostPath mounts and service-account token, and missing limits. Every
// finding names the pod and, where it is one container's, the container.
func PodFindings(p runtime.Pod) []Finding {
	var out []Finding
	add := func(id string, sev Severity, title, evidence, why, remedy string) {
		out = append(out, Finding{ID: id, Kind: KindConfig, Severity: sev, Title: title, Evidence: p.Ref() + ": " + evidence, Why: why, Remedy: remedy})
	}
	if p.HostNetwork {
		add("pod-host-network", High, "Pod on the node's network", "hostNetwork: true",
			"it sees and binds every interface of the node, reaches services bound to localhost (the kubelet's, the runtime's), and cannot be cut without cutting the node",
			"remove hostNetwork; expose the port through a Service")
	}
	if p.HostPID {
		add("pod-host-pid", High, "Pod in the node's PID namespace", "hostPID: true",
			"it sees every process of the node; with ptrace or root it reads their memory and environment (secrets) and signals them",
			"remove hostPID")
	}
	if p.HostIPC {
		add("pod-host-ipc", Medium, "Pod in the node's IPC namespace", "hostIPC: true",
			"it reads and writes the node's shared memory segments and message queues",
			"remove hostIPC")
	}
	for _, c := range p.Current() {
		who := "container " + c.ContainerName
		s := c.Security
		if s.Privileged {
			add("pod-privileged", Critical, "Privileged container in a pod", who+": securityContext.privileged: true",
				"a privileged container mounts the node's disks and loads kernel modules: it is root on the node, and on the kubelet's credentials",
				"set privileged: false; add only the capabilities the workload needs")
		}
		for _, cp := range s.AddCaps {
			cp = strings.TrimPrefix(strings.ToUpper(cp), "CAP_")
			if dc, ok := dangerousCaps[cp]; ok && !s.Privileged {
				add("pod-cap-"+strings.ToLower(cp), dc.sev, "Capability "+cp+" added", who+": securityContext.capabilities.add includes "+cp, dc.why,
					"remove "+cp+" from capabilities.add (drop ALL, add back only what the workload needs)")
			}
		}
		if !s.NoNewPrivs && !s.Privileged {
			add("pod-allow-privilege-escalation", Low, "Privilege escalation allowed", who+": allowPrivilegeEscalation not false (no_new_privs unset)",
				"a setuid binary or file capability in the image raises the process above the user it started as",
				"set securityContext.allowPrivilegeEscalation: false")
		}
		switch {
		case s.RunAsUser != nil && *s.RunAsUser == 0:
			add("pod-run-as-root", Medium, "Runs as root", who+": securityContext.runAsUser: 0",
				"root in the container is one kernel bug or one mount away from root on the node",
				"set runAsUser to a non-zero UID and runAsNonRoot: true")
		case s.RunAsUser == nil && s.RunAsUserName == "":
			add("pod-run-as-root", Low, "May run as root", who+": no runAsUser (the image's user, root unless the image says otherwise)",
				"without runAsUser/runAsNonRoot the kubelet runs the image's user, which is root for most images",
				"set runAsUser to a non-zero UID and runAsNonRoot: true")
		}
		if s.Seccomp == "unconfined" && !s.Privileged {
			add("pod-seccomp-unconfined", Medium, "No seccomp profile", who+": seccompProfile Unconfined (or none given)",
				"every system call is open to it, the ones most kernel escapes use (unshare, keyctl, bpf, userfaultfd) included",
				"set securityContext.seccompProfile.type: RuntimeDefault (or enable the kubelet's SeccompDefault)")
		}
		if s.AppArmor == "unconfined" && !s.Privileged && hostHasAppArmor() {
			add("pod-apparmor-unconfined", Low, "No AppArmor profile", who+": appArmorProfile Unconfined",
				"the runtime's default profile (which denies mount, ptrace of others and writes to /proc/sys) does not apply",
				"set securityContext.appArmorProfile.type: RuntimeDefault")
		}
		if c.MemoryLimit <= 0 {
			add("pod-no-memory-limit", Low, "No memory limit", who+": resources.limits.memory unset",
				"one container can exhaust the node's memory and have the kernel kill its neighbours (and evidence)",
				"set resources.limits.memory")
		}
		if c.CPUQuota <= 0 {
			add("pod-no-cpu-limit", Info, "No CPU limit", who+": resources.limits.cpu unset",
				"a miner or a fork loop takes every CPU of the node",
				"set resources.limits.cpu")
		}
		for _, m := range c.Mounts {
			hp := path.Clean(m.HostPath)
			if path.Clean(m.ContainerPath) == saTokenPath {
				auto := strings.Contains(hp, "/volumes/kubernetes.io~projected/kube-api-access-") || strings.Contains(hp, "/volumes/kubernetes.io~secret/")
				word := "mounted explicitly"
				if auto {
					word = "automounted (automountServiceAccountToken is not false)"
				}
				add("pod-sa-token", Medium, "Service-account token mounted", fmt.Sprintf("%s: token %s at %s", who, word, m.ContainerPath),
					"whoever runs code in the container calls the API server as the pod's service account: whatever RBAC grants it (listing secrets, creating pods) is the attacker's",
					"set automountServiceAccountToken: false on the pod (or its service account) unless it calls the API server; grant the account the least RBAC")
				continue
			}
			if kubeletManaged(p, hp) {
				continue
			}
			rw := !m.ReadOnly
			rwWord := "read-only"
			if rw {
				rwWord = "writable"
			}
			evidence := fmt.Sprintf("%s: hostPath %s mounted at %s, %s", who, hp, m.ContainerPath, rwWord)
			if slices.Contains(engineSockets, path.Base(hp)) {
				add("pod-hostpath-runtime-socket", Critical, "Container runtime socket mounted", evidence,
					"whoever reaches the runtime's socket starts a privileged container on the node (read-only does not help)",
					"remove the hostPath volume; give the workload a narrow API if it must talk to the runtime")
				continue
			}
			rule, sev, name := judgeHostPath(hp, rw)
			if sev == "" {
				add("pod-hostpath", Info, "hostPath volume", evidence,
					"a hostPath volume shares the node's files with the pod and pins it to the node",
					"use an emptyDir, a configMap or a persistent volume instead")
				continue
			}
			if name != hp {
				evidence += " (under " + name + ")"
			}
			id := "pod-hostpath"
			switch {
			case rule.socket:
				id = "pod-hostpath-runtime-socket"
			case hp == "/var/log" || strings.HasPrefix(hp, "/var/log/"):
				id = "pod-hostpath-var-log"
			case strings.HasPrefix(hp, "/var/lib/kubelet"):
				id = "pod-hostpath-kubelet"
			}
			add(id, sev, "hostPath "+name+" mounted", evidence, rule.why,
				"remove the hostPath volume (a PodSecurity admission level of baseline refuses it)")
		}
	}
	sortFindings(out)
	return out
}

// AssessPod triages a pod: PodFindings, and what each running container's
// processes do now (the live findings of Assess).
func AssessPod(ctx context.Context, rt runtime.Runtime, procRoot string, p runtime.Pod) Assessment {
	a := Assessment{Container: runtime.Container{ID: p.SandboxID, Name: p.Ref(), Created: p.Created, State: p.Sandbox.State, Labels: p.Labels}, Runtime: rt.Name() + " (pod)"}
	a.Findings = PodFindings(p)
	for _, c := range p.Current() {
		if c.State != runtime.StateRunning && c.State != runtime.StatePaused {
			continue
		}
		m, err := Assess(ctx, rt, procRoot, c.Container)
		if err != nil {
			a.Notes = append(a.Notes, fmt.Sprintf("container %s: %v", c.ContainerName, err))
			continue
		}
		for _, f := range m.Findings {
			if f.Kind == KindLive {
				f.Evidence = p.Ref() + " container " + c.ContainerName + ": " + f.Evidence
				a.Findings = append(a.Findings, f)
			}
		}
	}
	sortFindings(a.Findings)
	score(&a)
	return a
}

// hostHasAppArmor reports whether the kernel enforces AppArmor: without it
// no profile applies, and "unconfined" says nothing about the pod.
func hostHasAppArmor() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}
