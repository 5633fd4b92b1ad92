package main

import (
	"context"
	"strings"
	"testing"

	"firebreak/evidence"
)

// TestVerifyExitCodesForBadInput: verify of a case the store does not
// hold is bad input (exit 2), as show says for the same name; verify with
// no key in --key-dir and none pinned says what to give and exits 2; the
// same case with its key verifies (0), so the store and case are sound.
func TestVerifyExitCodesForBadInput(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	st, err := evidence.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := evidence.OpenRun(ctx, st, sg, evidence.CaseInfo{ID: "EXIT-1", Actor: "test", Tool: "firebreak test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Put(ctx, "cases/EXIT-1/note.txt", strings.NewReader("x\n"), "test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	store := "file://" + dir
	for _, c := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"verify of a known case", []string{"evidence", "verify", "EXIT-1", "--store", store, "--key-dir", keys}, exitOK, "OK"},
		{"show of an unknown case", []string{"evidence", "show", "NOCASE", "--store", store}, exitUsage, "no case NOCASE"},
		{"verify of an unknown case", []string{"evidence", "verify", "NOCASE", "--store", store, "--key-dir", keys}, exitUsage, "no case NOCASE"},
		{"verify with no key", []string{"evidence", "verify", "EXIT-1", "--store", store, "--key-dir", t.TempDir()}, exitUsage, "hint: give --pubkey"},
	} {
		r := runCLI(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.says) {
			t.Errorf("%s: exit %d, want %d saying %q\n%s%s", c.name, r.code, c.code, c.says, r.stdout, r.stderr)
		}
	}
}
