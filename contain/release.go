package contain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"firebreak/runtime"
)

// Release undoes what the record says Firebreak holds on the container, in
// reverse order: quarantine network off, original networks back (same
// aliases, links and, where the engine allows, addresses), thaw, drop rules
// removed. A container that holds nothing is not an error.
func (c *Containment) Release(ctx context.Context, target runtime.Container, dryRun bool) (*Result, error) {
	res := &Result{Container: target, Runtime: c.rt.Name(), DryRun: dryRun}
	rec, unlock, err := c.lockRecord(target.ID)
	if err != nil {
		return res, err
	}
	defer unlock()
	if rec == nil {
		res.Unchanged = true
		res.Notes = []string{"not held by Firebreak: nothing to release"}
		return res, nil
	}
	res.Record = rec
	d, err := runtime.CheckSame(ctx, c.rt, rec.Container)
	var replaced *runtime.ReplacedError
	if errors.As(err, &replaced) {
		res.Notes = []string{"the contained container is gone or was replaced; nothing of it is left to restore: " + err.Error()}
		if !dryRun {
			if err := c.save(rec, "released", "container gone", nil); err != nil {
				return res, err
			}
			if err := c.store.Retire(rec, c.now()); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Container = d.Container
	changes := releasePlan(d, rec)
	res.Changes = changes
	if dryRun {
		return res, nil
	}
	rec.Phase = "releasing"
	if err := c.save(rec, "release", fmt.Sprintf("%d changes planned", len(changes)), nil); err != nil {
		return res, err
	}
	attacher, _ := c.rt.(runtime.NetworkAttacher)
	for i := range res.Changes {
		ch := &res.Changes[i]
		var err error
		switch ch.Action {
		case "unquarantine":
			err = attacher.Disconnect(ctx, d.ID, rec.Network.Quarantine.Network.Name)
			if err == nil {
				rec.Network.Quarantine.Attached = false
			}
		case "reconnect":
			err = reconnect(ctx, attacher, d.ID, rec, ch.Detail)
		case "unpause":
			err = c.rt.Unpause(ctx, d.ID)
			if err == nil {
				rec.Pause.Paused = false
			}
		case "unfirewall":
			err = removeFirewall(rec.Network.NetNSPath)
			if err == nil {
				rec.Network.Firewall = false
			}
		}
		if err != nil {
			ch.Error = err.Error()
			serr := c.save(rec, ch.Action, ch.Detail, err)
			return res, fmt.Errorf("release of %s: %s: %w (still held; `firebreak status %s` shows what, `firebreak release` again retries)", d.ShortID(), ch.Action, errors.Join(err, serr), d.ShortID())
		}
		ch.Done = true
		if err := c.save(rec, ch.Action, ch.Detail, nil); err != nil {
			return res, err
		}
	}
	// What was recorded but found already undone (by hand, or by a restart)
	// is no longer held either.
	if rec.Network != nil {
		rec.Network.Firewall = false
		for i := range rec.Network.Detached {
			rec.Network.Detached[i].Done = false
		}
		if rec.Network.Quarantine != nil {
			rec.Network.Quarantine.Attached = false
		}
	}
	if rec.Pause != nil {
		rec.Pause.Paused = false
	}
	if has(changes, "reconnect") {
		if now, err := c.rt.Inspect(ctx, d.ID); err == nil {
			res.Notes = append(res.Notes, addressNotes(now, rec)...)
		}
	}
	if rec.Ended != nil {
		res.Notes = append(res.Notes, "its processes were ended by Firebreak ("+rec.Ended.String()+"): release cannot bring them back; start it again if the service needs it")
	}
	rec.Phase = "released"
	if err := c.save(rec, "released", "", nil); err != nil {
		return res, err
	}
	if err := c.store.Retire(rec, c.now()); err != nil {
		return res, err
	}
	if len(changes) == 0 {
		res.Unchanged = true
	}
	return res, nil
}

func releasePlan(d runtime.Details, rec *Record) []Change {
	var changes []Change
	attached := map[string]bool{}
	for _, a := range d.Networks {
		attached[a.Network] = true
	}
	if n := rec.Network; n != nil {
		if q := n.Quarantine; q != nil && q.Attached && attached[q.Network.Name] {
			changes = append(changes, Change{Action: "unquarantine", Detail: q.Network.Name})
		}
		for _, det := range n.Detached {
			if !attached[det.Attachment.Network] {
				changes = append(changes, Change{Action: "reconnect", Detail: describeAttachment(det.Attachment)})
			}
		}
	}
	if rec.Pause != nil && rec.Pause.Paused && !rec.Pause.WasPaused && d.State == runtime.StatePaused {
		changes = append(changes, Change{Action: "unpause", Detail: "thaw every process"})
	}
	if n := rec.Network; n != nil && n.Firewall && n.NetNSPath != "" {
		sameNS := false
		if ino, err := netnsInode(n.NetNSPath); err == nil && ino == n.NetNSInode {
			sameNS = true
		}
		if present, err := firewallPresent(n.NetNSPath); sameNS && err == nil && present {
			changes = append(changes, Change{Action: "unfirewall", Detail: "remove drop rules from its network namespace"})
		}
	}
	return changes
}

// reconnect attaches one recorded network again, with the recorded address
// where the engine accepts a fixed one, and says so when it could not.
func reconnect(ctx context.Context, attacher runtime.NetworkAttacher, id string, rec *Record, detail string) error {
	net := strings.SplitN(detail, " ", 2)[0]
	var a runtime.Attachment
	for _, det := range rec.Network.Detached {
		if det.Attachment.Network == net {
			a = det.Attachment
		}
	}
	err := attacher.Connect(ctx, id, a, true)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, "user specified IP address") && !strings.Contains(msg, "user defined networks") &&
		!strings.Contains(msg, "already in use") && !strings.Contains(msg, "Address already") {
		return err
	}
	// The engine refuses fixed addresses on networks without a
	// user-configured subnet; it then hands out one itself, usually the same.
	return attacher.Connect(ctx, id, a, false)
}

// addressNotes compares the addresses a container has after release with the
// recorded ones, and names every difference.
func addressNotes(d runtime.Details, rec *Record) []string {
	if rec.Network == nil {
		return nil
	}
	now := map[string]runtime.Attachment{}
	for _, a := range d.Networks {
		now[a.Network] = a
	}
	var notes []string
	for _, det := range rec.Network.Detached {
		was := det.Attachment
		got, ok := now[was.Network]
		if !ok {
			continue
		}
		if got.IPv4Address != was.IPv4Address || got.IPv6Address != was.IPv6Address {
			notes = append(notes, fmt.Sprintf("%s: the engine gave a new address %s (was %s)", was.Network,
				strings.TrimSpace(got.IPv4Address+" "+got.IPv6Address), strings.TrimSpace(was.IPv4Address+" "+was.IPv6Address)))
		}
	}
	return notes
}

// Live is the container's state as the engine and its namespace show it now,
// to set beside what the record says is held.
type Live struct {
	Gone     bool          `json:"gone"` // removed or replaced since it was contained
	State    runtime.State `json:"state,omitempty"`
	Firewall FirewallState `json:"firewall"`
	Networks []string      `json:"networks"` // engine networks attached now
}

// Check looks at the container a record holds, so that status can show a
// drift (drop rules removed from inside, unpaused by hand, restarted).
func (c *Containment) Check(ctx context.Context, rec *Record) (Live, error) {
	live := Live{Firewall: FirewallNotApplicable, Networks: []string{}}
	d, err := runtime.CheckSame(ctx, c.rt, rec.Container)
	var replaced *runtime.ReplacedError
	if errors.As(err, &replaced) {
		live.Gone = true
		return live, nil
	}
	if err != nil {
		return live, err
	}
	live.State = d.State
	for _, a := range d.Networks {
		live.Networks = append(live.Networks, a.Network)
	}
	if n := rec.Network; n != nil && n.Firewall {
		live.Firewall = FirewallMissing
		if d.NetNSPath != "" {
			if ino, err := netnsInode(d.NetNSPath); err == nil && ino == n.NetNSInode {
				if ok, err := firewallPresent(d.NetNSPath); err == nil && ok {
					live.Firewall = FirewallPresent
				}
			}
		}
	}
	return live, nil
}
