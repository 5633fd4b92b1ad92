package drill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/netns"
	"firebreak/playbooks"
	"firebreak/runtime"
)

// engineEvent is one event the engine reported about a drill container.
type engineEvent struct {
	Time   time.Time
	Action string // as the engine says it: "start", "pause", "health_status: healthy", "exec_start: sh -c ..."
	ID     string
	Name   string
	Role   string
}

// watchEvents follows the engine's events about the drill's containers
// (by label) from since, so none made before the subscription is missed,
// until ctx ends; a stream that fails is taken up again from the last
// event.
func (x *liveRun) watchEvents(ctx context.Context, since time.Time) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		msgs, errs := x.api.Events(ctx, events.ListOptions{
			Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
			Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", LabelDrill+"="+x.o.ID)),
		})
	stream:
		for {
			select {
			case m := <-msgs:
				t := time.Unix(0, m.TimeNano).UTC()
				if m.TimeNano == 0 {
					t = time.Unix(m.Time, 0).UTC()
				}
				key := fmt.Sprintf("%d %s %s", t.UnixNano(), m.Actor.ID, m.Action)
				if seen[key] {
					continue
				}
				seen[key] = true
				since = t
				ev := engineEvent{Time: t, Action: string(m.Action), ID: m.Actor.ID, Name: m.Actor.Attributes["name"], Role: m.Actor.Attributes[LabelRole]}
				x.mu.Lock()
				x.events = append(x.events, ev)
				x.cond.Broadcast()
				x.mu.Unlock()
			case <-errs:
				break stream
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitEvent waits for an event that pred accepts, up to timeout.
func (x *liveRun) waitEvent(ctx context.Context, timeout time.Duration, pred func(engineEvent) bool) (engineEvent, bool) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(wctx, func() {
		x.mu.Lock()
		x.cond.Broadcast()
		x.mu.Unlock()
	})
	defer stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	for {
		for _, e := range x.events {
			if pred(e) {
				return e, true
			}
		}
		if wctx.Err() != nil {
			return engineEvent{}, false
		}
		x.cond.Wait()
	}
}

// firstEvent is the first event so far that pred accepts.
func (x *liveRun) firstEvent(pred func(engineEvent) bool) (engineEvent, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.events {
		if pred(e) {
			return e, true
		}
	}
	return engineEvent{}, false
}

// waitArmed follows the decoy's output until it says it has acted.
func (x *liveRun) waitArmed(ctx context.Context, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := x.api.ContainerLogs(wctx, x.target, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true, Timestamps: true})
	if err != nil {
		return fmt.Errorf("following the decoy's output: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for sc.Scan() {
		// Each line comes with the engine's time of it.
		stamp, line, _ := strings.Cut(sc.Text(), " ")
		if strings.Contains(line, armed) {
			x.armedAt = time.Now()
			if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
				x.armedAt = t
			}
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			return nil
		}
		lines = append(lines, oneLine(line))
		if len(lines) > 5 {
			lines = lines[1:]
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	why := "it did not act within " + timeout.String()
	if wctx.Err() == nil {
		why = "it ended before it acted"
	}
	if len(lines) > 0 {
		why += "; its last output: " + strings.Join(lines, " | ")
	}
	return fmt.Errorf("the %s decoy failed: %s", x.dk.kind, why)
}

// watchDetection runs triage of the suspect every 100 ms until a finding
// names the decoy's technique (or, for the service, waits for the engine
// to call it unhealthy), and marks the first.
func (x *liveRun) watchDetection(ctx context.Context) {
	name := x.sb.name(roleOf(x.dk))
	if x.dk.detectHealth {
		ev, ok := x.waitEvent(ctx, 24*time.Hour, func(e engineEvent) bool {
			return e.ID == x.target && e.Action == "health_status: unhealthy" && !e.Time.Before(x.t0)
		})
		if ok && x.setMark(EventDetected, mark{at: ev.Time, source: "engine", detail: "the engine reports " + name + " unhealthy"}) {
			x.add(Entry{Time: ev.Time, Kind: "finding", Ref: EventDetected, Source: "engine", Text: "detected: the engine's health check reports " + name + " unhealthy"})
		}
		return
	}
	if len(x.dk.detect) == 0 {
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	targets := []runtime.Container{{ID: x.target}}
	for {
		as, _ := collect.AssessWith(ctx, x.d, targets, collect.DefaultAssessOptions())
		at := time.Now()
		for _, a := range as {
			for _, f := range a.Findings {
				if slices.Contains(x.dk.detect, f.ID) {
					if x.setMark(EventDetected, mark{at: at, source: "triage", detail: f.ID}) {
						x.add(Entry{Time: at, Kind: "finding", Ref: EventDetected, Source: "triage",
							Text: fmt.Sprintf("detected: triage names %s: %s (%s): %s", name, f.Title, f.ID, f.Evidence)})
					}
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe tries a TCP connection from the suspect's network namespace to
// its peer, as contain's verification does: only the socket is made in
// that namespace, nothing runs in the container. Accept or reset is
// reachable; a timeout or a local refusal is not.
func (x *liveRun) probe(ctx context.Context) (reachable bool, detail string, err error) {
	d, err := x.d.Inspect(ctx, x.target)
	if err != nil {
		return false, "", err
	}
	if d.Pid <= 0 || d.NetNSPath == "" {
		return false, fmt.Sprintf("it is %s: no process is left to reach anything", d.State), nil
	}
	target := net.JoinHostPort(x.peerAddr, fmt.Sprint(x.peerPort))
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var conn net.Conn
	err = netns.Do(d.NetNSPath, func() error {
		var dl net.Dialer
		c, err := dl.DialContext(pctx, "tcp", target)
		conn = c
		return err
	})
	var nsErr *netns.Error
	switch {
	case errors.As(err, &nsErr):
		return false, "", err
	case err == nil:
		conn.Close()
		return true, target + " connected", nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, target + " refused (the peer answered)", nil
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return false, target + " timed out", nil
	}
	return false, target + ": " + err.Error(), nil
}

// baselineProbe checks that the decoy reaches its peer before anyone
// acts: a cut is proven only against a peer that answered before.
func (x *liveRun) baselineProbe(ctx context.Context) {
	ok, detail, err := x.probe(ctx)
	if err != nil {
		x.notes = append(x.notes, "the baseline probe failed: "+err.Error())
		return
	}
	x.reached = &ok
	text := "probe: the decoy reaches its peer (" + detail + ")"
	if !ok {
		text = "probe: the decoy does NOT reach its peer before the response (" + detail + "): the cut cannot be proven"
	}
	x.add(Entry{Time: time.Now(), Kind: "probe", Source: "probe", Text: text})
}

// observe reads what the team (or the playbook) did so far: the suspect's
// containment record, a probe once its network is held, and (when
// evidenceToo) the case's evidence in the store.
func (x *liveRun) observe(ctx context.Context, evidenceToo bool) {
	if _, ok := x.getMark("probe-cut"); !ok {
		if rec := x.record(); rec != nil && rec.Network != nil && (rec.Network.Firewall || detachedAny(rec.Network)) {
			if ok, detail, err := x.probe(ctx); err == nil && !ok {
				now := time.Now()
				if x.setMark("probe-cut", mark{at: now, source: "probe", detail: detail}) {
					x.add(Entry{Time: now, Kind: "probe", Source: "probe", Text: "probe: the decoy no longer reaches its peer (" + detail + ")"})
				}
			}
		}
	}
	if evidenceToo {
		if _, ok := x.getMark(EventEvidence); !ok {
			x.findEvidence(ctx)
		}
	}
}

// observeLoop observes every 200 ms until ctx ends (during an unattended
// run, for the drill's own probe).
func (x *liveRun) observeLoop(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		x.observe(ctx, false)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func detachedAny(n *contain.NetworkHold) bool {
	for _, d := range n.Detached {
		if d.Done {
			return true
		}
	}
	return false
}

// record is the suspect's containment record (nil when none is held).
func (x *liveRun) record() *contain.Record {
	c, err := x.s.Containment()
	if err != nil {
		return nil
	}
	rec, _ := c.Status(x.target)
	return rec
}

// cases are the cases the response may have worked in: the drill's, and
// the one the containment record names.
func (x *liveRun) cases() []string {
	out := []string{x.caseID}
	if rec := x.record(); rec != nil && rec.Case != "" && rec.Case != x.caseID {
		out = append(out, rec.Case)
	}
	return out
}

// findEvidence looks for a finished run of the case that holds the
// suspect's artifacts and verifies the case; the first that verifies is
// the evidence measure (the manifest's seal time, from the custody
// record).
func (x *liveRun) findEvidence(ctx context.Context) {
	ev, err := x.s.Evidence()
	if err != nil {
		return
	}
	for _, c := range x.cases() {
		ms, err := evidence.Manifests(ctx, ev.Store, c)
		if err != nil {
			continue
		}
		var sealed time.Time
		for _, m := range ms {
			if holdsTarget(m, x.target) && (sealed.IsZero() || m.Finished.Before(sealed)) {
				sealed = m.Finished
			}
		}
		if sealed.IsZero() {
			continue
		}
		rep, err := evidence.VerifyCase(ctx, ev.Store, c, evidence.VerifyOptions{Keys: []evidence.TrustedKey{{Key: ev.Signer.Pub, Source: "the session's signing key"}}})
		if err != nil || !rep.OK() {
			continue
		}
		if c != x.caseID {
			x.mu.Lock()
			x.caseID = c
			x.res.Case = c
			x.mu.Unlock()
		}
		if x.setMark(EventEvidence, mark{at: sealed, source: "journal", detail: "case " + c + " sealed and verified"}) {
			x.add(Entry{Time: sealed, Kind: "measure", Ref: EventEvidence, Source: "journal", Text: "evidence: case " + c + " holds the decoy's capture, sealed and verified"})
		}
		return
	}
}

func holdsTarget(m evidence.Manifest, id string) bool {
	for _, a := range m.Artifacts {
		if a.Container == id {
			return true
		}
	}
	return false
}

// allMeasured says whether every measure the drill takes is taken.
func (x *liveRun) allMeasured() bool {
	need := []string{EventEvidence}
	if len(x.dk.detect) > 0 || x.dk.detectHealth {
		need = append(need, EventDetected)
	}
	if x.needContain() {
		need = append(need, "probe-cut")
	}
	for _, n := range need {
		if _, ok := x.getMark(n); !ok {
			return false
		}
	}
	if _, ok := x.firstEvent(func(e engineEvent) bool { return e.ID == x.target && e.Action == "pause" }); x.needContain() && !ok {
		return false
	}
	if x.needRestore() {
		if _, ok := x.restoredEvent(); !ok {
			return false
		}
	}
	return true
}

func (x *liveRun) needRestore() bool { return x.dk.restore || x.sc.Targets.Restore > 0 }

// needContain says whether the scenario asks for a containment (a target
// for it, or an expectation waiting for it); a scenario that does not
// (capture without disturbing the service) is checked the other way.
func (x *liveRun) needContain() bool {
	return expects(x.sc, EventContained) || x.sc.Targets.Contain > 0
}

func expects(sc *Scenario, event string) bool {
	for _, in := range sc.Injects {
		for _, e := range in.Expectations {
			if e.Event == event {
				return true
			}
		}
	}
	return false
}

// restoredEvent is the engine calling a new container of the service
// healthy after the incident began.
func (x *liveRun) restoredEvent() (engineEvent, bool) {
	return x.firstEvent(func(e engineEvent) bool {
		return e.ID != x.target && e.Role == "svc" && e.Action == "health_status: healthy" && e.Time.After(x.t0)
	})
}

// measure takes the four measures from the engine's events, the run's
// journal, the containment record and the drill's probes.
func (x *liveRun) measure(ctx context.Context) {
	x.observe(ctx, x.o.Interactive)
	x.takeMarks(ctx, true)
	if len(x.dk.detect) == 0 && !x.dk.detectHealth {
		x.notes = append(x.notes, fmt.Sprintf("detection: Firebreak's triage has no rule that names a %s; the drill cannot time detection (it must come from elsewhere: an alert, a sensor)", x.dk.kind))
	}
	x.res.Measures = x.measures()
}

// takeMarks marks what the engine's events, the run's journal, the
// containment record and the drill's probes show so far: contained,
// evidence (with evidenceToo, a case that verifies is looked for too),
// restored, a playbook run finished. A mark, once set, stays.
func (x *liveRun) takeMarks(ctx context.Context, evidenceToo bool) {
	var cutJ, frozenJ, verifiedJ, ranJ time.Time
	var pbName string
	if recs, err := playbooks.LoadJournal(x.stateDir, x.caseID); err == nil {
		if x.res.Journal == "" {
			x.res.Journal = filepath.Join(x.stateDir, "runs", x.caseID, "journal.jsonl")
		}
		actions := map[string]string{}
		for _, r := range recs {
			if (r.Type == playbooks.EventRunStarted || r.Type == playbooks.EventRunResumed) && r.Playbook != "" {
				pbName = r.Playbook
				pb := x.playbook
				if pb == nil || pb.Name != r.Playbook {
					pb = x.loadPlaybook(r.Playbook)
				}
				if pb != nil {
					for _, st := range pb.Steps {
						actions[st.ID] = st.Action
					}
				}
			}
			if r.Type == playbooks.EventRunFinished && ranJ.IsZero() {
				ranJ = r.Time
			}
			if r.Type != playbooks.EventStepFinished || r.Target != x.target || r.Status != playbooks.StatusOK {
				continue
			}
			switch actions[r.Step] {
			case "contain.network":
				if v, _ := r.Outputs["verdict"].(string); v == string(contain.Isolated) && cutJ.IsZero() {
					cutJ = r.Time
				}
			case "contain.pause":
				if frozenJ.IsZero() {
					frozenJ = r.Time
				}
			case "evidence.verify":
				if verifiedJ.IsZero() {
					verifiedJ = r.Time
				}
			}
		}
	}
	if !ranJ.IsZero() && pbName != "" {
		x.setMark(EventPlaybook+pbName, mark{at: ranJ, source: "journal"})
	}
	// Cut: contain's own verification (the journal); else the record's
	// first cut act, proven by the drill's probe; else the probe alone.
	var cut mark
	probeCut, probed := x.getMark("probe-cut")
	switch {
	case !cutJ.IsZero():
		cut = mark{at: cutJ, source: "journal", detail: "contain.network verified isolated"}
	case probed:
		cut = probeCut
		if rec := x.record(); rec != nil {
			for _, e := range rec.Log {
				if (e.Action == "firewall" || e.Action == "disconnect") && e.Error == "" {
					cut = mark{at: e.Time, source: "journal", detail: "containment record: " + e.Action + ", proven by the drill's probe"}
					break
				}
			}
		}
	}
	var frozen mark
	if ev, ok := x.firstEvent(func(e engineEvent) bool { return e.ID == x.target && e.Action == "pause" && e.Time.After(x.t0) }); ok {
		frozen = mark{at: ev.Time, source: "engine", detail: "the engine paused it"}
	} else if !frozenJ.IsZero() {
		frozen = mark{at: frozenJ, source: "journal", detail: "contain.pause finished"}
	}
	if !cut.at.IsZero() && !frozen.at.IsZero() {
		m := cut
		if frozen.at.After(cut.at) {
			m = frozen
		}
		m.detail = fmt.Sprintf("network cut %s (%s) and frozen %s (%s)", x.offset(cut.at), cut.source, x.offset(frozen.at), frozen.source)
		if x.setMark(EventContained, m) {
			x.add(Entry{Time: m.at, Kind: "measure", Ref: EventContained, Source: m.source, Text: "contained: " + m.detail})
		}
	}
	if !verifiedJ.IsZero() {
		if x.setMark(EventEvidence, mark{at: verifiedJ, source: "journal", detail: "evidence.verify: the case verified"}) {
			x.add(Entry{Time: verifiedJ, Kind: "measure", Ref: EventEvidence, Source: "journal", Text: "evidence: the playbook sealed and verified the decoy's capture"})
		}
	} else if evidenceToo {
		x.findEvidence(ctx)
	}
	if x.needRestore() {
		if ev, ok := x.restoredEvent(); ok && x.setMark(EventRestored, mark{at: ev.Time, source: "engine", detail: "the engine reports " + ev.Name + " healthy"}) {
			x.add(Entry{Time: ev.Time, Kind: "measure", Ref: EventRestored, Source: "engine", Text: "restored: the engine reports " + ev.Name + " (" + runtime.ShortID(ev.ID) + ") healthy"})
		}
	}
}

// loadPlaybook is a playbook a run of the case named, loaded once (nil
// when it cannot be).
func (x *liveRun) loadPlaybook(name string) *playbooks.Playbook {
	if pb, ok := x.pbCache[name]; ok {
		return pb
	}
	pb, _ := x.s.LoadPlaybook(name)
	if x.pbCache == nil {
		x.pbCache = map[string]*playbooks.Playbook{}
	}
	x.pbCache[name] = pb
	return pb
}

// measures are the drill's targets as measured so far: detect, contain
// (when asked for, or done), evidence, restore (when asked for).
func (x *liveRun) measures() []Measure {
	t := x.sc.Targets
	out := []Measure{x.measureOf("detect", EventDetected, t.Detect)}
	if _, contained := x.getMark(EventContained); contained || x.needContain() {
		out = append(out, x.measureOf("contain", EventContained, t.Contain))
	}
	out = append(out, x.measureOf("evidence", EventEvidence, t.Evidence))
	if x.needRestore() {
		out = append(out, x.measureOf("restore", EventRestored, t.Restore))
	}
	return out
}

func (x *liveRun) measureOf(name, event string, target time.Duration) Measure {
	m := Measure{Name: name, Target: Millis(target / time.Millisecond)}
	mk, ok := x.getMark(event)
	if !ok {
		m.Source = "not observed"
		if name == "detect" && len(x.dk.detect) == 0 && !x.dk.detectHealth {
			m.Source = "no triage rule names this technique"
		}
		return m
	}
	x.mu.Lock()
	t0 := x.t0
	x.mu.Unlock()
	m.Done, m.Source = true, mk.source
	m.Took = Millis(max(mk.at.Sub(t0), 0) / time.Millisecond)
	m.Met = m.Target == 0 || m.Took <= m.Target
	return m
}

func (x *liveRun) offset(t time.Time) string {
	return FormatOffset(t.Sub(x.t0))
}

// proxyCall records a call on the decoy socket.
func (x *liveRun) proxyCall(c ProxyCall) {
	x.mu.Lock()
	x.calls = append(x.calls, c)
	n := len(x.calls)
	x.mu.Unlock()
	if n <= 10 || c.Verdict == CallRefused && n <= 20 {
		x.add(Entry{Time: c.Time, Kind: "decoy", Source: "decoy", Text: fmt.Sprintf("engine socket: %s %s: %s (%d)", c.Method, c.Path, c.Verdict, c.Status)})
	}
}

// waitHealthy waits for the engine to call a container healthy.
func (x *liveRun) waitHealthy(ctx context.Context, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := x.api.ContainerInspect(ctx, id)
		if err != nil {
			return err
		}
		if c.State != nil && c.State.Health != nil && c.State.Health.Status == "healthy" {
			return nil
		}
		if c.State != nil && !c.State.Running {
			return fmt.Errorf("%s stopped before it was healthy", strings.TrimPrefix(c.Name, "/"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not healthy within %s", strings.TrimPrefix(c.Name, "/"), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exec runs a command in one of the drill's containers (the "attacker"
// of the service) and returns its exit code.
func (x *liveRun) exec(ctx context.Context, id string, cmd []string) (int, error) {
	res, err := x.d.Exec(ctx, id, cmd)
	return res.ExitCode, err
}

// dockerSocket is the engine's unix socket on the host, if it is one.
func dockerSocket(api *client.Client) string {
	h := api.DaemonHost()
	if p, ok := strings.CutPrefix(h, "unix://"); ok {
		return p
	}
	return "/var/run/docker.sock"
}
