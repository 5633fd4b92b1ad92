package evidence

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// writeV1Run stores a run as version 1 wrote it: the manifest's host
// recorded, its custody log following prev, whatever host wrote it.
func writeV1Run(t *testing.T, s Store, sg *Signer, caseID, run, host, prev string) string {
	t.Helper()
	ctx := context.Background()
	r := &Run{store: s, signer: sg, info: CaseInfo{ID: caseID, Actor: "old"}, id: run, host: host, now: time.Now, prev: prev}
	r.Log("collect", "c", "ok")
	r.appendEntry(CustodyEntry{Action: "finish", Target: run})
	var custody bytes.Buffer
	for _, e := range r.entries {
		b, _ := json.Marshal(e)
		custody.Write(append(b, '\n'))
	}
	prefix := runPrefix(caseID, run)
	cobj, err := s.Put(ctx, prefix+"custody.jsonl", &custody, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Version: 1, Case: caseID, Run: run, Host: host, PublicKey: sg.PublicKeyString(),
		Custody: ArtifactRef{Key: cobj.Key, SHA256: cobj.SHA256}, CustodyHead: r.prev, CustodyPrev: prev, Artifacts: []Artifact{}}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if _, err := s.Put(ctx, prefix+"manifest.json", bytes.NewReader(mb), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, prefix+"manifest.json.sig", strings.NewReader(hex.EncodeToString(sg.Sign(mb))), nil); err != nil {
		t.Fatal(err)
	}
	return r.prev
}

// TestVerifyVersion1Cases: cases stored before chains were kept per host
// still verify: version 1 runs chained every run in one line, across
// hosts, and are held to that (a fork among them is still named). A
// version 2 run written now on a host follows that host's newest run.
func TestVerifyVersion1Cases(t *testing.T) {
	ctx := context.Background()
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sg, _, err := LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trusted := VerifyOptions{Keys: []TrustedKey{{Key: sg.Pub, Pinned: true}}}
	h1 := writeV1Run(t, s, sg, "OLD", "20250101T000000.000000000Z-aaaaaa", "a", "")
	h2 := writeV1Run(t, s, sg, "OLD", "20250101T000001.000000000Z-bbbbbb", "b", h1)
	writeV1Run(t, s, sg, "OLD", "20250101T000002.000000000Z-cccccc", "a", h2)
	rep, err := VerifyCase(ctx, s, "OLD", trusted)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Heads) != 2 {
		t.Fatalf("a version 1 case across two hosts = %+v, heads %+v", rep.Problems, rep.Heads)
	}
	r, err := OpenRunWith(ctx, s, sg, CaseInfo{ID: "OLD"}, RunOptions{Host: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyCase(ctx, s, "OLD", trusted); !rep.OK() {
		t.Errorf("a version 2 run after version 1 runs: %+v", rep.Problems)
	}

	fork, _ := NewFileStore(t.TempDir())
	f1 := writeV1Run(t, fork, sg, "OLDF", "20250101T000000.000000000Z-aaaaaa", "a", "")
	writeV1Run(t, fork, sg, "OLDF", "20250101T000001.000000000Z-bbbbbb", "a", f1)
	writeV1Run(t, fork, sg, "OLDF", "20250101T000002.000000000Z-cccccc", "a", f1)
	rep, err = VerifyCase(ctx, fork, "OLDF", trusted)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.HasSuffix(rep.Problems[0].Key, "cccccc/manifest.json") || !strings.Contains(rep.Problems[0].What, "custody chain broken between runs") {
		t.Errorf("a forked version 1 case = %+v", rep.Problems)
	}
}
