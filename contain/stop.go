package contain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"firebreak/runtime"
)

// EndHold records that Firebreak ended the container's processes. It cannot
// be undone: release retires the record and says so.
type EndHold struct {
	Action string    `json:"action"`           // "stop" or "kill"
	Signal string    `json:"signal,omitempty"` // kill: the signal sent
	Grace  string    `json:"grace,omitempty"`  // stop: time between SIGTERM and SIGKILL
	Time   time.Time `json:"time"`
}

func (e *EndHold) String() string {
	s := e.Action
	if e.Signal != "" {
		s += " " + e.Signal
	}
	if e.Grace != "" {
		s += " (grace " + e.Grace + ")"
	}
	return s + " at " + e.Time.UTC().Format(time.RFC3339)
}

// Stop ends the container's processes: SIGTERM, then SIGKILL after grace
// (whole seconds, rounded up: Docker counts no finer, and the record says
// the grace given). The container stays for inspection. See end for how
// it is recorded.
func (c *Containment) Stop(ctx context.Context, target runtime.Container, grace time.Duration, actor, caseID string) (*Result, error) {
	grace = (grace + time.Second - 1).Truncate(time.Second)
	end := &EndHold{Action: "stop", Grace: grace.String()}
	return c.end(ctx, target, end, actor, caseID, func(st runtime.Stopper, id string) error {
		return st.Stop(ctx, id, grace)
	})
}

// Kill sends a signal to the container's init (SIGKILL when signal is "").
// See end for how it is recorded.
func (c *Containment) Kill(ctx context.Context, target runtime.Container, signal, actor, caseID string) (*Result, error) {
	if signal == "" {
		signal = "SIGKILL"
	}
	if sc, ok := c.rt.(runtime.SignalChecker); ok {
		if err := sc.CheckSignal(signal); err != nil {
			return &Result{Container: target, Runtime: c.rt.Name(), Unchanged: true}, &runtime.RefusedError{Container: target, Reason: err.Error() + ". Nothing was changed"}
		}
	}
	end := &EndHold{Action: "kill", Signal: signal}
	return c.end(ctx, target, end, actor, caseID, func(st runtime.Stopper, id string) error {
		err := st.Kill(ctx, id, signal)
		if runtime.IsNotRunning(err) {
			return nil // it ended on its own meanwhile
		}
		return err
	})
}

// sandboxLabel marks a Kubernetes pod's sandbox on containerd's CRI plugin.
const sandboxLabel = "io.cri-containerd.kind"

// RefuseEnd refuses to stop or kill (action) a pod's sandbox: it stands for
// the pod, whose containers the kubelet stops and starts again, so ending
// it alone ends nothing for good. Front ends ask it before they ask the
// responder to confirm; Stop and Kill ask it again.
func RefuseEnd(c runtime.Container, action string) error {
	if c.Labels[sandboxLabel] != "sandbox" {
		return nil
	}
	return &runtime.RefusedError{Container: c, Reason: action + " acts on one container; a pod's containers are stopped by the kubelet (kubectl delete pod) once its evidence is captured. Nothing was changed"}
}

// ThawDetail says how a paused container held by rec (nil: none) is
// thawed before it is stopped or killed: whose freeze it was, and whether
// drop rules stay in place while the signal lands.
func ThawDetail(rec *Record) string {
	ours := rec != nil && rec.Pause != nil && rec.Pause.Paused
	cut := rec != nil && rec.Network != nil && rec.Network.Firewall
	switch {
	case !ours:
		return "thaw to deliver the signal (paused before Firebreak came)"
	case cut:
		return "thaw to deliver the signal (frozen by Firebreak; its drop rules stay)"
	}
	return "thaw to deliver the signal (frozen by Firebreak, with no drop rules: it runs networked until the signal lands)"
}

// end stops or kills under the container's lock and records it like every
// other act, in the container's record (made for it when none is held), so
// that status and the case show who ended it and when. A frozen process
// cannot take a signal: a container Firebreak froze is thawed first, behind
// its drop rules, and the record says so before the thaw. A container that
// is not running is left alone (nothing to end; a resumed run repeats
// nothing).
func (c *Containment) end(ctx context.Context, target runtime.Container, end *EndHold, actor, caseID string, act func(runtime.Stopper, string) error) (*Result, error) {
	res := &Result{Container: target, Runtime: c.rt.Name()}
	st, ok := c.rt.(runtime.Stopper)
	if !ok {
		return res, fmt.Errorf("%s cannot %s containers", c.rt.Name(), end.Action)
	}
	d, err := runtime.CheckSame(ctx, c.rt, target)
	if err != nil {
		return res, err
	}
	res.Container = d.Container
	if err := RefuseEnd(d.Container, end.Action); err != nil {
		return res, err
	}
	rec, unlock, err := c.lockRecord(d.ID, false)
	if err != nil {
		return res, err
	}
	defer unlock()
	if d.State != runtime.StateRunning && d.State != runtime.StatePaused {
		res.Unchanged, res.Record = true, rec
		res.Notes = []string{fmt.Sprintf("not running (%s): nothing to %s", d.State, end.Action)}
		return res, nil
	}
	now := c.now()
	made := rec == nil // held nothing before: the record is this act's own
	if rec == nil {
		rec = &Record{Version: 1, Runtime: c.rt.Name(), Namespace: c.namespace, Container: d.Container, Since: now, Phase: "ended", Actor: actor, Case: caseID}
	}
	if rec.Case == "" {
		rec.Case = caseID
	}
	thawed := false
	if d.State == runtime.StatePaused {
		detail := ThawDetail(rec)
		if err := c.save(rec, "thaw-for-"+end.Action, detail, nil); err != nil {
			return res, err
		}
		err := c.rt.Unpause(ctx, d.ID)
		if err == nil && rec.Pause != nil {
			rec.Pause.Paused = false
		}
		res.Changes = append(res.Changes, Change{Action: "unpause", Detail: detail, Done: err == nil, Error: errString(err)})
		serr := c.save(rec, "thaw-for-"+end.Action, detail, err)
		if err != nil {
			return res, fmt.Errorf("thawing %s to %s it: %w", d.ShortID(), end.Action, errors.Join(err, serr))
		}
		if serr != nil {
			return res, serr
		}
		thawed = true
	}
	if err := c.save(rec, end.Action, end.Signal, nil); err != nil {
		return res, err
	}
	err = act(st, d.ID)
	ch := Change{Action: end.Action, Detail: end.Signal, Done: err == nil, Error: errString(err)}
	res.Changes = append(res.Changes, ch)
	// Ended once the engine says it no longer runs: a signal its init
	// ignores or handles (SIGTERM to a shell as PID 1, SIGUSR1) ends
	// nothing, and a container thawed for it is frozen again below.
	if err == nil {
		if state, werr := c.waitEnded(ctx, d.ID); werr != nil {
			err = werr
		} else if state == runtime.StateRunning || state == runtime.StatePaused {
			err = &NotEndedError{Action: end.Action, Signal: end.Signal, Waited: c.endWait}
			if !thawed {
				// It ran before and runs on: the signal was delivered,
				// which is what was asked; nothing to undo.
				res.Notes = append(res.Notes, err.Error()+": it is not recorded as ended")
				err = nil
			}
		} else {
			end.Time = c.now().UTC()
			rec.Ended = end
			if rec.Pause != nil {
				rec.Pause.Paused = false // nothing runs to be frozen (thawed outside Firebreak, or for the signal)
			}
		}
	}
	detail := "done"
	if err != nil {
		detail = "failed"
	} else if rec.Ended == nil {
		detail = "delivered; it runs on"
	}
	if serr := c.save(rec, end.Action, detail, err); serr != nil {
		return res, serr
	}
	if made && err == nil && rec.Ended == nil {
		// A signal delivered to a container that held nothing and runs
		// on: its record holds nothing either, and goes to the released
		// history (status and ps do not show it as ended).
		rec.Phase = "signalled"
		if rerr := c.store.Retire(rec, c.now()); rerr != nil {
			return res, rerr
		}
		res.Record = rec
		return res, nil
	}
	if err != nil && thawed {
		// The act failed on a container thawed for it: freeze it again,
		// so a failed kill never leaves it running.
		ferr := c.rt.Pause(context.WithoutCancel(ctx), d.ID)
		if ferr == nil && rec.Pause != nil {
			rec.Pause.Paused = true
		}
		res.Changes = append(res.Changes, Change{Action: "pause", Detail: "freeze again after the failed " + end.Action, Done: ferr == nil, Error: errString(ferr)})
		if serr := c.save(rec, "refreeze", "after the failed "+end.Action, ferr); serr != nil {
			return res, errors.Join(err, serr)
		}
		if ferr != nil {
			err = errors.Join(err, fmt.Errorf("freezing it again failed: %w (it runs: `firebreak contain --network=false %s` freezes it)", ferr, d.ShortID()))
		}
	}
	res.Record = rec
	if err != nil {
		return res, fmt.Errorf("%s of %s: %w (recorded; `firebreak status %s` shows it)", end.Action, d.ShortID(), err, d.ShortID())
	}
	return res, nil
}

// NotEndedError is a signal delivered that did not end the container
// within the wait.
type NotEndedError struct {
	Action, Signal string
	Waited         time.Duration
}

func (e *NotEndedError) Error() string {
	return fmt.Sprintf("%s %s was delivered but the container still runs after %s (its init ignores or handles it; SIGKILL, the default, ends it)", e.Action, e.Signal, e.Waited)
}

// waitEnded waits up to c.endWait for the container to stop running and
// says its state then.
func (c *Containment) waitEnded(ctx context.Context, id string) (runtime.State, error) {
	deadline := time.Now().Add(c.endWait)
	for {
		d, err := c.rt.Inspect(ctx, id)
		if err != nil {
			return "", err
		}
		if d.State != runtime.StateRunning && d.State != runtime.StatePaused {
			return d.State, nil
		}
		if time.Now().After(deadline) {
			return d.State, nil
		}
		select {
		case <-ctx.Done():
			return d.State, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
