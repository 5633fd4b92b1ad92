package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"firebreak/evidence"
	"firebreak/runtime/runtimetest"
)

// localCase writes n runs of a case into a new local store with the
// library, and returns the store's flags, the signer and the manifests.
func localCase(t *testing.T, caseID string, n int) ([]string, *evidence.Signer, []evidence.Manifest) {
	t.Helper()
	dir, keyDir := t.TempDir(), t.TempDir()
	s, err := evidence.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := evidence.LoadOrCreateSigner(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ms []evidence.Manifest
	for i := 0; i < n; i++ {
		r, err := evidence.OpenRun(ctx, s, sg, evidence.CaseInfo{ID: caseID, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Put(ctx, evidence.CasePrefix(caseID)+"c/"+r.ID()+".json", strings.NewReader("{}"), "test", "c"); err != nil {
			t.Fatal(err)
		}
		m, err := r.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	return []string{"--store", "file://" + dir, "--key-dir", keyDir}, sg, ms
}

// TestCLIEvidenceHeadAndVerifyHead: `evidence head` prints the head to
// keep; `verify --head` finds it and counts the runs after it, and fails
// (exit 5, naming it) on a copy of the store whose newest run was removed,
// which verifies without the anchor.
func TestCLIEvidenceHeadAndVerifyHead(t *testing.T) {
	flags, _, ms := localCase(t, "HEAD-1", 2)
	store := dropFlag(flags, "--key-dir") // head signs and checks nothing
	r := cli(t, store, "evidence", "head", "HEAD-1")
	if r.code != exitOK || strings.Fields(r.stdout)[0] != ms[1].CustodyHead {
		t.Fatalf("evidence head: exit %d\n%s%s; want %s first", r.code, r.stdout, r.stderr, ms[1].CustodyHead)
	}
	r = cli(t, store, "evidence", "head", "HEAD-1", "-o", "json")
	var heads []evidence.Head
	if err := json.Unmarshal([]byte(r.stdout), &heads); err != nil || len(heads) != 1 || heads[0].Head != ms[1].CustodyHead || heads[0].Runs != 2 {
		t.Errorf("evidence head -o json = %v %+v\n%s", err, heads, r.stdout)
	}
	if r := cli(t, store, "evidence", "head", "NO-SUCH"); r.code != exitUsage {
		t.Errorf("evidence head of a missing case: exit %d\n%s", r.code, r.stderr)
	}

	r = cli(t, flags, "evidence", "verify", "HEAD-1", "--head", ms[0].CustodyHead)
	if r.code != exitOK || !strings.Contains(r.stdout, "anchored head "+ms[0].CustodyHead+": in run "+ms[0].Run) || !strings.Contains(r.stdout, "1 run after it") {
		t.Errorf("verify --head of the first run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copied, os.DirFS(strings.TrimPrefix(flagValue(flags, "--store"), "file://"))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(copied, "cases/HEAD-1/runs", ms[1].Run)); err != nil {
		t.Fatal(err)
	}
	for _, a := range ms[1].Artifacts {
		if err := os.Remove(filepath.Join(copied, a.Key)); err != nil {
			t.Fatal(err)
		}
	}
	cflags := []string{"--store", "file://" + copied, "--key-dir", flagValue(flags, "--key-dir")}
	if r := cli(t, cflags, "evidence", "verify", "HEAD-1"); r.code != exitOK {
		t.Fatalf("the truncated copy without an anchor: exit %d\n%s", r.code, r.stdout)
	}
	r = cli(t, cflags, "evidence", "verify", "HEAD-1", "--head", ms[1].CustodyHead)
	if r.code != exitUnverified || !strings.Contains(r.stdout, "anchored custody head "+ms[1].CustodyHead+" is not in the case's custody chain") {
		t.Errorf("verify --head of the removed run: exit %d\n%s", r.code, r.stdout)
	}
	if r := cli(t, flags, "evidence", "verify", "HEAD-1", "--head", "deadbeef"); r.code != exitUsage || !strings.Contains(r.stderr, "64 hex digits") {
		t.Errorf("verify --head deadbeef: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCLIVerifySaysWhetherTheKeyIsPinned: the key found in --key-dir is
// reported as not pinned; --pubkey and --trusted-keys (the PEM beside the
// key) pin it, in text and JSON.
func TestCLIVerifySaysWhetherTheKeyIsPinned(t *testing.T) {
	flags, sg, _ := localCase(t, "PIN-1", 1)
	r := cli(t, flags, "evidence", "verify", "PIN-1")
	if r.code != exitOK || !strings.Contains(r.stdout, "signed by "+sg.PublicKeyString()+" (NOT pinned: signing.pub in the key directory") {
		t.Errorf("verify with --key-dir: exit %d\n%s", r.code, r.stdout)
	}
	r = cli(t, flags, "evidence", "verify", "PIN-1", "--pubkey", sg.PublicKeyString())
	if r.code != exitOK || !strings.Contains(r.stdout, "(pinned: --pubkey): 1 run") {
		t.Errorf("verify --pubkey: exit %d\n%s", r.code, r.stdout)
	}
	pemPath := filepath.Join(flagValue(flags, "--key-dir"), "signing.pub.pem")
	r = cli(t, flags, "evidence", "verify", "PIN-1", "--trusted-keys", pemPath, "-o", "json")
	var rep evidence.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitOK || !rep.Pinned || len(rep.Keys) != 1 || rep.Keys[0].Runs != 1 || !strings.Contains(rep.Keys[0].Source, pemPath) {
		t.Errorf("verify --trusted-keys -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	other, _, _ := evidence.LoadOrCreateSigner(t.TempDir())
	r = cli(t, flags, "evidence", "verify", "PIN-1", "--pubkey", other.PublicKeyString())
	if r.code != exitUnverified || !strings.Contains(r.stdout, "signed by another key, "+sg.PublicKeyString()+", which is not trusted") {
		t.Errorf("verify under another pinned key: exit %d\n%s", r.code, r.stdout)
	}
}

var headLine = regexp.MustCompile(`custody head of case (\S+): ([0-9a-f]{64})\n`)

// TestCLIConcurrentCollectsKeepOneChain: collects into one case started at
// once on one host wait for each other: the case's runs form one chain and
// verify; each prints the head it left, which verify --head finds; with
// -o json the head is a field of each line.
func TestCLIConcurrentCollectsKeepOneChain(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := []string{"--runtime=docker", "--store", "file://" + t.TempDir(), "--key-dir", t.TempDir()}
	const n = 3
	results := make([]cliResult, n)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = cli(t, flags, "collect", "--case", "CONC-1", "--what", "inspect,logs", d.Name)
		}()
	}
	wg.Wait()
	var heads []string
	for _, r := range results {
		m := headLine.FindStringSubmatch(r.stderr)
		if r.code != exitOK || m == nil || m[1] != "CONC-1" {
			t.Fatalf("collect: exit %d, no custody head line\n%s%s", r.code, r.stdout, r.stderr)
		}
		heads = append(heads, m[2])
	}
	store, err := evidence.OpenFileStore(strings.TrimPrefix(flagValue(flags, "--store"), "file://"))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := evidence.Manifests(context.Background(), store, "CONC-1")
	if err != nil || len(ms) != n {
		t.Fatalf("%d runs (%v), want %d", len(ms), err, n)
	}
	prev := ""
	for _, m := range ms {
		if m.CustodyPrev != prev {
			t.Errorf("run %s follows %.16s, the run before ended at %.16s: concurrent collects forked the chain", m.Run, m.CustodyPrev, prev)
		}
		prev = m.CustodyHead
	}
	args := []string{"evidence", "verify", "CONC-1"}
	for _, h := range heads {
		args = append(args, "--head", h)
	}
	if r := cli(t, flags, args...); r.code != exitOK || strings.Count(r.stdout, "anchored head") != n {
		t.Errorf("verify with the printed heads: exit %d\n%s", r.code, r.stdout)
	}

	r := cli(t, flags, "collect", "--case", "CONC-1", "--what", "inspect", "-o", "json", d.Name)
	var line collectJSON
	if err := json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &line); err != nil || r.code != exitOK {
		t.Fatalf("collect -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	last, err := evidence.HostHead(context.Background(), store, "CONC-1", "")
	if err != nil || line.CustodyHead != last.Head {
		t.Errorf("collect -o json custody_head = %q, the case's head is %q (%v)", line.CustodyHead, last.Head, err)
	}
	if strings.Contains(r.stderr, "custody head of case") {
		t.Errorf("collect -o json printed the text head line on stderr:\n%s", r.stderr)
	}
}

// TestCLIRunPrintsCustodyHead: a playbook run ends with the case's head:
// on stderr in text, as custody_head of the report line in JSON.
func TestCLIRunPrintsCustodyHead(t *testing.T) {
	h := runtimetest.Docker(t)
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	store := t.TempDir()
	flags := runFlags(t, "file://"+store)
	r := cli(t, flags, "run", "evidence-only", "--target", d.Name, "--case", "RUNHEAD-1")
	m := headLine.FindStringSubmatch(r.stderr)
	if r.code != exitOK || m == nil {
		t.Fatalf("run: exit %d, no custody head line\n%s%s", r.code, r.stdout, r.stderr)
	}
	st, err := evidence.OpenFileStore(store)
	if err != nil {
		t.Fatal(err)
	}
	head, err := evidence.HostHead(context.Background(), st, "RUNHEAD-1", "")
	if err != nil || m[2] != head.Head {
		t.Errorf("run printed %s, the case's head is %+v (%v)", m[2], head, err)
	}
	r = cli(t, flags, "run", "evidence-only", "--target", d.Name, "--case", "RUNHEAD-1", "-o", "json")
	var report struct {
		Type        string `json:"type"`
		CustodyHead string `json:"custody_head"`
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &report); err != nil || report.Type != "report" {
		t.Fatalf("run -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	head, err = evidence.HostHead(context.Background(), st, "RUNHEAD-1", "")
	if err != nil || report.CustodyHead != head.Head || head.Runs < 2 {
		t.Errorf("report custody_head %q, the case's head is %+v (%v)", report.CustodyHead, head, err)
	}
	if r := cli(t, flags, "evidence", "verify", "RUNHEAD-1", "--head", m[2], "--head", report.CustodyHead); r.code != exitOK {
		t.Errorf("verify with the run's heads: exit %d\n%s", r.code, r.stdout)
	}
}
