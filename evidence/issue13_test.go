package evidence_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"firebreak/evidence"
	"firebreak/evidence/storetest"
)

// caseRuns writes runs of a case into s, one artifact each, through opts
// (the host), and returns each run's manifest.
func caseRuns(t *testing.T, s evidence.Store, sg *evidence.Signer, caseID string, n int, opts evidence.RunOptions) []evidence.Manifest {
	t.Helper()
	ctx := context.Background()
	var out []evidence.Manifest
	for i := 0; i < n; i++ {
		r, err := evidence.OpenRunWith(ctx, s, sg, evidence.CaseInfo{ID: caseID, Actor: "tester", Tool: "firebreak test"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%sc/%s-%s/a.json", evidence.CasePrefix(caseID), opts.Host, r.ID())
		if _, err := r.Put(ctx, key, strings.NewReader(`{"n":1}`), "test", "c"); err != nil {
			t.Fatal(err)
		}
		m, err := r.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// copyStore is a copy of a local store's directory, to tamper with.
func copyStore(t *testing.T, dir string) (string, *evidence.FileStore) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	s, err := evidence.NewFileStore(dst)
	if err != nil {
		t.Fatal(err)
	}
	return dst, s
}

func verifyWith(t *testing.T, s evidence.Store, caseID string, o evidence.VerifyOptions) *evidence.Report {
	t.Helper()
	rep, err := evidence.VerifyCase(context.Background(), s, caseID, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func pinned(k ed25519.PublicKey) []evidence.TrustedKey {
	return []evidence.TrustedKey{{Key: k, Source: "test", Pinned: true}}
}

// hasProblem reports whether a problem names a key ending in keySuffix and
// says what.
func hasProblem(rep *evidence.Report, keySuffix, what string) bool {
	for _, p := range rep.Problems {
		if strings.HasSuffix(p.Key, keySuffix) && strings.Contains(p.What, what) {
			return true
		}
	}
	return false
}

// TestVerifyCaseSwap: a signed manifest proves what it says, not where it
// is stored. Case A emptied and filled with case B's signed runs and
// objects, or one of B's runs put among A's, or a run of A stored under
// another run's name, verified before; each is named now.
func TestVerifyCaseSwap(t *testing.T) {
	dir := t.TempDir()
	s, _ := evidence.NewFileStore(dir)
	sg := signer(t)
	caseRuns(t, s, sg, "CASE-A", 2, evidence.RunOptions{})
	bRuns := caseRuns(t, s, sg, "CASE-B", 1, evidence.RunOptions{})
	tests := []struct {
		name      string
		tamper    func(t *testing.T, root string)
		key, what []string // each pair: a problem's key suffix and what it says
	}{
		{"CaseEmptiedAndFilledWithAnother", func(t *testing.T, root string) {
			mustRemoveAll(t, filepath.Join(root, "cases/CASE-A"))
			if err := os.CopyFS(filepath.Join(root, "cases/CASE-A"), os.DirFS(filepath.Join(root, "cases/CASE-B"))); err != nil {
				t.Fatal(err)
			}
		}, []string{"manifest.json", "case.json", "manifest.json"}, []string{"copied from another case", "case record of case \"CASE-B\"", "not an object of case CASE-A"}},
		{"RunOfAnotherCaseAdded", func(t *testing.T, root string) {
			run := "cases/CASE-B/runs/" + bRuns[0].Run
			if err := os.CopyFS(filepath.Join(root, "cases/CASE-A/runs", bRuns[0].Run), os.DirFS(filepath.Join(root, run))); err != nil {
				t.Fatal(err)
			}
		}, []string{"manifest.json", "manifest.json"}, []string{"manifest of case \"CASE-B\"", "not an object of case CASE-A"}},
		{"RunStoredUnderAnotherName", func(t *testing.T, root string) {
			runs, _ := filepath.Glob(filepath.Join(root, "cases/CASE-A/runs/*"))
			if err := os.Rename(runs[1], runs[1]+"0"); err != nil {
				t.Fatal(err)
			}
		}, []string{"0/manifest.json", "0/manifest.json"}, []string{"copied or moved from another run", "not its own run's"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, cp := copyStore(t, dir)
			if rep := verifyWith(t, cp, "CASE-A", evidence.VerifyOptions{Keys: pinned(sg.Pub)}); !rep.OK() {
				t.Fatalf("the untouched copy does not verify: %+v", rep.Problems)
			}
			tt.tamper(t, root)
			rep := verifyWith(t, cp, "CASE-A", evidence.VerifyOptions{Keys: pinned(sg.Pub)})
			for i := range tt.key {
				if !hasProblem(rep, tt.key[i], tt.what[i]) {
					t.Errorf("no problem on %s saying %q: %+v", tt.key[i], tt.what[i], rep.Problems)
				}
			}
		})
	}
}

func mustRemoveAll(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyHeadFindsRemovedNewestRun: removing the newest run (manifest,
// signature, custody log and its artifacts) leaves a case that verifies
// on its own; the head printed when that run finished, kept outside the
// store, is no longer in the chain, and verify --head says so. A head
// that is still there is found, with the runs after it counted, and so is
// an entry a playbook posted mid-run.
func TestVerifyHeadFindsRemovedNewestRun(t *testing.T) {
	dir := t.TempDir()
	s, _ := evidence.NewFileStore(dir)
	sg := signer(t)
	ms := caseRuns(t, s, sg, "IR-H", 2, evidence.RunOptions{})
	ctx := context.Background()
	r, err := evidence.OpenRun(ctx, s, sg, evidence.CaseInfo{ID: "IR-H", Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	r.Log("contain", "c", "ok")
	midRun := r.Head() // as notify.webhook posts it
	if _, err := r.Put(ctx, "cases/IR-H/c/last/a.json", strings.NewReader("{}"), "test", "c"); err != nil {
		t.Fatal(err)
	}
	last, err := r.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := evidence.VerifyOptions{Keys: pinned(sg.Pub)}

	o := keys
	o.Heads = []string{ms[1].CustodyHead, midRun}
	rep := verifyWith(t, s, "IR-H", o)
	if !rep.OK() || len(rep.Anchors) != 2 || !rep.Anchors[0].Found || rep.Anchors[0].RunsAfter != 1 || rep.Anchors[0].Run != ms[1].Run ||
		!rep.Anchors[1].Found || rep.Anchors[1].Run != last.Run || rep.Anchors[1].RunsAfter != 0 {
		t.Fatalf("anchors on the intact case = %+v, problems %+v; want run 2 with 1 run after it, and the mid-run entry in run 3", rep.Anchors, rep.Problems)
	}
	if len(rep.Heads) != 1 || rep.Heads[0].Head != last.CustodyHead || rep.Heads[0].Runs != 3 {
		t.Errorf("heads = %+v, want the last run's head over 3 runs", rep.Heads)
	}

	root, cp := copyStore(t, dir)
	mustRemoveAll(t, filepath.Join(root, "cases/IR-H/runs", last.Run))
	mustRemoveAll(t, filepath.Join(root, "cases/IR-H/c/last"))
	if rep := verifyWith(t, cp, "IR-H", keys); !rep.OK() {
		t.Fatalf("without an anchor the truncated case should verify (that is why heads are anchored): %+v", rep.Problems)
	}
	o.Heads = []string{last.CustodyHead}
	rep = verifyWith(t, cp, "IR-H", o)
	if rep.OK() || !hasProblem(rep, "cases/IR-H/runs/", "anchored custody head "+last.CustodyHead+" is not in the case's custody chain") {
		t.Errorf("verify --head of the removed run = %+v", rep.Problems)
	}
	if len(rep.Anchors) != 1 || rep.Anchors[0].Found {
		t.Errorf("anchors = %+v, want one not found", rep.Anchors)
	}
	o.Heads = []string{ms[1].CustodyHead}
	if rep := verifyWith(t, cp, "IR-H", o); !rep.OK() || rep.Anchors[0].RunsAfter != 0 {
		t.Errorf("verify --head of the run still there = %+v, %+v", rep.Anchors, rep.Problems)
	}
	if _, err := evidence.VerifyCase(ctx, cp, "IR-H", evidence.VerifyOptions{Keys: pinned(sg.Pub), Heads: []string{"abc"}}); err == nil {
		t.Error("a head that is not 64 hex digits was taken")
	}
}

// TestOpenRunConcurrentNeverForks: runs of one case opened at once on one
// host (goroutines here; processes take the same file lock) wait for each
// other, so the chain stays one line, on a local store and on S3 (whose
// lock lives in a host-local directory).
func TestOpenRunConcurrentNeverForks(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			sg := signer(t)
			const n = 8
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := evidence.OpenRun(ctx, store, sg, evidence.CaseInfo{ID: "CONC", Actor: "tester"})
					if err != nil {
						errs <- err
						return
					}
					if _, err := r.Put(ctx, fmt.Sprintf("cases/CONC/c/%d.json", i), strings.NewReader("{}"), "test", "c"); err != nil {
						errs <- err
					}
					r.Log("collect", "c", "ok")
					if _, err := r.Finish(ctx); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			assertLinear(t, store, "CONC", n)
			if rep := verifyWith(t, store, "CONC", evidence.VerifyOptions{Keys: pinned(sg.Pub)}); !rep.OK() {
				t.Errorf("verify after concurrent runs: %+v", rep.Problems)
			}
		})
	}
}

// assertLinear checks that the case's runs form one chain: each run
// follows the head of the run before it, the first follows nothing.
func assertLinear(t *testing.T, s evidence.Store, caseID string, n int) {
	t.Helper()
	ms, err := evidence.Manifests(context.Background(), s, caseID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Fatalf("%d runs, want %d", len(ms), n)
	}
	prev := ""
	for _, m := range ms {
		if m.CustodyPrev != prev {
			t.Errorf("run %s follows %.16s, the run before ended at %.16s: the chain forked", m.Run, m.CustodyPrev, prev)
		}
		prev = m.CustodyHead
	}
}

// TestVerifyNamesAFork: two runs opened at once past the lock (here each
// with its own lock directory, as two lock-less writers were before) both
// follow the same head; verify names the fork and both runs.
func TestVerifyNamesAFork(t *testing.T) {
	s, _ := evidence.NewFileStore(t.TempDir())
	sg := signer(t)
	caseRuns(t, s, sg, "FORK", 1, evidence.RunOptions{})
	ctx := context.Background()
	var runs []*evidence.Run
	for i := 0; i < 2; i++ {
		r, err := evidence.OpenRunWith(ctx, s, sg, evidence.CaseInfo{ID: "FORK"}, evidence.RunOptions{LockDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	var ids []string
	for _, r := range runs {
		if _, err := r.Finish(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	sort.Strings(ids)
	rep := verifyWith(t, s, "FORK", evidence.VerifyOptions{Keys: pinned(sg.Pub)})
	if !hasProblem(rep, ids[1]+"/manifest.json", "forked: this run and cases/FORK/runs/"+ids[0]+"/manifest.json both follow") {
		t.Errorf("verify of a forked chain = %+v", rep.Problems)
	}
}

// TestTwoHostsChainSeparately: two hosts writing one case at the same time
// each extend their own chain; the case verifies (it failed for good
// before, which read as tampering), with one head per host, and a run
// removed from one host's chain is still found.
func TestTwoHostsChainSeparately(t *testing.T) {
	dir := t.TempDir()
	s, _ := evidence.NewFileStore(dir)
	sg := signer(t)
	ctx := context.Background()
	info := evidence.CaseInfo{ID: "TWO", Actor: "tester"}
	var ms []evidence.Manifest
	for round := 0; round < 2; round++ {
		// Both hosts open before either finishes: the runs overlap.
		a, err := evidence.OpenRunWith(ctx, s, sg, info, evidence.RunOptions{Host: "node-a", LockDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		b, err := evidence.OpenRunWith(ctx, s, sg, info, evidence.RunOptions{Host: "node-b", LockDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*evidence.Run{b, a} {
			r.Log("collect", r.Host(), "ok")
			m, err := r.Finish(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Host != r.Host() || m.Version != evidence.ManifestVersion {
				t.Errorf("manifest host %q version %d, want %q and %d", m.Host, m.Version, r.Host(), evidence.ManifestVersion)
			}
			ms = append(ms, m)
		}
	}
	rep := verifyWith(t, s, "TWO", evidence.VerifyOptions{Keys: pinned(sg.Pub), Heads: []string{ms[2].CustodyHead, ms[3].CustodyHead}})
	if !rep.OK() {
		t.Fatalf("an honest two-host case does not verify: %+v", rep.Problems)
	}
	if len(rep.Heads) != 2 || rep.Heads[0].Runs != 2 || rep.Heads[1].Runs != 2 {
		t.Errorf("heads = %+v, want two hosts with two runs each", rep.Heads)
	}
	for _, a := range rep.Anchors {
		if !a.Found || a.RunsAfter != 0 {
			t.Errorf("anchor %+v: want each host's newest head found", a)
		}
	}
	heads, err := evidence.Heads(ctx, s, "TWO")
	if err != nil || len(heads) != 2 {
		t.Fatalf("Heads = %+v, %v", heads, err)
	}
	byHost := map[string]string{heads[0].Host: heads[0].Head, heads[1].Host: heads[1].Head}
	if byHost["node-a"] != ms[3].CustodyHead || byHost["node-b"] != ms[2].CustodyHead {
		t.Errorf("Heads = %+v, want node-a at %.16s and node-b at %.16s", heads, ms[3].CustodyHead, ms[2].CustodyHead)
	}

	// node-b's first run removed: its second run follows a run that is
	// not there.
	root, cp := copyStore(t, dir)
	mustRemoveAll(t, filepath.Join(root, "cases/TWO/runs", ms[0].Run))
	rep = verifyWith(t, cp, "TWO", evidence.VerifyOptions{Keys: pinned(sg.Pub)})
	if !hasProblem(rep, ms[2].Run+"/manifest.json", "custody chain of host node-b broken") {
		t.Errorf("verify without node-b's first run = %+v", rep.Problems)
	}
}

// TestHostHead: the head of this host's chain, and an error naming the
// host when it has no run in the case.
func TestHostHead(t *testing.T) {
	s, _ := evidence.NewFileStore(t.TempDir())
	sg := signer(t)
	ms := caseRuns(t, s, sg, "HH", 2, evidence.RunOptions{})
	h, err := evidence.HostHead(context.Background(), s, "HH", "")
	if err != nil || h.Head != ms[1].CustodyHead || h.Runs != 2 {
		t.Errorf("HostHead = %+v, %v; want %s over 2 runs", h, err, ms[1].CustodyHead)
	}
	if _, err := evidence.HostHead(context.Background(), s, "HH", "elsewhere"); err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("HostHead of a host without runs = %v", err)
	}
}

// TestOpenRunWaitsAndTells: a second run of the case waits for the first,
// says by whom it is held, and gives up when its context ends.
func TestOpenRunWaitsAndTells(t *testing.T) {
	s, _ := evidence.NewFileStore(t.TempDir())
	sg := signer(t)
	first, err := evidence.OpenRun(context.Background(), s, sg, evidence.CaseInfo{ID: "WAIT"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var told string
	_, err = evidence.OpenRunWith(ctx, s, sg, evidence.CaseInfo{ID: "WAIT"}, evidence.RunOptions{Waiting: func(h string) {
		told = h
		cancel()
	}})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("OpenRun while the case is held = %v, want it to wait until cancelled", err)
	}
	if !strings.Contains(told, fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(told, "case WAIT") {
		t.Errorf("Waiting told %q, want the holder's pid and case", told)
	}
	if _, err := first.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	second, err := evidence.OpenRun(context.Background(), s, sg, evidence.CaseInfo{ID: "WAIT"})
	if err != nil {
		t.Fatalf("OpenRun after the first finished: %v", err)
	}
	if _, err := second.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	objs, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.Contains(o.Key, ".lock") {
			t.Errorf("List shows the lock %s as evidence", o.Key)
		}
	}
	if _, err := s.Put(context.Background(), ".locks/x", strings.NewReader("x"), nil); err == nil {
		t.Error("Put into the lock directory was taken")
	}
}

// TestS3PutRefusesASecondWriter: writers that all found a key free (two
// hosts opening one case write its case.json) do not overwrite each other:
// the server keeps one, and the others get ErrExists.
func TestS3PutRefusesASecondWriter(t *testing.T) {
	s := storetest.MinIO(t, false, evidence.StoreOptions{})
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Put(context.Background(), "cases/RACE/case.json", strings.NewReader(fmt.Sprintf(`{"writer":%d}`, i)), nil)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	stored := 0
	for err := range results {
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, evidence.ErrExists):
			t.Errorf("a second writer got %v, want ErrExists", err)
		}
	}
	if stored != 1 {
		t.Errorf("%d writers stored the key, want exactly 1", stored)
	}
}
