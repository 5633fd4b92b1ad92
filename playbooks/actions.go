package playbooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/runtime"
)

// RegisterBuiltins adds Firebreak's own actions to r.
func RegisterBuiltins(r *Registry) {
	r.Register(containNetwork{})
	r.Register(containPause{})
	r.Register(containRelease{})
	r.Register(containStop{})
	r.Register(containKill{})
	r.Register(collectAction{})
	r.Register(evidenceVerify{})
	r.Register(notifyWebhook{})
	r.Register(waitAction{})
	r.Register(approvalAction{})
	r.Register(triageAction{})
	r.Register(recoverBackup{})
	r.Register(recoverRestore{})
}

func str(p map[string]any, k string) string {
	s, _ := p[k].(string)
	return s
}

func list(p map[string]any, k string) []string {
	l, _ := p[k].([]string)
	return l
}

func duration(p map[string]any, k string) time.Duration {
	d, _ := p[k].(time.Duration)
	return d
}

func containResult(r *contain.Result) map[string]any {
	out := map[string]any{"changed": !r.Unchanged, "changes": int64(len(r.Changes))}
	if v := r.Verification; v != nil {
		out["verdict"] = string(v.Verdict) // CEL compares strings
		out["verdict_detail"] = v.Detail
	} else {
		out["verdict"] = "not-applicable" // no network was cut: nothing to verify
	}
	if t := r.Timings; t != nil {
		out["frozen_ms"] = t.Frozen.Milliseconds()
	}
	return out
}

type containNetwork struct{}

func (containNetwork) Describe() Description {
	return Description{
		Name:    "contain.network",
		Summary: "Cut the target's network: drop rules in its namespace, then detach engine networks (optionally onto an internal quarantine network)",
		Params: []ParamSpec{
			{Name: "quarantine_network", Type: TypeString, Default: "", Doc: "Docker: internal network to attach after the detach, for forensic access"},
			{Name: "allow", Type: TypeList, Default: []string{}, Doc: "CIDRs kept open in the drop rules"},
			{Name: "verify", Type: TypeBool, Default: true, Doc: "probe peers before and after the cut"},
		},
		Outputs: []OutputSpec{
			{Name: "verdict", Type: "string", Doc: "isolated, not-isolated, unverified"},
			{Name: "verdict_detail", Type: "string", Doc: "why: which peers answered before and after"},
			{Name: "changed", Type: "bool", Doc: "whether anything had to change"},
			{Name: "changes", Type: "int", Doc: "number of acts"},
		},
		Changes: "the target's network (drop rules; engine network attachments)",
		Undo:    "contain.release restores the recorded networks and removes the rules",
		Example: "- id: isolate\n  action: contain.network\n  with: {quarantine_network: fb-quarantine}",
	}
}

func containOptions(p map[string]any, env *Env) (contain.Options, error) {
	o := contain.DefaultOptions()
	o.Actor, o.Case = env.Actor, env.Case
	for _, a := range list(p, "allow") {
		pre, err := netip.ParsePrefix(a)
		if err != nil {
			return o, fmt.Errorf("allow %q: give a CIDR", a)
		}
		if err := contain.CheckAllow(pre); err != nil {
			return o, fmt.Errorf("allow: %v", err)
		}
		o.Allow = append(o.Allow, pre)
	}
	o.QuarantineNetwork = str(p, "quarantine_network")
	if v, ok := p["verify"].(bool); ok {
		o.Verify = v
	}
	return o, nil
}

func (containNetwork) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	o, err := containOptions(p, env)
	if err != nil {
		return nil, err
	}
	o.Pause = false
	var r *contain.Result
	if pod, ok, err := podTarget(ctx, env, t); err != nil {
		return nil, err
	} else if ok {
		r, err = containPodNetwork(ctx, env, pod, o)
		if err != nil {
			return nil, err
		}
		return containResult(r), nil
	}
	r, err = env.Contain.Contain(ctx, t, o)
	if err != nil {
		return nil, err
	}
	return containResult(r), nil
}

func (containNetwork) Undo(ctx context.Context, env *Env, t runtime.Container, _ map[string]any) error {
	if t.Labels[sandboxKind] == "sandbox" {
		_, err := releasePod(ctx, env, t.ID)
		return err
	}
	_, err := env.Contain.Release(ctx, t, false)
	return err
}

type containPause struct{}

func (containPause) Describe() Description {
	return Description{
		Name:    "contain.pause",
		Summary: "Freeze every process of the target (of a pod: every container and the sandbox)",
		Params: []ParamSpec{
			{Name: "capture_first", Type: TypeBool, Default: true, Doc: "a pod with a liveness probe: capture its evidence into the case before the freeze, since the kubelet kills a frozen container"},
		},
		Outputs: []OutputSpec{
			{Name: "changed", Type: "bool", Doc: "whether it had to be paused"},
			{Name: "captured_first", Type: "bool", Doc: "a pod's evidence was captured before the freeze"},
			{Name: "liveness_deadline_s", Type: "int", Doc: "a pod's shortest liveness deadline (period x failures), 0 for none known"},
		},
		Changes: "the target's processes (frozen)",
		Undo:    "contain.release thaws it (unless it was paused before)",
		Example: "- id: freeze\n  action: contain.pause\n  needs: [isolate]",
	}
}

func (containPause) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	if pod, ok, err := podTarget(ctx, env, t); err != nil {
		return nil, err
	} else if ok {
		first, _ := p["capture_first"].(bool)
		if _, set := p["capture_first"]; !set {
			first = true
		}
		return containPodPause(ctx, env, pod, first)
	}
	o, _ := containOptions(nil, env)
	o.Network = false
	r, err := env.Contain.Contain(ctx, t, o)
	if err != nil {
		return nil, err
	}
	return containResult(r), nil
}

func (containPause) Undo(ctx context.Context, env *Env, t runtime.Container, _ map[string]any) error {
	if t.Labels[sandboxKind] == "sandbox" {
		_, err := releasePod(ctx, env, t.ID)
		return err
	}
	_, err := env.Contain.Release(ctx, t, false)
	return err
}

type containRelease struct{}

func (containRelease) Describe() Description {
	return Description{
		Name:    "contain.release",
		Summary: "Undo a containment: the recorded networks back, thaw, drop rules removed",
		Outputs: []OutputSpec{{Name: "changed", Type: "bool", Doc: "whether anything was held"}},
		Changes: "the target's network and processes (restored)",
		Example: "- id: release\n  action: contain.release\n  approval: \"Release the container after review?\"",
	}
}

func (containRelease) Run(ctx context.Context, env *Env, t runtime.Container, _ map[string]any) (map[string]any, error) {
	if t.Labels[sandboxKind] == "sandbox" {
		changed, err := releasePod(ctx, env, t.ID)
		if err != nil {
			return nil, err
		}
		return map[string]any{"changed": changed}, nil
	}
	r, err := env.Contain.Release(ctx, t, false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"changed": !r.Unchanged}, nil
}

type containStop struct{}

func (containStop) Describe() Description {
	return Description{
		Name:    "contain.stop",
		Summary: "Stop the target: SIGTERM, then SIGKILL after the grace period (the container stays for inspection)",
		Params:  []ParamSpec{{Name: "grace", Type: TypeDuration, Default: 10 * time.Second, Doc: "time between SIGTERM and SIGKILL"}},
		Outputs: []OutputSpec{{Name: "stopped", Type: "bool", Doc: "true when it had to be stopped (false: it was not running)"}},
		Changes: "the target's processes (ended; memory state is lost; recorded in its containment record)",
		Example: "- id: stop\n  action: contain.stop\n  with: {grace: 5s}\n  approval: \"Stop the container?\"",
	}
}

func (containStop) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	if t.Labels[sandboxKind] == "sandbox" {
		return nil, errors.New("contain.stop acts on one container; a pod's containers are stopped by the kubelet (kubectl delete pod) once its evidence is captured")
	}
	grace := duration(p, "grace")
	if grace == 0 {
		grace = 10 * time.Second
	}
	r, err := env.Contain.Stop(ctx, t, grace, env.Actor, env.Case)
	if err != nil {
		return nil, err
	}
	return map[string]any{"stopped": !r.Unchanged}, nil
}

type containKill struct{}

func (containKill) Describe() Description {
	return Description{
		Name:    "contain.kill",
		Summary: "Send a signal to the target's init (default SIGKILL)",
		Params:  []ParamSpec{{Name: "signal", Type: TypeString, Default: "SIGKILL", Doc: "signal name"}},
		Outputs: []OutputSpec{{Name: "killed", Type: "bool", Doc: "true when sent (false: it was not running)"}},
		Changes: "the target's processes (ended; memory state is lost; recorded in its containment record, thawed first behind its drop rules when frozen)",
		Example: "- id: kill\n  action: contain.kill\n  approval: \"Kill the miner?\"",
	}
}

func (containKill) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	if t.Labels[sandboxKind] == "sandbox" {
		return nil, errors.New("contain.kill acts on one container; a pod's containers are stopped by the kubelet (kubectl delete pod) once its evidence is captured")
	}
	// A resumed run repeats nothing: a container already ended is left alone.
	r, err := env.Contain.Kill(ctx, t, str(p, "signal"), env.Actor, env.Case)
	if err != nil {
		return nil, err
	}
	return map[string]any{"killed": !r.Unchanged}, nil
}

type collectAction struct{}

func (collectAction) Describe() Description {
	return Description{
		Name:    "collect",
		Summary: "Capture evidence from the host side into the case: " + strings.Join(collect.Names(collect.Known), ", ") + " (memory and volumes only when asked for in what)",
		Params: []ParamSpec{
			{Name: "what", Type: TypeList, Default: collect.Names(collect.All), Doc: "collectors to run (default: all but memory and volumes)"},
			{Name: "since", Type: TypeDuration, Default: time.Duration(0), Doc: "logs: only this far back (0: all)"},
		},
		Outputs: []OutputSpec{
			{Name: "artifacts", Type: "int", Doc: "artifacts stored"},
			{Name: "incomplete", Type: "int", Doc: "things asked for and not captured"},
			{Name: "processes", Type: "int", Doc: "processes found"},
			{Name: "processes_outside", Type: "int", Doc: "processes outside the container's namespaces or cgroup"},
		},
		Example: "- id: evidence\n  action: collect\n  needs: [freeze]\n  with: {what: [processes, network, fsdiff]}",
	}
}

func (collectAction) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	if env.Evidence == nil {
		return nil, errors.New("no evidence store for this run")
	}
	o := collect.DefaultOptions()
	if w := list(p, "what"); len(w) > 0 {
		what, err := collect.ParseCollectors(w)
		if err != nil {
			return nil, err
		}
		o.What = what
	}
	o.Since = duration(p, "since")
	report := Progress(ctx)
	o.Progress = func(n progress.Count) {
		report(fmt.Sprintf("fsdiff: %d files, %.1f MiB", n.Files, float64(n.Bytes)/(1<<20)), n)
	}
	if pod, ok, err := podTarget(ctx, env, t); err != nil {
		return nil, err
	} else if ok {
		pr, err := collectPod(ctx, env, pod, o)
		if err != nil {
			return nil, err
		}
		out := map[string]any{"artifacts": int64(len(pr.Artifacts)), "incomplete": int64(len(pr.Incomplete)), "processes": int64(0), "processes_outside": int64(0)}
		for _, m := range pr.Members {
			out["artifacts"] = out["artifacts"].(int64) + int64(len(m.Artifacts))
			out["incomplete"] = out["incomplete"].(int64) + int64(len(m.Incomplete))
			out["processes"] = out["processes"].(int64) + int64(m.Processes)
			out["processes_outside"] = out["processes_outside"].(int64) + int64(m.Outside)
		}
		return out, nil
	}
	var res *collect.Result
	err := env.Evidence.With(ctx, func(run *evidence.Run) error {
		var err error
		res, err = collect.Collect(ctx, env.Runtime, run, t, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"artifacts": int64(len(res.Artifacts)), "incomplete": int64(len(res.Incomplete)),
		"processes": int64(res.Processes), "processes_outside": int64(res.Outside),
	}, nil
}

type evidenceVerify struct{}

func (evidenceVerify) Describe() Description {
	return Description{
		Name:    "evidence.verify",
		Summary: "Seal the evidence gathered so far (manifest, signature) and re-read and verify the whole case",
		Outputs: []OutputSpec{
			{Name: "ok", Type: "bool", Doc: "true when nothing differs"},
			{Name: "problems", Type: "int", Doc: "differences found"},
			{Name: "artifacts", Type: "int", Doc: "artifacts checked"},
		},
		Example: "- id: verify\n  action: evidence.verify\n  needs: [evidence]",
	}
}

func (evidenceVerify) Run(ctx context.Context, env *Env, _ runtime.Container, _ map[string]any) (map[string]any, error) {
	if env.Evidence == nil {
		return nil, errors.New("no evidence store for this run")
	}
	if err := env.Evidence.Seal(ctx); err != nil {
		return nil, err
	}
	rep, err := evidence.Verify(ctx, env.Evidence.Store, env.Case, env.Evidence.Trusted)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ok": rep.OK(), "problems": int64(len(rep.Problems)), "artifacts": int64(rep.Artifacts)}
	if !rep.OK() {
		return out, fmt.Errorf("case %s does not verify: %d differences, first: %s: %s", env.Case, len(rep.Problems), rep.Problems[0].Key, rep.Problems[0].What)
	}
	return out, nil
}

type notifyWebhook struct{}

func (notifyWebhook) Describe() Description {
	return Description{
		Name:    "notify.webhook",
		Summary: "POST a JSON summary (playbook, case, target, message, and the case's custody head when the run keeps evidence) to a URL",
		Params: []ParamSpec{
			{Name: "url", Type: TypeString, Required: true, Doc: "where to POST"},
			{Name: "message", Type: TypeString, Default: "", Doc: "text to include"},
		},
		Outputs: []OutputSpec{{Name: "status", Type: "int", Doc: "HTTP status code"}},
		Example: "- id: page\n  action: notify.webhook\n  with: {url: \"https://hooks.example.internal/ir\", message: \"contained\"}",
	}
}

func (notifyWebhook) Run(ctx context.Context, env *Env, t runtime.Container, p map[string]any) (map[string]any, error) {
	fields := map[string]any{
		"playbook": env.Playbook, "case": env.Case, "actor": env.Actor,
		"target":  map[string]string{"id": t.ID, "name": t.Name, "image": t.Image},
		"message": str(p, "message"), "time": time.Now().UTC(),
	}
	if env.Evidence != nil {
		// The newest custody entry of the case's run: once the run is
		// sealed it is in the chain, and the receiver holds an anchor
		// outside the store (`firebreak evidence verify CASE --head`).
		head := ""
		err := env.Evidence.With(ctx, func(r *evidence.Run) error {
			head = r.Head()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading the custody head of case %s for the webhook: %w", env.Case, err)
		}
		if head != "" {
			fields["custody_head"] = head
		}
	}
	body, _ := json.Marshal(fields)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, str(p, "url"), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := env.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return map[string]any{"status": int64(resp.StatusCode)}, fmt.Errorf("webhook answered %s", resp.Status)
	}
	return map[string]any{"status": int64(resp.StatusCode)}, nil
}

type waitAction struct{}

func (waitAction) Describe() Description {
	return Description{
		Name:    "wait",
		Summary: "Wait for a while (e.g. to let a probe or a peer settle)",
		Params:  []ParamSpec{{Name: "for", Type: TypeDuration, Required: true, Doc: "how long"}},
		Example: "- id: settle\n  action: wait\n  with: {for: 5s}",
	}
}

func (waitAction) Run(ctx context.Context, _ *Env, _ runtime.Container, p map[string]any) (map[string]any, error) {
	select {
	case <-time.After(duration(p, "for")):
		return map[string]any{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type approvalAction struct{}

func (approvalAction) Describe() Description {
	return Description{
		Name:    "approval",
		Summary: "A gate: does nothing itself; its approval: prompt must be answered yes for the run to go on",
		Example: "- id: go_ahead\n  action: approval\n  approval: \"Restore service from backup?\"",
	}
}

func (approvalAction) Run(context.Context, *Env, runtime.Container, map[string]any) (map[string]any, error) {
	return map[string]any{}, nil
}

type triageAction struct{}

func (triageAction) Describe() Description {
	return Description{
		Name:    "triage",
		Summary: "Assess the target's escape risk: configuration findings and live signs of an escape",
		Outputs: []OutputSpec{
			{Name: "score", Type: "int", Doc: "risk score (higher is riskier)"},
			{Name: "worst", Type: "string", Doc: "highest severity found: critical, high, medium, low or \"\""},
			{Name: "findings", Type: "list", Doc: "finding IDs, worst first"},
			{Name: "live", Type: "int", Doc: "live indicators (signs of an escape under way)"},
		},
		Example: "- id: assess\n  action: triage\n- id: isolate\n  action: contain.network\n  needs: [assess]\n  when: steps.assess.live > 0 || steps.assess.worst == \"critical\"",
	}
}

func (triageAction) Run(ctx context.Context, env *Env, t runtime.Container, _ map[string]any) (map[string]any, error) {
	var a collect.Assessment
	if pod, ok, err := podTarget(ctx, env, t); err != nil {
		return nil, err
	} else if ok {
		a = collect.AssessPod(ctx, env.Runtime, "/proc", pod)
	} else if a, err = collect.Assess(ctx, env.Runtime, "/proc", t); err != nil {
		return nil, err
	}
	ids := []any{}
	live := int64(0)
	for _, f := range a.Findings {
		ids = append(ids, f.ID)
		if f.Kind == collect.KindLive {
			live++
		}
	}
	if env.Evidence != nil {
		if err := env.Evidence.Log(ctx, "triage", t.ID, fmt.Sprintf("score %d, worst %s, %d live", a.Score, a.Max(), live)); err != nil {
			return nil, err
		}
	}
	return map[string]any{"score": int64(a.Score), "worst": string(a.Max()), "findings": ids, "live": live}, nil
}
