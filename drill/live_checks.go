package drill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"firebreak/collect"
	"firebreak/evidence"
	"firebreak/internal/netns"
	"firebreak/runtime"
)

// check judges the outcomes, not the clicks: the decoy can no longer
// reach its peer, it is frozen, the case verifies, the planted artifacts
// are in the captured evidence, and the restored service answers. Each
// artifact found is an artifact:KIND event for the scoring.
func (x *liveRun) check(ctx context.Context) {
	if x.needContain() {
		x.checkCut(ctx)
		x.checkFrozen(ctx)
	} else {
		x.checkUndisturbed(ctx)
	}
	ev, err := x.s.Evidence()
	if err != nil {
		x.addCheck(Check{Name: "evidence-verifies", Detail: "the store could not be opened: " + err.Error()})
		return
	}
	rep, err := evidence.VerifyCase(ctx, ev.Store, x.caseID, evidence.VerifyOptions{Keys: []evidence.TrustedKey{{Key: ev.Signer.Pub, Source: "the session's signing key"}}})
	switch {
	case err != nil:
		x.addCheck(Check{Name: "evidence-verifies", Detail: oneLine(err.Error())})
	case !rep.OK():
		var ps []string
		for _, p := range rep.Problems {
			ps = append(ps, p.Key+": "+p.What)
		}
		x.addCheck(Check{Name: "evidence-verifies", Detail: fmt.Sprintf("case %s: %d problems: %s", x.caseID, len(ps), strings.Join(first(ps, 3), "; "))})
	default:
		x.addCheck(Check{Name: "evidence-verifies", OK: true, Detail: fmt.Sprintf("case %s: %d runs, %d artifacts, every digest, signature and custody link checked", x.caseID, rep.Runs, rep.Artifacts)})
	}
	if err != nil || !rep.OK() {
		// Evidence counts only as a bundle that verifies.
		for i := range x.res.Measures {
			if m := &x.res.Measures[i]; m.Name == "evidence" && m.Done {
				*m = Measure{Name: m.Name, Target: m.Target, Source: "the case does not verify"}
			}
		}
		x.mu.Lock()
		delete(x.marks, EventEvidence)
		x.mu.Unlock()
	}
	c := x.openCapture(ctx, ev.Store)
	if x.want.files != nil || x.want.hostFiles != nil {
		x.checkFiles(ctx, c)
	}
	if x.want.process != nil {
		x.checkProcess(c)
	}
	if x.want.socketPort != 0 {
		x.checkSocket(c)
	}
	if x.want.binary {
		x.checkBinary(c)
	}
	if x.want.calls {
		x.checkCalls()
	}
	if len(x.want.mounts) > 0 {
		x.checkMounts(c)
	}
	if x.want.service {
		x.checkService(ctx)
	}
}

func (x *liveRun) checkCut(ctx context.Context) {
	if x.reached == nil || !*x.reached {
		x.addCheck(Check{Name: "peer-unreachable", Detail: "not proven: the decoy did not reach its peer before the response"})
		return
	}
	ok, detail, err := x.probe(ctx)
	switch {
	case err != nil:
		x.addCheck(Check{Name: "peer-unreachable", Detail: "the probe failed: " + err.Error()})
	case ok:
		x.addCheck(Check{Name: "peer-unreachable", Detail: "the decoy STILL reaches its peer: " + detail})
	default:
		x.addCheck(Check{Name: "peer-unreachable", OK: true, Detail: "probed from the decoy's network namespace: " + detail})
	}
}

func (x *liveRun) checkFrozen(ctx context.Context) {
	d, err := x.d.Inspect(ctx, x.target)
	switch {
	case err != nil:
		x.addCheck(Check{Name: "frozen", Detail: err.Error()})
	case d.State == runtime.StatePaused:
		x.addCheck(Check{Name: "frozen", OK: true, Detail: "the engine reports it paused"})
	case d.State == runtime.StateStopped:
		x.addCheck(Check{Name: "frozen", OK: true, Detail: "stopped by the response: nothing of it runs"})
	default:
		x.addCheck(Check{Name: "frozen", Detail: fmt.Sprintf("the engine reports it %s", d.State)})
	}
}

// checkUndisturbed is the outcome of a scenario that asks for evidence
// without a containment: the service still runs and reaches its peer.
func (x *liveRun) checkUndisturbed(ctx context.Context) {
	d, err := x.d.Inspect(ctx, x.target)
	if err != nil {
		x.addCheck(Check{Name: "undisturbed", Detail: err.Error()})
		return
	}
	if d.State != runtime.StateRunning {
		x.addCheck(Check{Name: "undisturbed", Detail: fmt.Sprintf("the scenario asks for no containment, but the engine reports it %s", d.State)})
		return
	}
	ok, detail, err := x.probe(ctx)
	switch {
	case err != nil:
		x.addCheck(Check{Name: "undisturbed", Detail: "the probe failed: " + err.Error()})
	case !ok && x.reached != nil && *x.reached:
		x.addCheck(Check{Name: "undisturbed", Detail: "it runs, but no longer reaches its peer: " + detail})
	default:
		x.addCheck(Check{Name: "undisturbed", OK: true, Detail: "it still runs and reaches its peer (" + detail + "): the capture did not disturb the service"})
	}
}

// capture is the suspect's newest capture in the case.
type capture struct {
	st     evidence.Store
	prefix string // cases/<case>/<id>/<time>/
	digest map[string]string
	err    string
}

func (x *liveRun) openCapture(ctx context.Context, st evidence.Store) *capture {
	c := &capture{st: st, digest: map[string]string{}}
	ms, err := evidence.Manifests(ctx, st, x.caseID)
	if err != nil {
		c.err = "the case holds no capture: " + oneLine(err.Error())
		return c
	}
	var prefixes []string
	for _, m := range ms {
		for _, a := range m.Artifacts {
			c.digest[a.Key] = a.SHA256
			if a.Container != x.target {
				continue
			}
			if name := path.Base(a.Key); name == "inspect.json" || name == "processes.json" {
				prefixes = append(prefixes, strings.TrimSuffix(a.Key, name))
			}
		}
	}
	if len(prefixes) == 0 {
		c.err = "the case holds no capture of the decoy"
		return c
	}
	sort.Strings(prefixes)
	c.prefix = prefixes[len(prefixes)-1]
	return c
}

// load reads one JSON artifact of the capture.
func (c *capture) load(ctx context.Context, name string, v any) error {
	if c.err != "" {
		return fmt.Errorf("%s", c.err)
	}
	key := c.prefix + name
	if _, ok := c.digest[key]; !ok {
		return fmt.Errorf("the capture holds no %s (the response did not take it)", name)
	}
	r, err := c.st.Get(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	return json.NewDecoder(io.LimitReader(r, 256<<20)).Decode(v)
}

// found records an artifact check and, when it passed, its event.
func (x *liveRun) found(kind string, ok bool, detail string) {
	x.addCheck(Check{Name: EventEvidenceOf + kind, OK: ok, Detail: detail})
	if !ok {
		return
	}
	at := time.Now()
	if m, ok := x.getMark(EventEvidence); ok {
		at = m.at
	}
	x.setMark(EventEvidenceOf+kind, mark{at: at, source: "journal", detail: detail})
}

func (x *liveRun) checkFiles(ctx context.Context, c *capture) {
	var missing, have []string
	if len(x.want.files) > 0 {
		var changes []collect.FileChange
		if err := c.load(ctx, "fsdiff/changes.json", &changes); err != nil {
			missing = append(missing, "fs diff: "+err.Error())
		} else {
			for _, w := range x.want.files {
				i := slices.IndexFunc(changes, func(f collect.FileChange) bool {
					return f.Path == w.path && f.Kind != "D" && (w.sha == "" || f.SHA256 == w.sha)
				})
				if i < 0 {
					missing = append(missing, w.path+" not in the fs diff with the planted content")
				} else {
					have = append(have, w.path)
				}
			}
		}
	}
	if len(x.want.hostFiles) > 0 {
		var a collect.Assessment
		named := false
		if err := c.load(ctx, "indicators.json", &a); err == nil {
			for _, f := range a.Findings {
				if f.ID == "live-host-mount-writes" && strings.Contains(f.Evidence, x.sb.HostDir) {
					named = true
				}
			}
		}
		for _, w := range x.want.hostFiles {
			sum, err := collect.FileSHA256(filepath.Join(x.sb.HostDir, w.path))
			switch {
			case err != nil:
				missing = append(missing, "the planted "+w.path+": "+err.Error())
			case sum != w.sha:
				missing = append(missing, "the planted "+w.path+" is not what the decoy wrote")
			case !named:
				missing = append(missing, "the capture's indicators do not name the writes under the decoy host root")
			default:
				have = append(have, "host root /"+w.path+" (named by the capture's indicators)")
			}
		}
	}
	if len(missing) > 0 {
		x.found("file", false, strings.Join(missing, "; "))
		return
	}
	x.found("file", true, "planted files in the evidence: "+strings.Join(have, ", "))
}

func (x *liveRun) loadProcs(c *capture) ([]collect.Process, error) {
	var ps []collect.Process
	err := c.load(context.Background(), "processes.json", &ps)
	return ps, err
}

func (x *liveRun) checkProcess(c *capture) {
	ps, err := x.loadProcs(c)
	if err != nil {
		x.found("process", false, err.Error())
		return
	}
	holders := map[int]bool{}
	if x.want.process.onSocket {
		var n collect.NetworkState
		if err := c.load(context.Background(), "network.json", &n); err != nil {
			x.found("process", false, err.Error())
			return
		}
		want := net.JoinHostPort(x.peerAddr, fmt.Sprint(x.peerPort))
		for _, s := range n.Sockets {
			if s.Remote == want {
				for _, pid := range s.PIDs {
					holders[pid] = true
				}
			}
		}
	}
	for _, p := range ps {
		if x.want.process.match(p) && (!x.want.process.onSocket || holders[p.PID]) {
			x.found("process", true, fmt.Sprintf("%s, in the captured process tree: pid %d (%s)", x.want.process.text, p.PID, clip(oneLine(strings.Join(p.Cmdline, " ")), 80)))
			return
		}
	}
	x.found("process", false, fmt.Sprintf("%s is not in the captured process tree (%d processes)", x.want.process.text, len(ps)))
}

func (x *liveRun) checkSocket(c *capture) {
	var n collect.NetworkState
	if err := c.load(context.Background(), "network.json", &n); err != nil {
		x.found("socket", false, err.Error())
		return
	}
	want := net.JoinHostPort(x.peerAddr, fmt.Sprint(x.want.socketPort))
	for _, s := range n.Sockets {
		if strings.HasPrefix(s.Proto, "tcp") && s.Remote == want {
			pids := slices.Compact(slices.Sorted(slices.Values(s.PIDs)))
			x.found("socket", true, fmt.Sprintf("the connection %s -> %s (%s) held by pid %v, in the captured sockets", s.Local, s.Remote, s.State, pids))
			return
		}
	}
	x.found("socket", false, "no connection to "+want+" in the captured sockets")
}

func (x *liveRun) checkBinary(c *capture) {
	ps, err := x.loadProcs(c)
	if err != nil {
		x.found("binary", false, err.Error())
		return
	}
	for _, p := range ps {
		if !p.ExeDeleted || p.ExeContent == nil {
			continue
		}
		key := p.ExeContent.Key
		if !strings.HasPrefix(key, "cases/") {
			key = c.prefix + key
		}
		stored := c.digest[key]
		switch {
		case stored == "":
			continue
		case x.busyboxSHA != "" && p.ExeContent.SHA256 != x.busyboxSHA:
			x.found("binary", false, fmt.Sprintf("the kept content of %s is not the dropped binary (sha256 %.16s, want %.16s)", p.Exe, p.ExeContent.SHA256, x.busyboxSHA))
			return
		}
		x.found("binary", true, fmt.Sprintf("the deleted %s kept whole: %s, sha256 %.16s…", p.Exe, key, stored))
		return
	}
	x.found("binary", false, "no deleted executable's content in the capture")
}

func (x *liveRun) checkCalls() {
	x.mu.Lock()
	calls := slices.Clone(x.calls)
	x.mu.Unlock()
	var refused, answered int
	for _, c := range calls {
		switch c.Verdict {
		case CallRefused:
			refused++
		case CallAnswered:
			answered++
		}
	}
	if refused == 0 {
		x.found("call", false, fmt.Sprintf("the decoy socket logged %d calls, none refused", len(calls)))
		return
	}
	x.found("call", true, fmt.Sprintf("the decoy socket answered %d reads and refused %d writes (create, exec), each logged", answered, refused))
}

func (x *liveRun) checkMounts(c *capture) {
	var doc struct {
		Mounts []struct{ Source, Destination string }
	}
	if err := c.load(context.Background(), "inspect.json", &doc); err != nil {
		x.found("mount", false, err.Error())
		return
	}
	var missing []string
	for _, w := range x.want.mounts {
		if !slices.ContainsFunc(doc.Mounts, func(m struct{ Source, Destination string }) bool { return m.Destination == w }) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		x.found("mount", false, "not in the captured configuration: "+strings.Join(missing, ", "))
		return
	}
	x.found("mount", true, "the captured configuration shows "+strings.Join(x.want.mounts, ", "))
}

// checkService asks the restored service for its page from the peer's
// network namespace.
func (x *liveRun) checkService(ctx context.Context) {
	cs, err := x.api.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelDrill+"="+x.o.ID), filters.Arg("label", LabelRole+"=svc"))})
	if err != nil {
		x.addCheck(Check{Name: "service-answers", Detail: err.Error()})
		return
	}
	var id string
	for _, c := range cs {
		if c.ID != x.target && c.State == "running" {
			id = c.ID
		}
	}
	if id == "" {
		x.addCheck(Check{Name: "service-answers", Detail: "no restored service runs"})
		return
	}
	addr, err := x.sb.address(ctx, id)
	if err != nil {
		x.addCheck(Check{Name: "service-answers", Detail: err.Error()})
		return
	}
	peer, err := x.d.Inspect(ctx, x.peer)
	if err != nil || peer.NetNSPath == "" {
		x.addCheck(Check{Name: "service-answers", Detail: "the peer to ask from is gone"})
		return
	}
	url := "http://" + net.JoinHostPort(addr, fmt.Sprint(peerPort)) + "/index.html"
	var body []byte
	err = netns.Do(peer.NetNSPath, func() error {
		d := &net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, fmt.Sprint(peerPort)))
		if err != nil {
			return err
		}
		tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 3 * time.Second}
		resp, err := cl.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(io.LimitReader(resp.Body, 4096))
		return err
	})
	switch {
	case err != nil:
		x.addCheck(Check{Name: "service-answers", Detail: "asking " + url + ": " + err.Error()})
	case !strings.Contains(string(body), "fbdrill-ok"):
		x.addCheck(Check{Name: "service-answers", Detail: fmt.Sprintf("%s answers %q, not its content from before the damage", url, oneLine(string(body)))})
	default:
		x.addCheck(Check{Name: "service-answers", OK: true, Detail: fmt.Sprintf("the restored service %s answers %s with its content from before the damage", runtime.ShortID(id), url)})
	}
}

// busyboxDigest is the digest of the decoy image's busybox, which the
// dropping decoys copy: read from the decoy's root through /proc, under
// os.Root so no link leads out of it.
func (x *liveRun) busyboxDigest(ctx context.Context) string {
	d, err := x.d.Inspect(ctx, x.target)
	if err != nil || d.Pid <= 0 {
		return ""
	}
	root, err := os.OpenRoot(fmt.Sprintf("/proc/%d/root", d.Pid))
	if err != nil {
		return ""
	}
	defer root.Close()
	f, err := root.Open("bin/busybox")
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
