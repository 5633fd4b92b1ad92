// Package testenv is what every seam's test harness shares about the test
// environment: the rule that turns a missing daemon into a skip on a
// developer's machine and a failure in CI. runtimetest (engines) and
// storetest (MinIO) both use it, so neither seam's tests import the other's.
// It is imported by tests and test harnesses only.
package testenv

import (
	"os"
	"testing"
)

// RequireDaemonsVar is the variable CI sets (scripts/test.sh does) so that a
// missing daemon fails instead of skipping.
const RequireDaemonsVar = "FIREBREAK_TEST_REQUIRE_DAEMONS"

// SkipOrFail skips a test that needs something absent (an engine, MinIO,
// root), or fails it when FIREBREAK_TEST_REQUIRE_DAEMONS=1, so a missing
// daemon never passes silently in CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireDaemonsVar) == "1" {
		t.Fatalf("required daemon missing ("+RequireDaemonsVar+"=1): "+format, args...)
	}
	t.Skipf(format+" (run scripts/testenv.sh up)", args...)
}

// RequireRoot skips (or fails, in CI) a test that needs root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root")
	}
}
