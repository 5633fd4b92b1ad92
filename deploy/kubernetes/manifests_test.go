// Package kubernetes holds the manifests that run Firebreak on a cluster
// (docs/KUBERNETES.md). The test decodes each one strictly into the
// Kubernetes API types, as the API server does with strict field
// validation, and checks what the design promises of them.
package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// What docs/KUBERNETES.md says; the manifests must say the same.
const (
	quarantineLabel  = "firebreak.dev/quarantine"
	quarantinePolicy = "firebreak-quarantine"
	containerdSocket = "/run/containerd/containerd.sock"
	placeholderImage = "firebreak:latest"
)

// The capabilities the agent adds after dropping ALL, each reasoned in the doc.
var wantCaps = []string{"DAC_READ_SEARCH", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}

// The node's paths the agent mounts, and whether read-only. Anything else on
// the host (its root, /var/lib/kubelet with every pod's Secrets) is not.
var wantHostPaths = map[string]struct {
	mountPath string
	readOnly  bool
}{
	"/run/containerd":     {"/run/containerd", true},
	"/var/lib/containerd": {"/var/lib/containerd", true},
	"/var/log/pods":       {"/var/log/pods", true},
	"/run/netns":          {"/var/run/netns", true},
	"/sys/fs/cgroup":      {"/sys/fs/cgroup", true},
	"/var/lib/firebreak":  {"/var/lib/firebreak", false},
	"/run/firebreak":      {"/run/firebreak", false},
}

// The file each object lives in, and its type. A new manifest must be added
// here, so none goes unchecked.
var wantFiles = map[string]reflect.Type{
	"namespace.yaml":                reflect.TypeFor[*corev1.Namespace](),
	"serviceaccount.yaml":           reflect.TypeFor[*corev1.ServiceAccount](),
	"clusterrole.yaml":              reflect.TypeFor[*rbacv1.ClusterRole](),
	"clusterrolebinding.yaml":       reflect.TypeFor[*rbacv1.ClusterRoleBinding](),
	"daemonset.yaml":                reflect.TypeFor[*appsv1.DaemonSet](),
	"networkpolicy-quarantine.yaml": reflect.TypeFor[*networkingv1.NetworkPolicy](),
}

// scheme knows the API groups the manifests may use; a kind outside them
// (or misspelled) is an error.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// decodeStrict decodes every YAML document of data into its typed object,
// chosen by apiVersion and kind. YAML to JSON refuses duplicate keys; JSON to
// the type refuses unknown fields and fields spelled in another case
// (encoding/json, and so yaml.UnmarshalStrict, would take `hostPid` for
// `hostPID`; the API server's decoder, used here, does not).
func decodeStrict(data []byte) ([]runtime.Object, error) {
	dec := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, err
		}
		if string(bytes.TrimSpace(j)) == "null" {
			continue // an empty document: comments only
		}
		obj, _, err := dec.Decode(j, nil, nil)
		if err != nil {
			return nil, err
		}
		objs = append(objs, obj)
	}
}

// manifests decodes every YAML file of this directory, one object a file.
func manifests(t *testing.T) map[string]runtime.Object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]runtime.Object{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeStrict(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(objs) != 1 {
			t.Errorf("%s: %d objects; keep one object a file", f, len(objs))
			continue
		}
		want, ok := wantFiles[f]
		if !ok {
			t.Errorf("%s: not a known manifest; add it to wantFiles and check it", f)
			continue
		}
		if reflect.TypeOf(objs[0]) != want {
			t.Errorf("%s: decoded a %T, want %v", f, objs[0], want)
			continue
		}
		got[f] = objs[0]
	}
	for f := range wantFiles {
		if _, ok := got[f]; !ok {
			t.Errorf("%s: missing or not decoded", f)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return got
}

func TestManifestsDecodeStrictly(t *testing.T) {
	for f, obj := range manifests(t) {
		m, err := metaOf(obj)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if m.GetName() == "" {
			t.Errorf("%s: no metadata.name", f)
		}
	}
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("no object metadata")
	}
	return m, nil
}

func TestNamesAgreeAcrossFiles(t *testing.T) {
	m := manifests(t)
	ns := m["namespace.yaml"].(*corev1.Namespace)
	sa := m["serviceaccount.yaml"].(*corev1.ServiceAccount)
	role := m["clusterrole.yaml"].(*rbacv1.ClusterRole)
	binding := m["clusterrolebinding.yaml"].(*rbacv1.ClusterRoleBinding)
	ds := m["daemonset.yaml"].(*appsv1.DaemonSet)

	if sa.Namespace != ns.Name {
		t.Errorf("service account in namespace %q, the namespace is %q", sa.Namespace, ns.Name)
	}
	if ds.Namespace != ns.Name {
		t.Errorf("DaemonSet in namespace %q, the namespace is %q", ds.Namespace, ns.Name)
	}
	if got := ds.Spec.Template.Spec.ServiceAccountName; got != sa.Name {
		t.Errorf("DaemonSet runs as service account %q, the file makes %q", got, sa.Name)
	}
	want := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}
	if binding.RoleRef != want {
		t.Errorf("binding's roleRef = %+v, want %+v", binding.RoleRef, want)
	}
	wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: sa.Namespace}}
	if !reflect.DeepEqual(binding.Subjects, wantSubjects) {
		t.Errorf("binding's subjects = %+v, want exactly %+v", binding.Subjects, wantSubjects)
	}
	// hostPID, hostNetwork, hostPath and added capabilities are each refused
	// below the "privileged" Pod Security level.
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace's pod-security enforce level = %q, want privileged (the agent's pods are refused otherwise)", got)
	}
}

func TestDaemonSet(t *testing.T) {
	ds := manifests(t)["daemonset.yaml"].(*appsv1.DaemonSet)
	pod := ds.Spec.Template.Spec

	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		t.Fatalf("selector: %v", err)
	}
	if sel.Empty() || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("selector %q does not select the template's labels %v (the API refuses such a DaemonSet)", sel, ds.Spec.Template.Labels)
	}
	if !pod.HostPID {
		t.Error("hostPID is false: the agent cannot see the pods' processes")
	}
	if len(pod.InitContainers) != 0 || len(pod.Containers) != 1 {
		t.Fatalf("%d init containers and %d containers; the checks below expect one container", len(pod.InitContainers), len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != placeholderImage {
		t.Errorf("image %q; the doc names the placeholder %q", c.Image, placeholderImage)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext.capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: true")
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		// The API server refuses it beside CAP_SYS_ADMIN (spelt so), and it
		// protects nothing beside SYS_ADMIN however spelt.
		t.Error("allowPrivilegeEscalation: false beside SYS_ADMIN")
	}
	if !slices.Equal(capNames(sc.Capabilities.Drop), []string{"ALL"}) {
		t.Errorf("drops %v, want exactly [ALL]", sc.Capabilities.Drop)
	}
	if got := capNames(sc.Capabilities.Add); !slices.Equal(got, wantCaps) {
		t.Errorf("adds %v, want exactly %v (the capabilities docs/KUBERNETES.md reasons)", got, wantCaps)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccomp profile %+v, want RuntimeDefault", sc.SeccompProfile)
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		// Unmounted too: an ephemeral container may mount any volume of the pod.
		if v.HostPath != nil {
			if _, ok := wantHostPaths[v.HostPath.Path]; !ok {
				t.Errorf("volume %s is the node's %s, which docs/KUBERNETES.md does not list", v.Name, v.HostPath.Path)
			}
		}
	}
	seen := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		v, ok := volumes[vm.Name]
		if !ok {
			t.Errorf("mount %s names no volume %q", vm.MountPath, vm.Name)
			continue
		}
		if v.HostPath == nil {
			continue
		}
		seen[v.HostPath.Path] = true
		want, ok := wantHostPaths[v.HostPath.Path]
		if !ok {
			continue // said above
		}
		if vm.MountPath != want.mountPath || vm.ReadOnly != want.readOnly {
			t.Errorf("node's %s mounted at %s (read-only %v), want at %s (read-only %v)", v.HostPath.Path, vm.MountPath, vm.ReadOnly, want.mountPath, want.readOnly)
		}
		if vm.MountPropagation != nil && *vm.MountPropagation == corev1.MountPropagationBidirectional {
			t.Errorf("%s: Bidirectional propagation needs a privileged container", vm.MountPath)
		}
	}
	for p := range wantHostPaths {
		if !seen[p] {
			t.Errorf("the node's %s is not mounted", p)
		}
	}
	if got, ok := hostPathOf(pod, c, containerdSocket); !ok || got != containerdSocket {
		t.Errorf("%s in the container is the node's %q (mounted: %v), want the node's own socket", containerdSocket, got, ok)
	}
	if p := propagationAt(c, "/var/run/netns"); p != corev1.MountPropagationHostToContainer {
		t.Errorf("/var/run/netns propagation %q, want HostToContainer (else namespaces made after the agent started are empty files)", p)
	}
}

// capNames returns capabilities without CAP_, upper case, sorted.
func capNames(caps []corev1.Capability) []string {
	var out []string
	for _, c := range caps {
		out = append(out, strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_"))
	}
	sort.Strings(out)
	return out
}

// hostPathOf returns the node's path that p in the container is, through the
// deepest mount of a hostPath volume that holds p.
func hostPathOf(pod corev1.PodSpec, c corev1.Container, p string) (string, bool) {
	best := ""
	host := ""
	for _, vm := range c.VolumeMounts {
		rel, ok := within(p, vm.MountPath)
		if !ok || len(vm.MountPath) < len(best) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.HostPath != nil {
				best, host = vm.MountPath, path.Join(v.HostPath.Path, rel)
			}
		}
	}
	return host, best != ""
}

func within(p, dir string) (string, bool) {
	p, dir = path.Clean(p), path.Clean(dir)
	if p == dir {
		return "", true
	}
	if rest, ok := strings.CutPrefix(p, dir+"/"); ok {
		return rest, true
	}
	return "", false
}

func propagationAt(c corev1.Container, mountPath string) corev1.MountPropagationMode {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == mountPath && vm.MountPropagation != nil {
			return *vm.MountPropagation
		}
	}
	return corev1.MountPropagationNone
}

func TestClusterRole(t *testing.T) {
	role := manifests(t)["clusterrole.yaml"].(*rbacv1.ClusterRole)
	if role.AggregationRule != nil {
		t.Error("an aggregation rule: the role's rules would come from elsewhere")
	}
	// Every grant, as group/resource[/name]:verb.
	var got []string
	for _, r := range role.Rules {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("non-resource URLs %v", r.NonResourceURLs)
		}
		for _, s := range slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames) {
			if strings.Contains(s, "*") {
				t.Errorf("wildcard %q in rule %+v", s, r)
			}
		}
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if res == "secrets" || strings.HasPrefix(res, "secrets/") {
					t.Errorf("grants %v on %s", r.Verbs, res)
				}
				for _, n := range names {
					for _, v := range r.Verbs {
						got = append(got, path.Join(g, res, n)+":"+v)
					}
				}
			}
		}
	}
	sort.Strings(got)
	want := []string{
		"events:create",
		"networking.k8s.io/networkpolicies/" + quarantinePolicy + ":delete",
		"networking.k8s.io/networkpolicies:create",
		"nodes:patch",
		"pods:get", "pods:list", "pods:patch", "pods:watch",
	}
	if !slices.Equal(got, want) {
		t.Errorf("grants\n  %v\nwant exactly\n  %v", got, want)
	}
}

func TestQuarantinePolicy(t *testing.T) {
	m := manifests(t)
	np := m["networkpolicy-quarantine.yaml"].(*networkingv1.NetworkPolicy)
	if np.Name != quarantinePolicy {
		t.Errorf("name %q; the agent may delete only %q (clusterrole.yaml)", np.Name, quarantinePolicy)
	}
	if np.Namespace != "" {
		t.Errorf("namespace %q: the template is applied with -n to the suspect's namespace", np.Namespace)
	}
	types := slices.Clone(np.Spec.PolicyTypes)
	slices.Sort(types)
	if want := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}; !slices.Equal(types, want) {
		t.Errorf("policyTypes %v, want both Ingress and Egress (without Egress, egress is not restricted)", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 {
		t.Errorf("%d ingress and %d egress rules, want none: each rule is an allowance", len(np.Spec.Ingress), len(np.Spec.Egress))
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatalf("podSelector: %v", err)
	}
	if !sel.Matches(labels.Set{quarantineLabel: "case-20260101-000000-abcdef", "app": "web"}) {
		t.Errorf("podSelector %q does not select a pod labelled %s", sel, quarantineLabel)
	}
	// An empty selector selects every pod of the namespace: a quarantine of
	// one pod would cut the whole namespace.
	if sel.Matches(labels.Set{"app": "web"}) {
		t.Errorf("podSelector %q selects a pod without %s", sel, quarantineLabel)
	}
}

func TestDocNamesWhatTheManifestsDo(t *testing.T) {
	doc, err := os.ReadFile("../../docs/KUBERNETES.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slices.Concat(wantCaps, []string{quarantineLabel, quarantinePolicy, placeholderImage, containerdSocket}) {
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("docs/KUBERNETES.md does not mention %s", s)
		}
	}
}

// TestStrictDecoderRefuses keeps the decoder honest: each of these is a
// manifest the API server would refuse or misread.
func TestStrictDecoderRefuses(t *testing.T) {
	const ds = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: x
spec:
  selector:
    matchLabels: {a: b}
  template:
    metadata:
      labels: {a: b}
    spec:
      %s
      containers:
        - name: c
          image: i
`
	good := strings.Replace(ds, "%s", "hostPID: true", 1)
	for _, tc := range []struct{ name, doc, wantErr string }{
		{"field in another case", strings.Replace(ds, "%s", "hostPid: true", 1), `unknown field "spec.template.spec.hostPid"`},
		{"unknown field", strings.Replace(ds, "%s", "hostPIDs: true", 1), `unknown field "spec.template.spec.hostPIDs"`},
		{"duplicate field", strings.Replace(ds, "%s", "hostPID: true\n      hostPID: false", 1), `"hostPID" already set`},
		{"unknown kind", strings.Replace(good, "kind: DaemonSet", "kind: DaemonSets", 1), `no kind "DaemonSets"`},
		{"unknown version", strings.Replace(good, "apps/v1", "apps/v1beta9", 1), `version "apps/v1beta9"`},
		{"wrong value type", strings.Replace(ds, "%s", `hostPID: "yes please"`, 1), "hostPID"},
		{"unknown field in a later document", good + "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n  namespaces: y\n", `unknown field "metadata.namespaces"`},
	} {
		objs, err := decodeStrict([]byte(tc.doc))
		if err == nil {
			t.Errorf("%s: decoded %d objects without error", tc.name, len(objs))
		} else if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %q, want one saying %s", tc.name, err, tc.wantErr)
		}
	}
	// The same manifest, spelt right, decodes: the refusals above are about
	// the one change each makes.
	objs, err := decodeStrict([]byte(good))
	if err != nil || len(objs) != 1 {
		t.Fatalf("the correct manifest: %d objects, %v", len(objs), err)
	}
	if d, ok := objs[0].(*appsv1.DaemonSet); !ok || !d.Spec.Template.Spec.HostPID {
		t.Errorf("the correct manifest decoded to %#v", objs[0])
	}
}
