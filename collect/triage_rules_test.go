package collect_test

import (
	"context"
	"slices"
	"testing"

	"firebreak/collect"
	"firebreak/runtime"
	"firebreak/runtime/fake"
)

// hardened is a configuration with none of the risks triage rates.
func hardened() runtime.Security {
	return runtime.Security{
		Capabilities: []string{}, UserNamespace: true, Seccomp: "default", AppArmor: "docker-default",
		NoNewPrivileges: true, User: "1000:1000", ReadonlyRootfs: true,
		MemoryLimit: 256 << 20, CPULimited: true, PidsLimit: 100,
	}
}

// TestTriageRulesOneRiskEach runs the configuration rules on the fake engine
// (the settings as the adapters report them; how an engine reports them is
// tested on Docker and containerd): each risky setting gives its finding on
// its container alone, the hardened one has none and ranks last.
func TestTriageRulesOneRiskEach(t *testing.T) {
	e := fake.New()
	cases := map[string]func(*runtime.Security){
		"privileged":          func(s *runtime.Security) { s.Privileged = true },
		"cap-sys_admin":       func(s *runtime.Security) { s.Capabilities = []string{"SYS_ADMIN"} },
		"host-pid":            func(s *runtime.Security) { s.HostNamespaces = []string{"pid"} },
		"seccomp-unconfined":  func(s *runtime.Security) { s.Seccomp = "unconfined" },
		"apparmor-unconfined": func(s *runtime.Security) { s.AppArmor = "unconfined" },
		"root-user":           func(s *runtime.Security) { s.User = "0" },
		"no-memory-limit":     func(s *runtime.Security) { s.MemoryLimit = 0 },
		"no-userns":           func(s *runtime.Security) { s.UserNamespace = false },
		"engine-socket": func(s *runtime.Security) {
			s.Mounts = []runtime.Mount{{Type: "bind", Source: "/var/run/docker.sock", Destination: "/var/run/docker.sock", RW: true}}
		},
		"": func(*runtime.Security) {},
	}
	byID := map[string]string{}
	var targets []runtime.Container
	for want, change := range cases {
		s := hardened()
		change(&s)
		d := e.Create("risk-"+want, fake.WithSecurity(s))
		byID[d.ID] = want
		targets = append(targets, d.Container)
	}
	as, err := collect.AssessAll(context.Background(), e, "/proc", targets, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(cases) {
		t.Fatalf("%d assessments for %d containers", len(as), len(cases))
	}
	for i, a := range as {
		want := byID[a.Container.ID]
		got := ids(a)
		if want == "" {
			if len(got) != 0 || a.Score != 0 {
				t.Errorf("hardened container: score %d, findings %v; want none", a.Score, got)
			}
			if i != len(as)-1 {
				t.Errorf("hardened container ranks %d of %d, want last", i+1, len(as))
			}
			continue
		}
		if !slices.Contains(got, want) {
			t.Errorf("container for %q: findings %v lack it", want, got)
		}
		if want != "privileged" && len(got) != 1 {
			t.Errorf("container for %q: findings %v, want it alone", want, got)
		}
		if i > 0 && as[i-1].Score < a.Score {
			t.Errorf("ranking: %q (score %d) after a container scoring %d", want, a.Score, as[i-1].Score)
		}
	}
}
