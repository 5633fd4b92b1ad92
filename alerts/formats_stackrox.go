package alerts

// stackrox — the generic webhook ({"alert": storage.Alert as jsonpb writes
// it, camelCase, zero values omitted}, central/notifiers/generic in
// stackrox/stackrox), plus the custom fields the notifier is configured to
// add at the top level: so unknown top-level keys are allowed (and kept in
// Fields), and unknown keys inside alert too (the proto grows). alert.id,
// alert.policy.name, alert.policy.severity and alert.time are required.
// Severity LOW/MEDIUM/HIGH/CRITICAL_SEVERITY → notice, warning, error,
// critical. Source is lifecycleStage, "DEPLOY" when absent (its zero value,
// which jsonpb omits). Resolved when state is "RESOLVED". Container is
// processViolation.processes[].signal.containerId of the most recent
// process (by signal.time; the last listed on a tie) — containerName is a
// name, not an ID — and Pod is that process's namespace/podId. The
// notifier's "Test" button posts an alert with id "testalert" and neither
// severity nor time: it decodes to no alerts, not an error. The same
// notifier's {"audit": ...} and {"networkpolicy": ...} messages are refused
// as not alerts.

import (
	"strings"
	"time"
)

var stackroxSeverities = map[string]Priority{
	"LOW_SEVERITY":      Notice,
	"MEDIUM_SEVERITY":   Warning,
	"HIGH_SEVERITY":     Error,
	"CRITICAL_SEVERITY": Critical,
}

func decodeStackRox(body []byte) ([]Alert, error) {
	r := &reader{format: "stackrox"}
	root, err := r.parse(body, `a StackRox webhook payload, {"alert": ...}`)
	if err != nil {
		return nil, err
	}
	if _, ok := root.field("alert"); !ok {
		for _, other := range []string{"audit", "networkpolicy"} {
			if _, ok := root.field(other); ok {
				return nil, r.errf(other, "a StackRox %s message, not an alert: post only alerts here (turn audit logging off on this notifier)", other)
			}
		}
	}
	al, _, err := r.obj(root, "alert", true, "the alert")
	if err != nil {
		return nil, err
	}
	a := Alert{Format: "stackrox"}
	if a.ID, err = r.str(al, "id", true, "the alert's ID"); err != nil {
		return nil, err
	}
	policy, _, err := r.obj(al, "policy", true, "the violated policy")
	if err != nil {
		return nil, err
	}
	if a.ID == "testalert" {
		if _, hasSev := policy.field("severity"); !hasSev {
			if _, hasTime := al.field("time"); !hasTime {
				return []Alert{}, nil // the notifier's Test button
			}
		}
	}
	if a.Rule, err = r.str(policy, "name", true, "the policy's name"); err != nil {
		return nil, err
	}
	sev, err := r.str(policy, "severity", true, "the policy's severity (LOW_SEVERITY ... CRITICAL_SEVERITY)")
	if err != nil {
		return nil, err
	}
	var ok bool
	if a.Priority, ok = stackroxSeverities[sev]; !ok {
		return nil, r.errf("alert.policy.severity", "%q: want LOW_SEVERITY, MEDIUM_SEVERITY, HIGH_SEVERITY or CRITICAL_SEVERITY", sev)
	}
	if a.Tags, err = r.strs(policy, "categories", "the policy's categories"); err != nil {
		return nil, err
	}
	if a.Time, _, err = r.timestamp(al, "time", true, "the violation's time"); err != nil {
		return nil, err
	}
	if a.Source, err = r.str(al, "lifecycleStage", false, "DEPLOY, BUILD or RUNTIME"); err != nil {
		return nil, err
	}
	if a.Source == "" {
		a.Source = "DEPLOY"
	}
	state, err := r.str(al, "state", false, "ACTIVE, SNOOZED, RESOLVED or ATTEMPTED")
	if err != nil {
		return nil, err
	}
	a.Resolved = state == "RESOLVED"
	for _, k := range []string{"clusterName", "namespace"} {
		if _, err := r.str(al, k, false, "text"); err != nil {
			return nil, err
		}
	}
	if dep, ok, err := r.obj(al, "deployment", false, "the deployment"); err != nil {
		return nil, err
	} else if ok {
		for _, k := range []string{"name", "namespace"} {
			if _, err := r.str(dep, k, false, "text"); err != nil {
				return nil, err
			}
		}
		if _, _, err := r.arr(dep, "containers", false, "the deployment's containers"); err != nil {
			return nil, err
		}
	}
	if pv, ok, err := r.obj(al, "processViolation", false, "the processes that violated the policy"); err != nil {
		return nil, err
	} else if ok {
		if a.Output, err = r.str(pv, "message", false, "the violation's message"); err != nil {
			return nil, err
		}
		if err := stackroxProcesses(r, pv, &a); err != nil {
			return nil, err
		}
	}
	if vs, ok, err := r.arr(al, "violations", false, "the violations"); err != nil {
		return nil, err
	} else if ok {
		var msgs []string
		for i, e := range vs.v.arr {
			n := node{v: e, path: vs.index(i)}
			if e.kind != jObject {
				return nil, r.errf(n.path, "want an object (a violation), got %s", e.kind)
			}
			m, err := r.str(n, "message", false, "the violation's message")
			if err != nil {
				return nil, err
			}
			if m != "" {
				msgs = append(msgs, m)
			}
		}
		if a.Output == "" {
			a.Output = strings.Join(msgs, "; ")
		}
	}
	a.Fields = map[string]string{}
	flatten(a.Fields, "", root.v)
	return []Alert{a}, nil
}

// stackroxProcesses picks the container, and pod, of the most recent
// process in a process violation.
func stackroxProcesses(r *reader, pv node, a *Alert) error {
	ps, ok, err := r.arr(pv, "processes", false, "the processes")
	if !ok || err != nil {
		return err
	}
	var latest time.Time
	for i, e := range ps.v.arr {
		p := node{v: e, path: ps.index(i)}
		if e.kind != jObject {
			return r.errf(p.path, "want an object (a process indicator), got %s", e.kind)
		}
		ns, err := r.str(p, "namespace", false, "the pod's namespace")
		if err != nil {
			return err
		}
		pod, err := r.str(p, "podId", false, "the pod's name")
		if err != nil {
			return err
		}
		if _, err := r.str(p, "containerName", false, "the container's name"); err != nil {
			return err
		}
		sig, ok, err := r.obj(p, "signal", false, "the process signal")
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		id, err := r.str(sig, "containerId", false, "the container ID")
		if err != nil {
			return err
		}
		t, _, err := r.timestamp(sig, "time", false, "when the process started")
		if err != nil {
			return err
		}
		if id == "" || t.Before(latest) {
			continue
		}
		latest = t
		a.Container = id
		a.Pod = ""
		if ns != "" && pod != "" {
			a.Pod = ns + "/" + pod
		}
	}
	return nil
}
