package main

import (
	"context"
	"os"
	"os/signal"
	"testing"
)

// TestMain lets tests run this test binary as the firebreak command itself
// (FIREBREAK_TEST_AS_CLI=1), to kill it mid-run like a crash would.
func TestMain(m *testing.M) {
	if os.Getenv("FIREBREAK_TEST_AS_CLI") == "1" {
		// as main does: the signals that interrupt end run's context
		ctx, stop := signal.NotifyContext(context.Background(), interruptSignals...)
		code := run(ctx, os.Args[1:], newDeps(os.Stdout, os.Stderr))
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}
