package collect

import (
	"slices"
	"strings"
	"testing"

	"firebreak/runtime"
)

func podWith(c runtime.PodContainer, mods ...func(*runtime.Pod)) runtime.Pod {
	c.ContainerName = "app"
	c.ID = "c1"
	p := runtime.Pod{SandboxID: "sb1", Namespace: "shop", Name: "cart", Containers: []runtime.PodContainer{c}}
	for _, m := range mods {
		m(&p)
	}
	return p
}

func find(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

// A pod confined as PodSecurity's restricted level asks has no finding
// but Info ones; each setting that opens it is named, with the pod.
func TestPodFindings(t *testing.T) {
	uid := int64(1000)
	root := int64(0)
	confined := runtime.PodContainer{
		Security:    runtime.PodSecurity{RunAsUser: &uid, NoNewPrivs: true, Seccomp: "runtime/default", AppArmor: "runtime/default", DropCaps: []string{"ALL"}},
		MemoryLimit: 256 << 20, CPUQuota: 50000,
		Mounts: []runtime.PodMount{
			{HostPath: "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/cache", ContainerPath: "/cache"},
			{HostPath: "/var/lib/kubelet/pods/u1/etc-hosts", ContainerPath: "/etc/hosts"},
			{HostPath: "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/sb1/hostname", ContainerPath: "/etc/hostname"},
		},
	}
	if fs := PodFindings(podWith(confined)); len(fs) != 0 {
		t.Errorf("confined pod: findings %v, want none", ids(fs))
	}

	cases := []struct {
		name string
		pod  runtime.Pod
		id   string
		sev  Severity
		text string
	}{
		{"host network", podWith(confined, func(p *runtime.Pod) { p.HostNetwork = true }), "pod-host-network", High, "hostNetwork: true"},
		{"host PID", podWith(confined, func(p *runtime.Pod) { p.HostPID = true }), "pod-host-pid", High, "hostPID"},
		{"host IPC", podWith(confined, func(p *runtime.Pod) { p.HostIPC = true }), "pod-host-ipc", Medium, "hostIPC"},
		{"privileged", podWith(runtime.PodContainer{Security: runtime.PodSecurity{Privileged: true}}), "pod-privileged", Critical, "container app"},
		{"SYS_ADMIN added", podWith(runtime.PodContainer{Security: runtime.PodSecurity{AddCaps: []string{"CAP_SYS_ADMIN"}}}), "pod-cap-sys_admin", Critical, "SYS_ADMIN"},
		{"escalation", podWith(runtime.PodContainer{Security: runtime.PodSecurity{RunAsUser: &uid}}), "pod-allow-privilege-escalation", Low, "allowPrivilegeEscalation"},
		{"root by UID", podWith(runtime.PodContainer{Security: runtime.PodSecurity{RunAsUser: &root}}), "pod-run-as-root", Medium, "runAsUser: 0"},
		{"root by default", podWith(runtime.PodContainer{}), "pod-run-as-root", Low, "no runAsUser"},
		{"seccomp", podWith(runtime.PodContainer{Security: runtime.PodSecurity{Seccomp: "unconfined"}}), "pod-seccomp-unconfined", Medium, "Unconfined"},
		{"no memory limit", podWith(runtime.PodContainer{}), "pod-no-memory-limit", Low, "limits.memory"},
		{"/var/log read-only", podWith(runtime.PodContainer{Mounts: []runtime.PodMount{{HostPath: "/var/log", ContainerPath: "/host/log", ReadOnly: true}}}), "pod-hostpath-var-log", Low, "hostPath /var/log mounted at /host/log, read-only"},
		{"/var/log writable", podWith(runtime.PodContainer{Mounts: []runtime.PodMount{{HostPath: "/var/log", ContainerPath: "/host/log"}}}), "pod-hostpath-var-log", High, "writable"},
		{"containerd socket", podWith(runtime.PodContainer{Mounts: []runtime.PodMount{{HostPath: "/run/containerd/containerd.sock", ContainerPath: "/run/containerd.sock", ReadOnly: true}}}), "pod-hostpath-runtime-socket", Critical, "containerd.sock"},
		{"kubelet dir", podWith(runtime.PodContainer{Mounts: []runtime.PodMount{{HostPath: "/var/lib/kubelet", ContainerPath: "/kubelet", ReadOnly: true}}}), "pod-hostpath-kubelet", High, "/var/lib/kubelet"},
		{"automounted token", podWith(runtime.PodContainer{Mounts: []runtime.PodMount{{HostPath: "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/kube-api-access-x2x9z", ContainerPath: saTokenPath, ReadOnly: true}}}), "pod-sa-token", Medium, "automounted"},
		{"explicit token", podWith(runtime.PodContainer{Mounts: []runtime.PodMount{{HostPath: "/var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/my-token", ContainerPath: saTokenPath, ReadOnly: true}}}), "pod-sa-token", Medium, "mounted explicitly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := PodFindings(tc.pod)
			f := find(fs, tc.id)
			if f == nil {
				t.Fatalf("findings %v lack %s", ids(fs), tc.id)
			}
			if f.Severity != tc.sev || !strings.Contains(f.Evidence, tc.text) || !strings.HasPrefix(f.Evidence, "pod/shop/cart: ") {
				t.Errorf("%s = %s %q, want %s containing %q and naming the pod", tc.id, f.Severity, f.Evidence, tc.sev, tc.text)
			}
		})
	}
	// The kubelet's own volumes are no hostPath finding; privileged is not
	// also reported capability by capability.
	fs := PodFindings(podWith(runtime.PodContainer{Security: runtime.PodSecurity{Privileged: true, AddCaps: []string{"SYS_ADMIN"}}, Mounts: confined.Mounts}))
	for _, id := range ids(fs) {
		if strings.HasPrefix(id, "pod-hostpath") || id == "pod-cap-sys_admin" {
			t.Errorf("unexpected finding %s in %v", id, ids(fs))
		}
	}
	// Only the latest attempt of a container is judged.
	old := runtime.PodContainer{Security: runtime.PodSecurity{Privileged: true}}
	old.ContainerName, old.ID = "app", "old"
	p := podWith(confined)
	p.Containers = append([]runtime.PodContainer{old}, p.Containers...)
	p.Containers[1].Attempt = 1
	if slices.Contains(ids(PodFindings(p)), "pod-privileged") {
		t.Error("a replaced attempt was judged")
	}
}
