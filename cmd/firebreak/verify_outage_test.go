package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"firebreak/evidence"
	"firebreak/runtime/runtimetest"
)

// stopAfterList is the real MinIO store whose server is stopped once the
// case's runs were listed, so that every read after that meets a store
// that does not answer, as in an outage during a verify.
type stopAfterList struct {
	evidence.Store
	once sync.Once
	stop func()
}

func (s *stopAfterList) List(ctx context.Context, prefix string) ([]evidence.Object, error) {
	objs, err := s.Store.List(ctx, prefix)
	s.once.Do(s.stop)
	return objs, err
}

// TestCLIVerifyWithTheStoreDownIsNoFinding verifies a case in MinIO with
// MinIO stopped: an error of the act (exit 1, "cannot read the store"),
// never "does NOT verify" with every object "unreadable" (exit 5). The same
// when the store stops answering after the runs were listed: VerifyCase
// returns a StoreReadError instead of a report of differences.
func TestCLIVerifyWithTheStoreDownIsNoFinding(t *testing.T) {
	h := runtimetest.Docker(t)
	srv, st, flags := minioCLI(t, false)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{Cmd: []string{"sh", "-c", "echo x > /f; exec sleep 3600"}})
	collectIntoMinIO(t, st, flags, "OUTAGE-1", d.Name)

	srv.Stop()
	r := cli(t, flags, "evidence", "verify", "OUTAGE-1")
	if r.code != exitFailed || !strings.Contains(r.stderr, "cannot read the store") || strings.Contains(r.stdout+r.stderr, "does NOT verify") {
		t.Errorf("verify with MinIO stopped: exit %d, want %d and \"cannot read the store\"\n%s%s", r.code, exitFailed, r.stdout, r.stderr)
	}

	srv.Start()
	pub, err := evidence.LoadPublicKey(flagValue(flags, "--key-dir"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.Verify(runtimetest.Context(t), &stopAfterList{Store: st, stop: srv.Stop}, "OUTAGE-1", pub)
	var sre *evidence.StoreReadError
	if !errors.As(err, &sre) {
		t.Fatalf("verify with the store gone after the listing: err %v, report %+v; want a StoreReadError", err, rep)
	}
	if code := exitCode(err); code != exitFailed {
		t.Errorf("exit code of %v: %d, want %d", err, code, exitFailed)
	}
}
