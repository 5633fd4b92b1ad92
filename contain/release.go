package contain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"firebreak/runtime"
)

// Release undoes what the record says Firebreak holds on the container, in
// reverse order: quarantine network off, original networks back (same
// aliases, links and, where the engine allows, addresses), thaw, drop rules
// removed. A container that holds nothing is not an error.
func (c *Containment) Release(ctx context.Context, target runtime.Container, dryRun bool) (*Result, error) {
	res := &Result{Container: target, Runtime: c.rt.Name(), DryRun: dryRun}
	rec, unlock, err := c.lockRecord(target.ID, dryRun)
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
	if has(changes, "unfirewall") {
		// A namespace cut with its sharers keeps its rules until the last
		// sharer held is released.
		if others := c.sharersHeld(rec); len(others) > 0 {
			changes = slices.DeleteFunc(changes, func(ch Change) bool { return ch.Action == "unfirewall" })
			rec.Network.Firewall = false // this record no longer holds them
			res.Notes = append(res.Notes, "the drop rules stay in the shared network namespace: "+strings.Join(others, ", ")+" still held")
		}
	}
	res.Changes = changes
	if dryRun {
		return res, nil
	}
	rec.Phase = "releasing"
	if err := c.save(rec, "release", fmt.Sprintf("%d changes planned", len(changes)), nil); err != nil {
		return res, err
	}
	attacher, _ := c.rt.(runtime.NetworkAttacher)
	var missing []string // networks that no longer exist
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
			var note string
			note, err = reconnect(ctx, attacher, d.ID, rec, ch.Detail)
			if note != "" {
				res.Notes = append(res.Notes, note)
			}
			if errors.Is(err, runtime.ErrNetworkNotFound) {
				// Gone for good: the service comes back without it, and
				// release says so instead of staying stuck.
				ch.Error = err.Error()
				missing = append(missing, strings.SplitN(ch.Detail, " ", 2)[0])
				if serr := c.save(rec, ch.Action, ch.Detail, err); serr != nil {
					return res, serr
				}
				continue
			}
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
	if len(missing) > 0 {
		ne := &NotRestoredError{Container: d.Container, Missing: missing, Now: "running"}
		switch {
		case rec.Pause != nil && rec.Pause.WasPaused:
			ne.Now = "left paused, as it was found"
		case d.State != runtime.StateRunning && d.State != runtime.StatePaused:
			ne.Now = string(d.State)
		}
		return res, ne
	}
	return res, nil
}

// sharersHeld names the other held containers whose drop rules are in the
// same network namespace as rec's.
func (c *Containment) sharersHeld(rec *Record) []string {
	if rec.Network == nil || rec.Network.NetNSInode == 0 {
		return nil
	}
	recs, err := c.store.List(c.rt.Name(), c.namespace)
	if _, ok := Readable(err); err != nil && !ok {
		return nil
	}
	var out []string
	for _, r := range recs {
		if r.Container.ID != rec.Container.ID && r.Network != nil && r.Network.Firewall && r.Network.NetNSInode == rec.Network.NetNSInode {
			out = append(out, r.Container.ShortID())
		}
	}
	return out
}

// NotRestoredError says a release brought the container back (thawed, drop
// rules removed, its other networks reconnected) but not as it was: the
// networks listed no longer exist, by ID or by name.
type NotRestoredError struct {
	Container runtime.Container
	Missing   []string
	Now       string // how it is now: "running", "left paused, as it was found", "stopped"
}

func (e *NotRestoredError) Error() string {
	now := e.Now
	if now == "" {
		now = "running"
	}
	return fmt.Sprintf("%s is released (%s), but not as it was: network %s no longer exists (create it again and `docker network connect` it, or leave it)",
		e.Container.ShortID(), now, strings.Join(e.Missing, ", "))
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
		if present, err := firewallPresent(n.NetNSPath, nil); sameNS && err == nil && present {
			changes = append(changes, Change{Action: "unfirewall", Detail: "remove drop rules from its network namespace"})
		}
	}
	return changes
}

// reconnect attaches one recorded network again, with its configured
// address where it had one. The network is asked for by its recorded ID,
// and, when that is gone, by its name (a network recreated under the same
// name), which the returned note says. An error matching
// runtime.ErrNetworkNotFound means neither exists.
func reconnect(ctx context.Context, attacher runtime.NetworkAttacher, id string, rec *Record, detail string) (string, error) {
	net := strings.SplitN(detail, " ", 2)[0]
	var a runtime.Attachment
	for _, det := range rec.Network.Detached {
		if det.Attachment.Network == net {
			a = det.Attachment
		}
	}
	note := ""
	err := connect(ctx, attacher, id, a)
	if errors.Is(err, runtime.ErrNetworkNotFound) && a.NetworkID != "" {
		byName := a
		byName.NetworkID = ""
		if err = connect(ctx, attacher, id, byName); err == nil {
			note = fmt.Sprintf("%s: the network was recreated since the containment (its ID %s is gone); reconnected to the one of that name", a.Network, runtime.ShortID(a.NetworkID))
		}
	}
	return note, err
}

// connect attaches with the configured address, and without it where the
// engine refuses a fixed one (a network without a user-configured subnet,
// or the address taken meanwhile): the engine then hands one out, and
// addressNotes reports the difference.
func connect(ctx context.Context, attacher runtime.NetworkAttacher, id string, a runtime.Attachment) error {
	err := attacher.Connect(ctx, id, a, true)
	if err == nil || errors.Is(err, runtime.ErrNetworkNotFound) {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, "user specified IP address") && !strings.Contains(msg, "user defined networks") &&
		!strings.Contains(msg, "already in use") && !strings.Contains(msg, "Address already") {
		return err
	}
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
			gotAddr := strings.TrimSpace(got.IPv4Address + " " + got.IPv6Address)
			wasAddr := strings.TrimSpace(was.IPv4Address + " " + was.IPv6Address)
			switch {
			case wasAddr == "":
				notes = append(notes, fmt.Sprintf("%s: the engine gave it the address %s (it had none recorded)", was.Network, gotAddr))
			case gotAddr == "":
				notes = append(notes, fmt.Sprintf("%s: it has no address now (was %s)", was.Network, wasAddr))
			case was.StaticIPv4 == "" && was.StaticIPv6 == "":
				notes = append(notes, fmt.Sprintf("%s: the engine gave a new address %s (was %s); the old one was engine-assigned, so it was not pinned", was.Network, gotAddr, wasAddr))
			default:
				notes = append(notes, fmt.Sprintf("%s: the engine gave a new address %s (was %s): the configured address could not be had back", was.Network, gotAddr, wasAddr))
			}
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
	Networks []string      `json:"networks"`        // engine networks attached now
	Name     string        `json:"name,omitempty"`  // its name now, when not the one it was contained under (renamed by recover)
	Drift    string        `json:"drift,omitempty"` // how it runs other than as contained; "" when it does not
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
	if strings.TrimPrefix(d.Name, "/") != strings.TrimPrefix(rec.Container.Name, "/") {
		live.Name = d.Name
	}
	for _, a := range d.Networks {
		live.Networks = append(live.Networks, a.Network)
	}
	if n := rec.Network; n != nil && n.Firewall {
		live.Firewall = FirewallMissing
		if d.NetNSPath != "" {
			if ino, err := netnsInode(d.NetNSPath); err == nil && ino == n.NetNSInode {
				if ok, err := firewallPresent(d.NetNSPath, installedAllow(n)); err == nil && ok {
					live.Firewall = FirewallPresent
				}
			}
		}
	}
	live.Drift = drift(rec, live)
	return live, nil
}

// drift says how a held container runs other than as its record holds it,
// every way at once ("; " between them). One that does not run can reach
// nothing and has no drift.
func drift(rec *Record, live Live) string {
	if live.State != runtime.StateRunning && live.State != runtime.StatePaused {
		return ""
	}
	frozen := rec.Pause != nil && rec.Pause.Paused
	cut := rec.Network != nil && rec.Network.Firewall
	var ways []string
	if live.Firewall == FirewallMissing {
		ways = append(ways, "its drop rules are gone or changed (removed or loosened from inside, or it restarted into a new network namespace)")
	}
	switch {
	case rec.Ended != nil:
		ways = append(ways, "Firebreak ended its processes ("+rec.Ended.Action+") and it runs again (restarted)")
	case frozen && live.State != runtime.StatePaused:
		ways = append(ways, "it was thawed outside Firebreak")
	case !frozen && !cut:
		ways = append(ways, "it runs unfrozen and without drop rules (it started after it was contained)")
	}
	ways = append(ways, networkDrift(rec.Network, live.Networks)...)
	return strings.Join(ways, "; ")
}

// networkDrift names the engine networks attached now that a containment
// which detached the container's networks does not hold: one it detached,
// attached again, or one attached since. The quarantine network it
// attached is held. A containment that detached nothing (the drop rules
// alone, or no network to detach) leaves the attachments as they were and
// says nothing of them.
func networkDrift(n *NetworkHold, now []string) []string {
	if n == nil {
		return nil
	}
	detached := map[string]bool{}
	for _, d := range n.Detached {
		if d.Done {
			detached[d.Attachment.Network] = true
		}
	}
	if len(detached) == 0 {
		return nil
	}
	var ways []string
	for _, name := range now {
		switch {
		case n.Quarantine != nil && n.Quarantine.Attached && (name == n.Quarantine.Network.Name || name == n.Quarantine.Network.ID):
		case detached[name]:
			ways = append(ways, "network "+name+" was attached again outside Firebreak")
		default:
			ways = append(ways, "network "+name+" was attached since it was contained")
		}
	}
	return ways
}
