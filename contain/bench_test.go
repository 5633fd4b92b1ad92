package contain_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"firebreak/contain"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// benchFleet starts n running containers on one user network, plus a peer.
func benchFleet(b *testing.B, h *runtimetest.DockerHarness, n int) (string, []runtime.Container) {
	b.Helper()
	vspec, pspec, _ := h.Network(b)
	h.Run(b, runtimetest.Name(b)+"-peer", pspec)
	var fleet []runtime.Container
	for i := 0; i < n; i++ {
		fleet = append(fleet, h.Run(b, runtimetest.Name(b), vspec).Container)
	}
	return vspec.Network, fleet
}

// BenchmarkContainDocker measures Firebreak containing 1 and 50 containers
// on the real Docker Engine. Metrics: frozen-ms (until every target's network
// is cut and it is frozen: the target of the issue) and all-done-ms (engine
// detach and verification finished too). Each iteration releases the fleet
// again outside the timer.
func BenchmarkContainDocker(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(name(n), func(b *testing.B) {
			h := runtimetest.Docker(b)
			_, fleet := benchFleet(b, h, n)
			store, err := contain.OpenRecords(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			c := contain.New(h.Runtime(), store, "")
			ctx := context.Background()
			refs := make([]string, n)
			byRef := map[string]runtime.Container{}
			for i, f := range fleet {
				refs[i] = f.ID
				byRef[f.ID] = f
			}
			var frozen, total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				outs := contain.Each(ctx, refs, contain.DefaultParallel, func(ctx context.Context, ref string) (*contain.Result, error) {
					return c.Contain(ctx, byRef[ref], contain.DefaultOptions())
				})
				total += time.Since(start)
				if err := contain.Errors(outs); err != nil {
					b.Fatal(err)
				}
				var last time.Time
				for _, o := range outs {
					if at := o.Result.Timings.Started.Add(o.Result.Timings.Frozen); at.After(last) {
						last = at
					}
				}
				frozen += last.Sub(start)
				b.StopTimer()
				rel := contain.Each(ctx, refs, contain.DefaultParallel, func(ctx context.Context, ref string) (*contain.Result, error) {
					return c.Release(ctx, byRef[ref], false)
				})
				if err := contain.Errors(rel); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(frozen.Microseconds())/1000/float64(b.N), "frozen-ms/op")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "all-done-ms/op")
		})
	}
}

// BenchmarkDockerCLIBaseline measures what a responder types by hand, for the
// same fleet: `docker network disconnect` for each network, then `docker
// pause`, one container after another. Restoring runs outside the timer.
func BenchmarkDockerCLIBaseline(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(name(n), func(b *testing.B) {
			h := runtimetest.Docker(b)
			net, fleet := benchFleet(b, h, n)
			docker := func(args ...string) {
				if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
					b.Fatalf("docker %v: %v: %s", args, err, out)
				}
			}
			var elapsed time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				for _, c := range fleet {
					docker("network", "disconnect", net, c.ID)
					docker("pause", c.ID)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				for _, c := range fleet {
					docker("unpause", c.ID)
					docker("network", "connect", net, c.ID)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "frozen-ms/op")
			b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "all-done-ms/op")
		})
	}
}

func name(n int) string {
	if n == 1 {
		return "containers=1"
	}
	return "containers=50"
}
