package main

import (
	"strings"
	"testing"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
)

// Tests for issue 10 against a real MinIO (a private server each; targets on
// the in-process fake engine): a store the user misconfigured is refused
// before anything is captured; one that is down spools, and the spool can
// be sent to the right store.

// minioFake is minioCLI's server, bucket and flags, for the fake engine.
func minioFake(t *testing.T, lock bool) (*storetest.Server, *evidence.S3Store, []string) {
	t.Helper()
	srv, st, flags := minioCLI(t, lock)
	return srv, st, append(flags, "--state-dir", t.TempDir())
}

func withFlag(flags []string, name, value string) []string {
	out := append([]string(nil), flags...)
	for i := range out {
		if out[i] == name && i+1 < len(out) {
			out[i+1] = value
			return out
		}
	}
	return append(out, name, value)
}

func TestCLIPreflightRefusesMisconfiguredMinIO(t *testing.T) {
	_, st, flags := minioFake(t, false)
	e := fakeEngine("web-1")
	good := flagValue(flags, "--store")
	tests := []struct {
		name  string
		store string
		env   map[string]string
		says  string
	}{
		{"WrongSecret", good, map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "credentials are refused"},
		{"UnknownKey", good, map[string]string{"AWS_ACCESS_KEY_ID": "nobody"}, "credentials are refused"},
		{"NoSuchBucket", strings.Replace(good, "s3://fbt-cli/", "s3://fbt-no-such-bucket/", 1), nil, "does not exist"},
		{"HTTPSToPlainHTTP", strings.Replace(good, "&insecure=true", "", 1), nil, "plain HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			spool := t.TempDir()
			f := withFlag(withFlag(flags, "--store", tt.store), "--spool-dir", spool)
			r := runFakeWith(t, e, f, "collect", "--case", "MIS-"+tt.name, "--what", "inspect", "web-1")
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.says) || !strings.Contains(r.stderr, "hint:") {
				t.Fatalf("exit %d, want %d saying %q with a hint\n%s%s", r.code, exitUsage, tt.says, r.stdout, r.stderr)
			}
			if n := len(bucketKeys(t, st)); n != 0 {
				t.Errorf("a refused collect stored %d objects", n)
			}
			if left := spoolFiles(t, spool); len(left) != 0 {
				t.Errorf("a refused collect spooled %v", left)
			}
		})
	}
}

// TestCLIRetainWithoutLockIsRefusedForSafety: a refusal before anything is
// written is exit 3.
func TestCLIRetainWithoutLockIsRefusedForSafety(t *testing.T) {
	_, st, flags := minioFake(t, false)
	e := fakeEngine("web-1")
	r := runFakeWith(t, e, flags, "collect", "--case", "LOCK-0", "--retain", "1d", "--what", "inspect", "web-1")
	if r.code != exitRefused || !strings.Contains(r.stderr, "object lock") {
		t.Fatalf("--retain on a bucket without object lock: exit %d, want %d\n%s", r.code, exitRefused, r.stderr)
	}
	if n := len(bucketKeys(t, st)); n != 0 {
		t.Errorf("refused retention still wrote %d objects", n)
	}
	if left := spoolFiles(t, flagValue(flags, "--spool-dir")); len(left) != 0 {
		t.Errorf("refused retention spooled %v", left)
	}
}

// TestCLISyncFromSendsSpooledEvidenceToAnotherStore: evidence spooled for a
// store at a wrong port (nothing answers there: an outage, so it spools)
// is sent to the right store with sync --from, and verifies there.
func TestCLISyncFromSendsSpooledEvidenceToAnotherStore(t *testing.T) {
	srv, st, flags := minioFake(t, false)
	e := fakeEngine("web-1")
	right := flagValue(flags, "--store")
	wrong := strings.Replace(right, srv.Addr, closedPort(t), 1)
	r := runFakeWith(t, e, withFlag(flags, "--store", wrong), "collect", "--case", "MOVE-1", "--what", "inspect", "web-1")
	if r.code != exitSpooled || !strings.Contains(r.stdout, "local spool") {
		t.Fatalf("collect to a port nothing answers: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	spooled := spoolFiles(t, flagValue(flags, "--spool-dir"))
	r = runFakeWith(t, e, flags, "evidence", "sync", "--from", wrong)
	if r.code != exitOK || !strings.Contains(r.stdout, "0 failed") {
		t.Fatalf("sync --from: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if left := spoolFiles(t, flagValue(flags, "--spool-dir")); len(left) != 0 {
		t.Errorf("spool not emptied by sync --from: %v", left)
	}
	if n := len(bucketKeys(t, st)); n != len(spooled) {
		t.Errorf("the bucket holds %d objects, the spool held %d", n, len(spooled))
	}
	if r := runFakeWith(t, e, flags, "evidence", "verify", "MOVE-1"); r.code != exitOK {
		t.Errorf("verify in the right store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runFakeWith(t, e, flags, "evidence", "ls", "MOVE-1"); r.code != exitOK || !strings.Contains(r.stdout, "case.json") {
		t.Errorf("ls in the right store: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
