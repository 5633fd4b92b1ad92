package collect_test

import (
	"context"
	"testing"

	"firebreak/collect"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// BenchmarkTriage100 triages 100 running containers on the real Docker
// Engine: list, inspect each, read /proc for its processes, rank.
func BenchmarkTriage100(b *testing.B) {
	h := runtimetest.Docker(b)
	var fleet []runtime.Container
	for i := 0; i < 100; i++ {
		fleet = append(fleet, h.Run(b, runtimetest.Name(b), runtimetest.Spec{}).Container)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		as, err := collect.AssessAll(context.Background(), h.Runtime(), "/proc", fleet, 8)
		if err != nil || len(as) != 100 {
			b.Fatalf("%d assessed: %v", len(as), err)
		}
	}
}
