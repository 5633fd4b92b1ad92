package playbooks_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"firebreak/evidence"
	"firebreak/playbooks"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// TestWebhookPostsCustodyHead: when the run keeps evidence, notify.webhook
// posts the case's custody head; once the run is sealed it is in the
// case's chain, so the receiver holds an anchor outside the store that
// verify finds. Without evidence there is no head in the body.
func TestWebhookPostsCustodyHead(t *testing.T) {
	h := runtimetest.Fake(t) // engine logic: no daemon needed
	d := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	bodies := make(chan map[string]any, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var got map[string]any
		_ = json.Unmarshal(b, &got)
		bodies <- got
	}))
	defer srv.Close()
	pb := mustLoad(t, "name: t\nparams:\n  hook: {type: string, required: true}\nsteps:\n  - id: tell\n    action: notify.webhook\n    with: {url: '${{ params.hook }}'}\n")
	opts := playbooks.RunOptions{Case: "HOOK", Targets: []runtime.Container{d.Container}, Params: map[string]string{"hook": srv.URL}}

	e, _ := engine(t, h)
	e.Env.HTTP = srv.Client()
	if _, err := e.Run(runtimetest.Context(t), pb, opts); err != nil {
		t.Fatal(err)
	}
	if got := <-bodies; got["custody_head"] != nil {
		t.Errorf("a run without evidence posted a custody head: %v", got)
	}

	e, _ = engine(t, h)
	e.Env.HTTP = srv.Client()
	sg, _, err := evidence.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := evidence.NewFileStore(t.TempDir())
	e.Env.Evidence = &playbooks.EvidenceSession{Store: fs, Signer: sg, Trusted: sg.Pub, Info: evidence.CaseInfo{ID: "HOOK", Actor: "test"}}
	if _, err := e.Run(runtimetest.Context(t), pb, opts); err != nil {
		t.Fatal(err)
	}
	head, _ := (<-bodies)["custody_head"].(string)
	if evidence.CheckHead(head) != nil {
		t.Fatalf("webhook custody_head = %q, want a head", head)
	}
	rep, err := evidence.VerifyCase(runtimetest.Context(t), fs, "HOOK", evidence.VerifyOptions{
		Keys: []evidence.TrustedKey{{Key: sg.Pub}}, Heads: []string{head}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Anchors) != 1 || !rep.Anchors[0].Found {
		t.Errorf("the posted head is not in the sealed case: %+v, %+v", rep.Anchors, rep.Problems)
	}
}
