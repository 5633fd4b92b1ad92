package docker_test

import (
	"testing"

	"firebreak/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.Conformance(t, runtimetest.Docker(t))
}
