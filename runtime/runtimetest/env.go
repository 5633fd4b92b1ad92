// Package runtimetest holds what tests need to run against real engines: a
// harness per engine that creates named test containers (and cleans them up),
// the test network namespaces for containerd, and the conformance suite that
// every runtime.Runtime passes. A harness on the in-process fake engine
// (runtime/fake) serves tests of pure logic. It is imported by tests only.
package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"firebreak/internal/testenv"
)

// Image is the local busybox test image scripts/testenv.sh builds.
func Image() string { return envOr("FIREBREAK_TEST_IMAGE", "firebreak.local/busybox:test") }

// ContainerdNamespace is the namespace containerd tests work in.
func ContainerdNamespace() string {
	return envOr("FIREBREAK_TEST_CONTAINERD_NAMESPACE", "firebreak-test")
}

// Label marks every container a test makes, for cleanup.
const Label = "io.firebreak.test"

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// SkipOrFail is testenv.SkipOrFail: skip, or fail when CI requires the
// daemons.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.SkipOrFail(t, format, args...)
}

// RequireRoot is testenv.RequireRoot.
func RequireRoot(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// Name makes a container name from the test's name plus a random suffix, so
// parallel tests and reruns never collide.
func Name(t testing.TB) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	n := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-.")
	if len(n) > 40 {
		n = n[len(n)-40:]
		n = strings.TrimLeft(n, "-.")
	}
	return "fbt-" + n + "-" + hex.EncodeToString(b)
}

// Context returns a context bounded in time for one test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(within)
	for {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s: not true within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
