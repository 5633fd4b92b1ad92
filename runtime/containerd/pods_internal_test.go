package containerd

import (
	"testing"
	"time"
)

// The pod object kubectl apply leaves is the pod author's: only a Pod with
// containers counts; a native sidecar's (an init container with restartPolicy
// Always) liveness probe counts like a container's.
func TestProbesFromPodJSON(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		live       []string // containers with a liveness probe
		err        bool
	}{
		{"sidecar", `{"kind":"Pod","spec":{"initContainers":[{"name":"proxy","restartPolicy":"Always","livenessProbe":{"tcpSocket":{"port":1},"periodSeconds":2}},{"name":"setup","livenessProbe":{"exec":{}}}],"containers":[{"name":"web"}]}}`, []string{"proxy"}, false},
		{"none", `{"kind":"Pod","spec":{"containers":[{"name":"web"}]}}`, nil, false},
		{"no kind", `{"spec":{"containers":[{"name":"web","livenessProbe":{"exec":{}}}]}}`, nil, true},
		{"empty object", `{}`, nil, true},
		{"a Deployment", `{"kind":"Deployment","spec":{}}`, nil, true},
		{"no containers", `{"kind":"Pod","spec":{}}`, nil, true},
		{"a string", `"just a string"`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := ProbesFromPodJSON([]byte(tc.json))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			var live []string
			for _, p := range ps {
				if p.Kind == "liveness" {
					live = append(live, p.Container)
				}
			}
			if len(live) != len(tc.live) || (len(live) > 0 && live[0] != tc.live[0]) {
				t.Errorf("liveness probes on %v, want %v", live, tc.live)
			}
		})
	}
	ps, src := probesOf(map[string]string{LastAppliedAnnotation: `{}`})
	if ps != nil || src != "" {
		t.Errorf("an empty annotation object gives probes %v from %q, want none and no source", ps, src)
	}
	ps, _ = ProbesFromPodJSON([]byte(`{"kind":"Pod","spec":{"initContainers":[{"name":"proxy","restartPolicy":"Always","livenessProbe":{"tcpSocket":{"port":1},"periodSeconds":2}}],"containers":[{"name":"web"}]}}`))
	if len(ps) != 1 || ps[0].Deadline() != 6*time.Second {
		t.Errorf("sidecar probe = %+v, want one with a 6 s deadline (2 s x the default 3)", ps)
	}
}
