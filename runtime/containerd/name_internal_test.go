package containerd

import "testing"

// A container without a name label goes by its ID, which containerd's
// users choose (ctr run IMAGE ID): an empty name printed as "()" or an
// empty NAME column says nothing.
func TestNameOf(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"Nerdctl", map[string]string{NameLabel: "web"}, "web"},
		{"KubernetesPod", map[string]string{criPodNamespaceLabel: "prod", criPodNameLabel: "api-7f9", criContainerLabel: "app"}, "prod/api-7f9/app"},
		{"PodLabelsNoKind", map[string]string{criPodNamespaceLabel: "prod", criPodNameLabel: "api-7f9"}, "c2"},
		{"PodSandbox", map[string]string{criPodNamespaceLabel: "prod", criPodNameLabel: "api-7f9", criKindLabel: "sandbox"}, "pod/prod/api-7f9"},
		{"NoLabels", nil, "c2"},
		{"EmptyNameLabel", map[string]string{NameLabel: ""}, "c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nameOf("c2", tt.labels); got != tt.want {
				t.Errorf("nameOf(c2, %v) = %q, want %q", tt.labels, got, tt.want)
			}
		})
	}
}
