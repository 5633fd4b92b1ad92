package containerd_test

import (
	"testing"

	"firebreak/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Conformance(t, runtimetest.Containerd(t))
}
