package contain

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"firebreak/runtime"
)

// Options say what one containment does.
type Options struct {
	Network           bool           // cut the network (drop rules; detach engine networks)
	Pause             bool           // freeze every process
	QuarantineNetwork string         // engine network to attach after detaching (Docker), "" for none
	Allow             []netip.Prefix // kept open in the drop rules, for forensic access
	DryRun            bool           // plan only
	Case              string         // case the containment belongs to
	Actor             string         // who asked, for the record
	Verify            bool           // probe peers before and after the cut
	Probe             []string       // extra peers to probe (host or host:port)
	ProbePort         int            // port for peers named without one
	ProbeTimeout      time.Duration  // per probe
	// WithSharers cuts a network namespace that other containers share
	// too (a named namespace several containers joined, none of them its
	// owner): the rules cut all of them, deliberately. The caller contains
	// every sharer (see runtime.NetworkMode.SharedWith), so each is frozen
	// and recorded, and release keeps the rules until the last lets go.
	WithSharers bool
	// Pod is set when the container is acted on as a member of a
	// Kubernetes pod (see PodRef): its record names the pod, and the
	// sandbox's shared namespace may be cut, since the whole pod is held.
	Pod *PodRef
}

// PodRef names the Kubernetes pod a containment record belongs to. A pod is
// held as one: the sandbox's record holds the drop rules in the pod's
// network namespace and its freeze, and each container's record its
// freeze; all of them carry the same PodRef, and status shows them as one.
type PodRef struct {
	Ref       string `json:"ref"` // pod/NAMESPACE/NAME
	UID       string `json:"uid,omitempty"`
	SandboxID string `json:"sandbox_id"`
}

// podOf names the pod a container of the CRI plugin belongs to ("" for
// none), from the labels the kubelet gives a pod's sandbox and containers.
func podOf(labels map[string]string) string {
	ns, name := labels["io.kubernetes.pod.namespace"], labels["io.kubernetes.pod.name"]
	if name == "" {
		return ""
	}
	return "pod/" + ns + "/" + name
}

// CheckAllow refuses a prefix kept open in the drop rules that opens
// everything (0.0.0.0/0, ::/0): a containment with it cuts nothing, yet its
// verdict could read isolated.
func CheckAllow(p netip.Prefix) error {
	if p.Bits() == 0 {
		return fmt.Errorf("%s keeps every address open: that is no containment; allow the forensic host or subnet only", p)
	}
	return nil
}

// DefaultParallel is how many containers a fleet run acts on at once. The
// engine serialises its own network changes, so a bound lower than the fleet
// leaves the last targets waiting behind others' detach before their cut.
const DefaultParallel = 64

// DefaultOptions are the CLI's defaults.
func DefaultOptions() Options {
	return Options{Network: true, Pause: true, Verify: true, ProbePort: 80, ProbeTimeout: 250 * time.Millisecond}
}

// Change is one act that a containment or release makes, or would make.
type Change struct {
	Action string `json:"action"`
	Detail string `json:"detail"`
	Done   bool   `json:"done"`
	Error  string `json:"error,omitempty"`
}

// Timings measure a containment from the identity check on.
type Timings struct {
	Started time.Time     `json:"started"`
	Cut     time.Duration `json:"cut_ns"`    // network cut (first layer in place)
	Frozen  time.Duration `json:"frozen_ns"` // cut and frozen
	Total   time.Duration `json:"total_ns"`  // every act done and verified
}

// Result reports one container's containment or release.
type Result struct {
	Container    runtime.Container `json:"container"`
	Runtime      string            `json:"runtime"`
	DryRun       bool              `json:"dry_run"`
	Changes      []Change          `json:"changes"`
	Unchanged    bool              `json:"unchanged"` // nothing needed doing
	Notes        []string          `json:"notes,omitempty"`
	Timings      *Timings          `json:"timings,omitempty"`
	Verification *Verification     `json:"verification,omitempty"`
	Record       *Record           `json:"record,omitempty"`
}

// Containment performs contain and release against one engine.
type Containment struct {
	rt        runtime.Runtime
	store     *Records
	namespace string
	now       func() time.Time
	endWait   time.Duration // how long a stop or kill waits to see the container end

	peersMu sync.Mutex
	peers   map[string][]string // network -> member addresses, read once per Containment
}

// New returns a Containment working on rt, recording in store. namespace is
// the engine namespace (containerd) the records are kept under.
func New(rt runtime.Runtime, store *Records, namespace string) *Containment {
	return &Containment{rt: rt, store: store, namespace: namespace, now: time.Now, endWait: 5 * time.Second}
}

// Status returns the record held on a container, nil when none.
func (c *Containment) Status(id string) (*Record, error) {
	return c.store.Load(c.rt.Name(), c.namespace, id)
}

// FirstContained is when the container was first contained in the
// incident, from this engine's records (see FirstContainedIn).
func (c *Containment) FirstContained(id, name, caseID string) (time.Time, error) {
	recs, err := c.History()
	if err != nil {
		return time.Time{}, err
	}
	return FirstContainedIn(recs, id, name, caseID), nil
}

// History is every record of this engine (and namespace), held and
// released, oldest first.
func (c *Containment) History() ([]*Record, error) {
	return c.store.History(c.rt.Name(), c.namespace)
}

// FirstContainedIn is the earliest record in history (oldest first), held
// or released, of the container with ID id or of one that was named name
// when it was contained, that is either held now or belongs to case
// caseID. A recover takes its latest snapshot from before then: one taken
// after a containment, even one released since, or after the suspect was
// renamed or removed, may hold the attacker's changes. Zero when there is
// none.
func FirstContainedIn(history []*Record, id, name, caseID string) time.Time {
	name = strings.TrimPrefix(name, "/")
	for _, r := range history {
		this := (id != "" && r.Container.ID == id) || (name != "" && strings.TrimPrefix(r.Container.Name, "/") == name)
		if !this {
			continue
		}
		held := r.Held() && r.Phase != "released"
		if held || (caseID != "" && r.Case == caseID) {
			return r.Since
		}
	}
	return time.Time{}
}

// RefuseUnheld refuses a suspect that would go on running or reachable
// beside the service brought back in its place: one that runs or is
// paused without Firebreak holding it (a `docker pause` by hand leaves its
// networks and aliases attached, and nothing would show a later thaw as
// drift). A stopped one, or one Firebreak holds, passes.
func (c *Containment) RefuseUnheld(ctx context.Context, t runtime.Container, verb string) error {
	d, err := c.rt.Inspect(ctx, t.ID)
	if err != nil {
		return err
	}
	if d.State != runtime.StateRunning && d.State != runtime.StatePaused {
		return nil
	}
	rec, err := c.Status(t.ID)
	if err != nil {
		return err
	}
	if rec.Held() {
		return nil
	}
	return &runtime.RefusedError{Container: d.Container, Reason: fmt.Sprintf("it is %s but not held by Firebreak: its networks and aliases stay attached, and a thaw would put it beside the service %s brings back, with nothing to show it. Nothing was changed. Contain it first (firebreak contain %s), or stop it", d.State, verb, t.TypedName())}
}

// Held returns every record held on this engine (and namespace).
func (c *Containment) Held() ([]*Record, error) {
	return c.store.List(c.rt.Name(), c.namespace)
}

// hostNetNS is the network namespace Firebreak runs in, taken as the host's.
const hostNetNS = "/proc/self/ns/net"

func refuseShared(d runtime.Details) error {
	if pod := podOf(d.Labels); pod != "" && d.NetworkMode.Kind != "host" {
		return &runtime.RefusedError{Container: d.Container, Reason: fmt.Sprintf("it belongs to Kubernetes pod %s, whose containers share one network namespace: a pod is contained as a unit (its namespace cut, every container and its sandbox frozen). Nothing was changed. Contain the pod: `firebreak contain %s`, or freeze this container alone with `firebreak contain --network=false`", strings.TrimPrefix(pod, "pod/"), pod)}
	}
	switch d.NetworkMode.Kind {
	case "host":
		return &runtime.RefusedError{Container: d.Container, Reason: "it shares the host's network namespace; cutting its network would cut the host's. Nothing was changed. Freeze it instead: `firebreak contain --network=false` (pause only)"}
	case "container":
		var others []string
		for _, o := range d.NetworkMode.SharedWith {
			others = append(others, runtime.ShortID(o))
		}
		return &runtime.RefusedError{Container: d.Container, Reason: fmt.Sprintf("it shares its network namespace with %s; cutting it would cut them too. Nothing was changed. Contain the container whose namespace it is (when one owns it), cut the namespace with every sharer contained (`firebreak contain --with-sharers`), or freeze this one with `firebreak contain --network=false`", strings.Join(others, ", "))}
	}
	if d.NetNSPath != "" {
		host, herr := netnsInode(hostNetNS)
		own, oerr := netnsInode(d.NetNSPath)
		if herr == nil && oerr == nil && host == own {
			return &runtime.RefusedError{Container: d.Container, Reason: "its network namespace is the host's; cutting it would cut the host. Nothing was changed. Freeze it instead: `firebreak contain --network=false`"}
		}
	}
	return nil
}

// plan works out the acts a containment needs from the container's state as
// it is now, so that containing twice changes nothing the second time and a
// containment cut short by a crash is finished by running it again.
func (c *Containment) plan(d runtime.Details, rec *Record, opts Options) ([]Change, []string, error) {
	var changes []Change
	var notes []string
	_, ownsNet := c.rt.(runtime.NetworkAttacher)
	if opts.Network {
		if opts.QuarantineNetwork != "" && !ownsNet {
			return nil, nil, fmt.Errorf("--quarantine-network needs an engine that owns networking (docker); %s leaves networking to CNI: use --allow to keep a forensic path open", c.rt.Name())
		}
		if d.NetNSPath != "" {
			want := &opts.Allow
			if rec != nil && rec.Network != nil && rec.Network.Firewall {
				want = installedAllow(rec.Network)
			}
			present, err := firewallPresent(d.NetNSPath, want)
			if err != nil {
				return nil, nil, err
			}
			sameAllow := rec != nil && rec.Network != nil && slices.Equal(rec.Network.Allow, prefixStrings(opts.Allow))
			if !present || !sameAllow || opts.QuarantineNetwork != "" && !quarantineAttached(d, opts.QuarantineNetwork) {
				detail := "drop every packet in and out of its network namespace except loopback"
				if len(opts.Allow) > 0 {
					detail += " and " + strings.Join(prefixStrings(opts.Allow), ", ")
				}
				if opts.QuarantineNetwork != "" {
					detail += " and the subnets of " + opts.QuarantineNetwork
				}
				changes = append(changes, Change{Action: "firewall", Detail: detail})
			}
		} else {
			notes = append(notes, fmt.Sprintf("no network namespace (container %s): nothing to filter", d.State))
		}
		if ownsNet {
			for _, a := range d.Networks {
				if a.Network == opts.QuarantineNetwork {
					continue
				}
				changes = append(changes, Change{Action: "disconnect", Detail: describeAttachment(a)})
			}
			if opts.QuarantineNetwork != "" && !quarantineAttached(d, opts.QuarantineNetwork) {
				changes = append(changes, Change{Action: "quarantine", Detail: "attach to internal network " + opts.QuarantineNetwork + " (created if missing)"})
			}
		}
	}
	if opts.Pause {
		switch d.State {
		case runtime.StateRunning:
			// Network first, then freeze. The drop rules cut the network
			// at once; the engine's detach is slower, so when rules come
			// first the freeze follows them directly and the detach after.
			pause := Change{Action: "pause", Detail: "freeze every process"}
			if len(changes) > 0 && changes[0].Action == "firewall" {
				changes = slices.Insert(changes, 1, pause)
			} else {
				changes = append(changes, pause)
			}
		case runtime.StatePaused:
			if rec == nil || rec.Pause == nil || !rec.Pause.Paused {
				notes = append(notes, "already paused before Firebreak acted: release will leave it paused")
			}
		default:
			notes = append(notes, fmt.Sprintf("not running (%s): nothing to freeze", d.State))
		}
	}
	return changes, notes, nil
}

func quarantineAttached(d runtime.Details, name string) bool {
	for _, a := range d.Networks {
		if a.Network == name {
			return true
		}
	}
	return false
}

func describeAttachment(a runtime.Attachment) string {
	var b strings.Builder
	b.WriteString(a.Network)
	var parts []string
	if a.IPv4Address != "" {
		parts = append(parts, a.IPv4Address)
	}
	if a.IPv6Address != "" {
		parts = append(parts, a.IPv6Address)
	}
	if len(a.Aliases) > 0 {
		parts = append(parts, "aliases "+strings.Join(a.Aliases, ","))
	}
	if len(a.Links) > 0 {
		parts = append(parts, "links "+strings.Join(a.Links, ","))
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, "; ") + ")")
	}
	return b.String()
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Masked().String()
	}
	return out
}

// Contain isolates one resolved container: network first (drop rules in its
// namespace, then engine detach), then freeze, then verification. It checks
// that the container is still the one resolved before acting, writes the
// record before each act, and changes nothing on a dry run.
func (c *Containment) Contain(ctx context.Context, target runtime.Container, opts Options) (*Result, error) {
	start := c.now()
	res := &Result{Container: target, Runtime: c.rt.Name(), DryRun: opts.DryRun}
	d, err := runtime.CheckSame(ctx, c.rt, target)
	if err != nil {
		return res, err
	}
	res.Container = d.Container
	if opts.Network {
		if err := refuseShared(d); err != nil {
			podCut := opts.Pod != nil && opts.Pod.SandboxID == d.ID && d.NetNSPath != "" && d.NetworkMode.Kind != "host"
			if podCut {
				res.Notes = append(res.Notes, "the drop rules in the sandbox's network namespace cut every container of "+opts.Pod.Ref)
			} else if !opts.WithSharers || podOf(d.Labels) != "" || d.NetworkMode.Kind != "container" || d.NetNSPath == "" {
				return res, err
			} else {
				var others []string
				for _, o := range d.NetworkMode.SharedWith {
					others = append(others, runtime.ShortID(o))
				}
				res.Notes = append(res.Notes, "its network namespace is shared with "+strings.Join(others, ", ")+": the drop rules cut them too (--with-sharers)")
			}
		}
	}
	rec, unlock, err := c.lockRecord(d.ID, opts.DryRun)
	if err != nil {
		return res, err
	}
	defer unlock()
	changes, notes, err := c.plan(d, rec, opts)
	if err != nil {
		return res, err
	}
	res.Changes, res.Notes = changes, append(res.Notes, notes...)
	if len(changes) == 0 && !rec.Held() && d.State != runtime.StateRunning && d.State != runtime.StatePaused {
		return res, &runtime.RefusedError{Container: d.Container, Reason: fmt.Sprintf(
			"NOT held: it is %s, with no process to freeze and no network namespace or engine network to cut, so it would start unconstrained. Contain it once it runs, or remove it; nothing was changed", d.State)}
	}
	if len(changes) > 0 && d.State != runtime.StateRunning && d.State != runtime.StatePaused {
		res.Notes = append(res.Notes, fmt.Sprintf("it is %s: only its engine networks are detached; if it starts it runs unfrozen and without drop rules (status shows DRIFT): contain it again then", d.State))
	}
	if len(changes) == 0 {
		res.Unchanged = true
		res.Record = rec
		if rec == nil {
			res.Notes = append(res.Notes, "nothing to contain")
		}
		return res, nil
	}
	if opts.DryRun {
		res.Notes = append(res.Notes, c.joinersNote(ctx, d, opts)...)
		return res, nil
	}

	now := c.now()
	if rec == nil {
		rec = &Record{Version: 1, Runtime: c.rt.Name(), Namespace: c.namespace, Container: d.Container, Since: now}
	}
	rec.Phase, rec.Updated = "containing", now
	if rec.Ended != nil && (d.State == runtime.StateRunning || d.State == runtime.StatePaused) {
		// Ended by Firebreak, running again (restarted): held anew.
		res.Notes = append(res.Notes, "Firebreak ended its processes ("+rec.Ended.String()+") and it runs again: held anew from now")
		rec.Ended, rec.Since = nil, now
	}
	if opts.Case != "" {
		rec.Case = opts.Case
	}
	if opts.Actor != "" {
		rec.Actor = opts.Actor
	}
	if opts.Pod != nil {
		rec.Pod = opts.Pod
	}
	if opts.Network {
		if rec.Network == nil {
			rec.Network = &NetworkHold{}
		}
		rec.Network.NetNSPath = d.NetNSPath
		if d.NetNSPath != "" {
			rec.Network.NetNSInode, _ = netnsInode(d.NetNSPath)
		}
		for _, a := range d.Networks {
			if a.Network == opts.QuarantineNetwork || recorded(rec.Network.Detached, a.Network) {
				continue
			}
			rec.Network.Detached = append(rec.Network.Detached, Detachment{Attachment: a})
		}
	}
	if opts.Pause && d.State == runtime.StatePaused && (rec.Pause == nil || !rec.Pause.Paused) {
		rec.Pause = &PauseHold{WasPaused: true}
	}
	allow := slices.Clone(opts.Allow)
	var quarantine runtime.Network
	if has(changes, "quarantine") || (opts.QuarantineNetwork != "" && has(changes, "firewall")) {
		// Known before the cut, so its subnets are let through the drop rules.
		quarantine, err = c.rt.(runtime.NetworkAttacher).EnsureInternalNetwork(ctx, opts.QuarantineNetwork)
		if err != nil {
			return res, err
		}
		for _, s := range quarantine.Subnets {
			if p, err := netip.ParsePrefix(s); err == nil {
				allow = append(allow, p)
			}
		}
		rec.Network.Quarantine = &QuarantineHold{Network: quarantine, Attached: rec.Network.Quarantine != nil && rec.Network.Quarantine.Attached}
	}
	if rec.Network != nil {
		rec.Network.Allow = prefixStrings(opts.Allow)
	}
	var targets []string
	if opts.Network && opts.Verify && d.NetNSPath != "" {
		targets = c.probeTargets(ctx, d, opts)
	}
	var before []ProbeResult
	if len(targets) > 0 {
		before, err = probe(ctx, d.NetNSPath, targets, opts.ProbeTimeout)
		if err != nil {
			return res, fmt.Errorf("probing peers before containment: %w", err)
		}
	}
	// Before the first act an interrupt changes nothing; once acting has
	// begun, the cut and the freeze are finished whatever comes (a
	// container left cut but running, or frozen but connected, is worse
	// than either end).
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("interrupted before containing %s; nothing was changed: %w", d.ShortID(), err)
	}
	actx := context.WithoutCancel(ctx)
	if err := c.save(rec, "plan", fmt.Sprintf("%d changes planned", len(changes)), nil); err != nil {
		return res, err
	}

	timings := &Timings{Started: start}
	res.Timings = timings
	fail := func(i int, err error) (*Result, error) {
		res.Changes[i].Error = err.Error()
		if serr := c.save(rec, res.Changes[i].Action, res.Changes[i].Detail, err); serr != nil {
			err = errors.Join(err, serr)
		}
		return res, fmt.Errorf("%s %s: %w (what is done stays recorded: `firebreak status %s` shows it, `firebreak contain` again finishes, `firebreak release` undoes)", res.Changes[i].Action, d.ShortID(), err, d.ShortID())
	}
	for i := range res.Changes {
		ch := &res.Changes[i]
		switch ch.Action {
		case "firewall":
			if err := installFirewall(d.NetNSPath, allow); err != nil {
				return fail(i, err)
			}
			rec.Network.Firewall = true
			rec.Network.Installed = prefixStrings(allow)
		case "pause":
			if err := c.rt.Pause(actx, d.ID); err != nil {
				return fail(i, err)
			}
			if rec.Pause == nil {
				rec.Pause = &PauseHold{}
			}
			rec.Pause.Paused = true
		case "disconnect":
			net := strings.SplitN(ch.Detail, " ", 2)[0]
			if err := c.rt.(runtime.NetworkAttacher).Disconnect(actx, d.ID, net); err != nil {
				return fail(i, err)
			}
			for j := range rec.Network.Detached {
				if rec.Network.Detached[j].Attachment.Network == net {
					rec.Network.Detached[j].Done = true
				}
			}
		case "quarantine":
			if err := c.rt.(runtime.NetworkAttacher).Connect(actx, d.ID, runtime.Attachment{Network: quarantine.Name, NetworkID: quarantine.ID}, false); err != nil {
				return fail(i, err)
			}
			rec.Network.Quarantine.Attached = true
		}
		ch.Done = true
		if err := c.save(rec, ch.Action, ch.Detail, nil); err != nil {
			return res, err
		}
		switch {
		case ch.Action == "firewall" || (ch.Action == "disconnect" && timings.Cut == 0):
			timings.Cut = c.now().Sub(start)
		case ch.Action == "pause":
			timings.Frozen = c.now().Sub(start)
		}
	}
	if timings.Frozen == 0 {
		timings.Frozen = timings.Cut
	}
	if opts.Network {
		allowed := allow
		if rec.Network != nil && rec.Network.Firewall {
			allowed = *installedAllow(rec.Network)
		}
		res.Verification = c.verify(ctx, d, before, opts, allowed)
	}
	// Who joined its namespace is asked after the acts: it is a note, and
	// must not delay the cut.
	res.Notes = append(res.Notes, c.joinersNote(ctx, d, opts)...)
	rec.Phase = "contained"
	if err := c.save(rec, "contained", "", nil); err != nil {
		return res, err
	}
	res.Record = rec
	timings.Total = c.now().Sub(start)
	if v := res.Verification; v != nil && v.Verdict == NotIsolated {
		return res, &NotIsolatedError{Container: d.Container, Detail: v.Detail}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("interrupted while containing %s; the cut and the freeze were finished (`firebreak status` shows it): %w", d.ShortID(), err)
	}
	return res, nil
}

// joinersNote names the containers that joined d's network namespace
// (Docker's --network container:X), which a cut of it cuts too.
func (c *Containment) joinersNote(ctx context.Context, d runtime.Details, opts Options) []string {
	j, ok := c.rt.(runtime.NamespaceJoiners)
	if !ok || !opts.Network {
		return nil
	}
	joined, err := j.Joiners(context.WithoutCancel(ctx), d.ID)
	if err != nil || len(joined) == 0 {
		return nil
	}
	var names []string
	for _, o := range joined {
		names = append(names, o.ShortID()+" ("+o.Name+")")
	}
	return []string{"its network namespace is joined by " + strings.Join(names, ", ") + ": cutting it cuts them too (freeze them with `firebreak contain --network=false`)"}
}

func has(changes []Change, action string) bool {
	for _, c := range changes {
		if c.Action == action {
			return true
		}
	}
	return false
}

func recorded(ds []Detachment, network string) bool {
	for _, d := range ds {
		if d.Attachment.Network == network {
			return true
		}
	}
	return false
}

// Elsewhere counts containers held on other engines or namespaces (see
// Records.Elsewhere).
func (c *Containment) Elsewhere() (map[string]int, error) {
	return c.store.Elsewhere(c.rt.Name(), c.namespace)
}

// LockTarget takes the target's run lock (see Records.LockTarget); what
// says what holds it, e.g. "case IR-1, playbook escape-suspected".
func (c *Containment) LockTarget(id, what string) (func(), error) {
	return c.store.LockTarget(c.rt.Name(), c.namespace, id, what)
}

// lockRecord takes the container's lock, held by this process for one act,
// and loads its record (nil when nothing is held). The caller unlocks.
// A dry run only reads: it takes no lock, so it writes nothing.
func (c *Containment) lockRecord(id string, dryRun bool) (*Record, func(), error) {
	if dryRun {
		rec, err := c.store.Load(c.rt.Name(), c.namespace, id)
		return rec, func() {}, err
	}
	unlock, err := c.store.Lock(c.rt.Name(), c.namespace, id)
	if err != nil {
		return nil, nil, err
	}
	rec, err := c.store.Load(c.rt.Name(), c.namespace, id)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return rec, unlock, nil
}

func (c *Containment) save(rec *Record, action, detail string, err error) error {
	e := Entry{Time: c.now().UTC(), Action: action, Detail: detail}
	if err != nil {
		e.Error = err.Error()
	}
	rec.Log = append(rec.Log, e)
	rec.Updated = e.Time
	if serr := c.store.Save(rec); serr != nil {
		return fmt.Errorf("recording %s of %s: %w", action, rec.Container.ShortID(), serr)
	}
	return nil
}
