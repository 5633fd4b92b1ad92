package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"firebreak/alerts"
	"firebreak/runtime"
	"firebreak/runtime/runtimetest"
)

// These tests run `firebreak serve` as its own process (this test binary as
// the command), send it alerts over its unix socket as Falco's HTTP output
// or falcosidekick would, and check what the real Docker Engine shows.

const serveRules = `
- name: escape
  match: {rule: "Container escape attempt", priority: ">=critical"}
  playbook: escape-suspected
  approve: all
  dedupe: 10m
`

type serveProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	sock   string
	flags  []string
	stderr *syncBuffer
	client *http.Client
}

func startServe(t testing.TB, flags []string, extra ...string) *serveProc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := flagValue(flags, "--state-dir")
	sock := filepath.Join(dir, "serve.sock")
	rules := filepath.Join(dir, "rules.yaml")
	if _, err := os.Stat(rules); err != nil {
		if err := os.WriteFile(rules, []byte(serveRules), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := append([]string{"serve", "--rules", rules, "--socket", sock}, flags...)
	cmd := exec.Command(self, append(args, extra...)...)
	cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{t: t, cmd: cmd, sock: sock, flags: flags, stderr: stderr,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 64,
		}}}
	t.Cleanup(func() { p.stop() })
	runtimetest.Eventually(t, 20*time.Second, "serve answers on its socket", func() bool {
		resp, err := p.client.Get("http://serve/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return p
}

func (p *serveProc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *serveProc) post(body []byte, header http.Header) (int, string) {
	req, _ := http.NewRequest("POST", "http://serve/v1/alerts", bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// falcoAlert is what falcosidekick (and Falco's http_output) posts.
func falcoAlert(shortID, name string) []byte {
	b, _ := json.Marshal(map[string]any{
		"uuid":     fmt.Sprintf("%x", time.Now().UnixNano()),
		"output":   "Container escape attempt detected (user=root command=nsenter -t 1 -m sh)",
		"priority": "Critical",
		"rule":     "Container escape attempt",
		"time":     time.Now().UTC().Format(time.RFC3339Nano),
		"source":   "syscall",
		"hostname": "node-1",
		"tags":     []string{"container", "mitre_privilege_escalation"},
		"output_fields": map[string]any{
			"container.id": shortID, "container.name": name, "evt.time": time.Now().UnixNano(),
			"proc.cmdline": "nsenter -t 1 -m sh", "user.name": "root",
		},
	})
	return b
}

// stories reads the intake journal of a serve's state directory.
func stories(t testing.TB, flags []string) []alerts.Story {
	t.Helper()
	s, err := readStories(&globalOptions{StateDir: flagValue(flags, "--state-dir")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decided(ss []alerts.Story) int {
	n := 0
	for _, s := range ss {
		for _, e := range s.Then {
			if e.Kind == alerts.KindFinished || e.Kind == alerts.KindSuppressed || e.Kind == alerts.KindUnresolved || e.Kind == alerts.KindUnmatched || e.Kind == alerts.KindLogged || e.Kind == alerts.KindDryRun {
				n++
				break
			}
		}
	}
	return n
}

// A Falco-shaped alert naming a running container by its short ID makes
// serve contain it and capture its evidence (escape-suspected, approvals
// given by the rule); the same alert text from a second container contains
// that one too; the case of each verifies.
func TestServeContainsFromFalcoAlert(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, _, _ := h.Network(t)
	v1 := h.Run(t, runtimetest.Name(t)+"-1", vspec)
	v2 := h.Run(t, runtimetest.Name(t)+"-2", vspec)
	flags := runFlags(t, "file://"+t.TempDir())
	p := startServe(t, flags)
	for _, v := range []runtime.Details{v1, v2} {
		if code, body := p.post(falcoAlert(v.ShortID(), v.Name), nil); code != http.StatusAccepted {
			t.Fatalf("post: %d %s\n%s", code, body, p.stderr)
		}
	}
	runtimetest.Eventually(t, 90*time.Second, "both alerts decided", func() bool { return decided(stories(t, flags)) == 2 })
	for i, s := range stories(t, flags) {
		fin := s.LastIs(alerts.KindFinished)
		if fin == nil || fin.Status != "succeeded" {
			t.Fatalf("alert %d: %+v\n%s", i+1, s.Then, p.stderr)
		}
		if r := cli(t, []string{"--store", flagValue(flags, "--store"), "--key-dir", flagValue(flags, "--key-dir")}, "evidence", "verify", fin.Case); r.code != exitOK {
			t.Errorf("verify %s: exit %d\n%s%s", fin.Case, r.code, r.stdout, r.stderr)
		}
	}
	for _, v := range []runtime.Details{v1, v2} {
		d := inspectDetails(t, h, v.ID)
		if d.State != runtime.StatePaused || len(d.Networks) != 0 {
			t.Errorf("%s after the alert: %s, networks %v; want paused and detached", v.Name, d.State, d.Networks)
		}
	}
}

// 100,000 identical alerts for one container make one run and 99,999
// suppressions, in the journal and in /metrics.
func TestServeFloodOneRun(t *testing.T) {
	h := runtimetest.Docker(t)
	v := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := runFlags(t, "file://"+t.TempDir())
	p := startServe(t, flags, "--queue", "100000")
	body := falcoAlert(v.ShortID(), v.Name)
	const total, workers = 100000, 32
	var sent, refused atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= total {
				for {
					code, msg := p.post(body, nil)
					if code == http.StatusAccepted {
						break
					}
					if code != http.StatusTooManyRequests {
						t.Errorf("post: %d %s", code, msg)
						return
					}
					refused.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	t.Logf("sent %d alerts in %s", total, time.Since(start))
	runtimetest.Eventually(t, 120*time.Second, "every alert decided", func() bool { return decided(stories(t, flags)) == total })
	ss := stories(t, flags)
	runs, suppressed := 0, 0
	for _, s := range ss {
		if s.LastIs(alerts.KindStarted) != nil {
			runs++
		}
		if s.LastIs(alerts.KindSuppressed) != nil {
			suppressed++
		}
	}
	if len(ss) != total || runs != 1 || suppressed != total-1 {
		t.Errorf("%d alerts journalled, %d runs, %d suppressed; want %d, 1, %d", len(ss), runs, suppressed, total, total-1)
	}
	resp, err := p.client.Get("http://serve/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`firebreak_alerts_accepted_total{format="falco"} 100000`, fmt.Sprintf(`firebreak_alerts_suppressed_total{reason="duplicate"} %d`, total-1)} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}
	t.Logf("%d alerts in, %d retries after 429", total, refused.Load())
}

// A request with a bad signature, a replayed one, and one without the
// bearer token change nothing: no alert journalled, the container runs on.
func TestServeRefusesForgedAndReplayed(t *testing.T) {
	h := runtimetest.Docker(t)
	v := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	flags := runFlags(t, "file://"+t.TempDir())
	dir := flagValue(flags, "--state-dir")
	secret := []byte("firebreak-test-webhook-secret-0123")
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("whsec_"+b64(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cr3t-token-for-tests"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := selfSignedCert(t, dir)
	p := startServe(t, flags, "--webhook-secret-file", filepath.Join(dir, "secret"), "--token-file", filepath.Join(dir, "token"), "--dry-run",
		"--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	body := falcoAlert(v.ShortID(), v.Name)
	signed := func(id string, ts time.Time, sig string) http.Header {
		if sig == "" {
			sig = alerts.Sign(secret, id, ts, body)
		}
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {fmt.Sprint(ts.Unix())}, "Webhook-Signature": {sig},
			"Authorization": {"Bearer s3cr3t-token-for-tests"}}
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no token", http.Header{"Webhook-Id": {"m1"}, "Webhook-Timestamp": {fmt.Sprint(now.Unix())}, "Webhook-Signature": {alerts.Sign(secret, "m1", now, body)}}, 401},
		{"bad signature", signed("m2", now, "v1,"+b64([]byte("not the signature of this body!!"))), 401},
		{"signed with another key", signed("m3", now, alerts.Sign([]byte("another-key-of-sixteen-bytes"), "m3", now, body)), 401},
		{"stale timestamp", signed("m4", now.Add(-time.Hour), ""), 401},
		{"good", signed("m5", now, ""), 202},
		{"replayed", signed("m5", now, ""), 401},
	} {
		if code, msg := p.post(body, tc.header); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, msg, tc.want)
		}
	}
	// Over TCP: TLS only, and without the token nothing is taken.
	addr := p.tcpAddr()
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	good := signed("m6", now, "")
	good.Del("Authorization")
	req, _ := http.NewRequest("POST", "https://"+addr+"/v1/alerts", bytes.NewReader(body))
	req.Header = good
	if resp, err := tlsClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("TCP without the token: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Post("http://"+addr+"/v1/alerts", "application/json", bytes.NewReader(body)); err == nil && resp.StatusCode == 202 {
		t.Error("plain HTTP over TCP was accepted")
	} else if err == nil {
		resp.Body.Close()
	}
	if ss := stories(t, flags); len(ss) != 1 {
		t.Errorf("%d alerts journalled, want only the good one", len(ss))
	}
	mreq, _ := http.NewRequest("GET", "http://serve/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer s3cr3t-token-for-tests")
	resp, err := p.client.Do(mreq)
	if err == nil {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), `firebreak_alerts_refused_total{reason="replay"} 2`) || !strings.Contains(string(m), `firebreak_alerts_refused_total{reason="auth"} 4`) {
			t.Errorf("/metrics refusals:\n%s", m)
		}
	}
	if d := inspectDetails(t, h, v.ID); d.State != runtime.StateRunning {
		t.Errorf("the container is %s, want running (dry run and refusals change nothing)", d.State)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// tcpAddr is the address serve says it listens on over TCP.
func (p *serveProc) tcpAddr() string {
	p.t.Helper()
	var addr string
	runtimetest.Eventually(p.t, 10*time.Second, "serve names its TCP address", func() bool {
		_, rest, ok := strings.Cut(p.stderr.String(), "listening on tcp:")
		if ok {
			addr, _, _ = strings.Cut(rest, " ")
		}
		return ok
	})
	return addr
}

// selfSignedCert writes a certificate and key for 127.0.0.1.
func selfSignedCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "firebreak-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, kf
}

// kill -9 of serve in the middle of a flood, then a restart: every alert
// the journal accepted ends in exactly one outcome, one run per container
// (the dedupe window survives the crash), no run started twice, and no
// playbook step that finished is finished again.
func TestServeCrashMidFlood(t *testing.T) {
	h := runtimetest.Docker(t)
	var victims []runtime.Details
	for i := 0; i < 3; i++ {
		victims = append(victims, h.Run(t, fmt.Sprintf("%s-%d", runtimetest.Name(t), i), runtimetest.Spec{}))
	}
	flags := runFlags(t, "file://"+t.TempDir())
	p := startServe(t, flags)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	stopSending := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 8 {
				select {
				case <-stopSending:
					return
				default:
				}
				v := victims[i%len(victims)]
				if code, _ := p.post(falcoAlert(v.ShortID(), v.Name), nil); code == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		}()
	}
	runtimetest.Eventually(t, 30*time.Second, "a thousand alerts accepted", func() bool { return accepted.Load() >= 1000 })
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	close(stopSending)
	wg.Wait()
	before := len(stories(t, flags))
	if int64(before) < accepted.Load() {
		t.Fatalf("%d alerts acknowledged with 202, only %d in the journal", accepted.Load(), before)
	}

	p2 := startServe(t, flags)
	runtimetest.Eventually(t, 120*time.Second, "every accepted alert decided after the restart", func() bool { return decided(stories(t, flags)) == before })
	p2.stop()
	ss := stories(t, flags)
	startsPerTarget := map[string]int{}
	for _, s := range ss {
		terminal := 0
		for _, e := range s.Then {
			switch e.Kind {
			case alerts.KindFinished, alerts.KindSuppressed, alerts.KindUnresolved, alerts.KindUnmatched, alerts.KindLogged:
				terminal++
			case alerts.KindStarted:
				startsPerTarget[e.Target]++
			}
		}
		if terminal != 1 {
			t.Errorf("alert %d has %d outcomes, want exactly 1: %+v", s.Seq, terminal, s.Then)
		}
	}
	for _, v := range victims {
		if startsPerTarget[v.ID] != 1 {
			t.Errorf("%s: %d runs started, want 1", v.Name, startsPerTarget[v.ID])
		}
		if d := inspectDetails(t, h, v.ID); d.State != runtime.StatePaused {
			t.Errorf("%s is %s, want paused", v.Name, d.State)
		}
	}
	for _, s := range ss {
		st := s.LastIs(alerts.KindStarted)
		if st == nil {
			continue
		}
		finished := map[string]int{}
		for _, rec := range journal(t, flags, st.Case) {
			if rec.Type == "step_finished" && rec.Status.Succeeded() {
				finished[rec.Step]++
			}
		}
		for step, n := range finished {
			if n > 1 {
				t.Errorf("case %s: step %s finished %d times", st.Case, step, n)
			}
		}
	}
	t.Logf("%d alerts accepted before the kill; %d journalled", accepted.Load(), before)
}

// A rule that approves nothing: the run contains and captures, then stops
// at the playbook's approval (fail closed); `alerts ls` says so and names
// the case; `firebreak approve CASE STEP` resumes it without repeating a
// finished step; `alerts show` gives the alert's whole story.
func TestServeApprovalAnsweredLater(t *testing.T) {
	h := runtimetest.Docker(t)
	vspec, _, _ := h.Network(t)
	v := h.Run(t, runtimetest.Name(t), vspec)
	flags := runFlags(t, "file://"+t.TempDir())
	dir := flagValue(flags, "--state-dir")
	rules := "- name: escape\n  match: {rule: \"Container escape attempt\"}\n  playbook: escape-suspected\n"
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, flags)
	if code, msg := p.post(falcoAlert(v.ShortID(), v.Name), nil); code != http.StatusAccepted {
		t.Fatalf("post: %d %s", code, msg)
	}
	runtimetest.Eventually(t, 60*time.Second, "the alert decided", func() bool { return decided(stories(t, flags)) == 1 })
	p.stop()
	r := cli(t, []string{"--state-dir", dir}, "alerts", "ls")
	if r.code != exitOK || !strings.Contains(r.stdout, "needs-approval, case ") {
		t.Fatalf("alerts ls: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fin := stories(t, flags)[0].LastIs(alerts.KindFinished)
	if d := inspectDetails(t, h, v.ID); d.State != runtime.StatePaused {
		t.Errorf("before the approval the container is %s, want paused (contained before the approval step)", d.State)
	}
	r = cli(t, flags, "approve", fin.Case, "hand_over")
	if r.code != exitOK {
		t.Fatalf("approve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	starts := map[string]int{}
	for _, rec := range journal(t, flags, fin.Case) {
		if rec.Type == "step_started" {
			starts[rec.Step]++
		}
	}
	if starts["isolate"] != 1 || starts["capture"] != 1 || starts["hand_over"] == 0 {
		t.Errorf("steps started %v: want isolate and capture once, hand_over after the approval", starts)
	}
	// alerts ls reads the case's run journal: the approval given since shows.
	r = cli(t, []string{"--state-dir", dir}, "alerts", "ls")
	if r.code != exitOK || !strings.Contains(r.stdout, "needs-approval (approved since), case "+fin.Case) {
		t.Errorf("alerts ls after the approval: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = cli(t, []string{"--state-dir", dir}, "alerts", "ls", "-o", "json"); !strings.Contains(r.stdout, `"approved_since": true`) {
		t.Errorf("alerts ls -o json after the approval lacks approved_since:\n%s", r.stdout)
	}
	r = cli(t, []string{"--state-dir", dir}, "alerts", "show", "1")
	var story alerts.Story
	if err := json.Unmarshal([]byte(r.stdout), &story); err != nil || story.Accepted.Alert == nil || story.Accepted.Alert.Rule != "Container escape attempt" || len(story.Then) < 2 {
		t.Errorf("alerts show 1: %v\n%s", err, r.stdout)
	}
}

// alerts ls keeps the newest stories in bounded memory and --open keeps
// only those without an outcome, on a journal written by the dispatcher's
// own journal code.
func TestAlertsLsLastAndOpen(t *testing.T) {
	dir := t.TempDir()
	j, _, err := alerts.OpenJournal(filepath.Join(dir, "alerts"), "test")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5000; i++ {
		a := alerts.Alert{Format: "falco", Rule: fmt.Sprintf("rule-%d", i), Priority: alerts.Critical, Container: "abcdefabcdef"}
		es := []alerts.Entry{{Seq: uint64(i), Kind: alerts.KindAccepted, Alert: &a}}
		if i%1000 != 0 {
			es = append(es, alerts.Entry{Seq: uint64(i), Kind: alerts.KindSuppressed, Reason: "duplicate"})
		}
		if err := j.Append(es...); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	r := cli(t, []string{"--state-dir", dir}, "alerts", "ls", "--last", "3", "-o", "json")
	var rows []alerts.Story
	err = json.Unmarshal([]byte(r.stdout), &rows)
	// the newest 3, and the older stories still open (no outcome yet: 1000,
	// 2000, 3000, 4000), which a flood must not push out of sight
	var seqs []uint64
	for _, s := range rows {
		seqs = append(seqs, s.Seq)
	}
	if err != nil || fmt.Sprint(seqs) != "[1000 2000 3000 4000 4998 4999 5000]" {
		t.Errorf("ls --last 3: %v %v", err, seqs)
	}
	r = cli(t, []string{"--state-dir", dir}, "alerts", "ls", "--open", "--last", "0", "-o", "json")
	rows = nil
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 5 || rows[0].Seq != 1000 {
		t.Errorf("ls --open: %d rows, %v", len(rows), err)
	}
	r = cli(t, []string{"--state-dir", dir}, "alerts", "show", "4321")
	if r.code != exitOK || !strings.Contains(r.stdout, "rule-4321") || !strings.Contains(r.stdout, "duplicate") {
		t.Errorf("show 4321: exit %d %s", r.code, r.stdout)
	}
	if r := cli(t, []string{"--state-dir", dir}, "alerts", "show", "9999"); r.code != exitUsage {
		t.Errorf("show of an unknown alert: exit %d", r.code)
	}
}

// An alert names its container by ID, never by name: a decoy named after
// the offender's short ID (a process inside knows its own hostname) does
// not draw the response away from the offender.
func TestServeResolvesByIDNotName(t *testing.T) {
	h := runtimetest.Docker(t)
	offender := h.Run(t, runtimetest.Name(t), runtimetest.Spec{})
	decoy := h.Run(t, offender.ShortID(), runtimetest.Spec{})
	flags := runFlags(t, "file://"+t.TempDir())
	p := startServe(t, flags, "--dry-run")
	if code, msg := p.post(falcoAlert(offender.ShortID(), offender.Name), nil); code != http.StatusAccepted {
		t.Fatalf("post: %d %s", code, msg)
	}
	runtimetest.Eventually(t, 30*time.Second, "the alert decided", func() bool { return decided(stories(t, flags)) == 1 })
	s := stories(t, flags)[0]
	e := s.LastIs(alerts.KindDryRun)
	if e == nil || e.Target != offender.ID {
		t.Errorf("the alert for %s (decoy %s named after it) resolved to %+v", offender.ShortID(), decoy.ShortID(), s.Then)
	}
}

// serve --stdin decides every alert of its input before it ends; a stop
// (SIGTERM) is not held up by a pipe that stays open; a --socket path that
// is not a socket is refused, never removed.
func TestServeStdinEndsAndStops(t *testing.T) {
	h := runtimetest.Docker(t)
	a := h.Run(t, runtimetest.Name(t)+"-a", runtimetest.Spec{})
	b := h.Run(t, runtimetest.Name(t)+"-b", runtimetest.Spec{})
	flags := runFlags(t, "file://"+t.TempDir())
	dir := flagValue(flags, "--state-dir")
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(serveRules), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	serveCmd := func(extra ...string) *exec.Cmd {
		cmd := exec.Command(self, append(append([]string{"serve", "--rules", filepath.Join(dir, "rules.yaml"), "--dry-run"}, flags...), extra...)...)
		cmd.Env = append(os.Environ(), "FIREBREAK_TEST_AS_CLI=1")
		return cmd
	}
	in := bytes.Join([][]byte{falcoAlert(a.ShortID(), a.Name), falcoAlert(b.ShortID(), b.Name), falcoAlert(a.ShortID(), a.Name), []byte("not json")}, []byte("\n"))
	cmd := serveCmd("--stdin", "--socket", "")
	cmd.Stdin = bytes.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("serve --stdin: %v\n%s", err, out)
	}
	got := map[string]int{}
	for _, s := range stories(t, flags) {
		for _, e := range s.Then {
			got[e.Kind]++
		}
	}
	if got[alerts.KindDryRun] != 2 || got[alerts.KindSuppressed] != 1 || got[alerts.KindUnresolved] != 0 {
		t.Errorf("after the input ended: %v, want two dry runs and one duplicate", got)
	}

	cmd = serveCmd("--stdin", "--socket", "")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	time.Sleep(500 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("serve --stdin did not stop on SIGTERM while its input stayed open")
	}

	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := serveCmd("--socket", notes).CombinedOutput(); err == nil || !strings.Contains(string(out), "not a socket") {
		t.Errorf("--socket on a regular file: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "keep me" {
		t.Errorf("the file at --socket was changed: %q %v", b, err)
	}
}

// TestServeOutlivesAHangup: serve is a daemon: the terminal it was started
// from closing (SIGHUP) does not stop it; SIGTERM still does, cleanly.
func TestServeOutlivesAHangup(t *testing.T) {
	runtimetest.Docker(t)
	p := startServe(t, runFlags(t, "file://"+t.TempDir()), "--dry-run")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	resp, err := p.client.Get("http://serve/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("serve after a hangup: %v %v\n%s", resp, err, p.stderr.String())
	}
	resp.Body.Close()
	p.stop()
	if c := p.cmd.ProcessState.ExitCode(); c != 0 {
		t.Errorf("serve stopped with SIGTERM: exit %d\n%s", c, p.stderr.String())
	}
}
