package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets tests run this test binary as the firebreak command itself
// (FIREBREAK_TEST_AS_CLI=1), to kill it mid-run like a crash would.
func TestMain(m *testing.M) {
	if os.Getenv("FIREBREAK_TEST_AS_CLI") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], newDeps(os.Stdout, os.Stderr)))
	}
	os.Exit(m.Run())
}
