package alerts

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Target is what an alert resolved to on this host.
type Target struct {
	ID   string // the container's full ID (for a pod: its sandbox's)
	Name string // for the journal and the log: name, or pod/NAMESPACE/NAME
}

// RunRequest is one playbook run an alert asks for.
type RunRequest struct {
	Rule     string // the rule that asked for it
	Case     string
	Playbook string
	Target   Target
	Params   map[string]string
	Approve  []string
	Yes      bool
	Resume   bool // take up the case's interrupted run (a fresh one when it never began)
}

// ErrHeld says the target is held by another run: the alert is suppressed,
// not acted on twice.
var ErrHeld = errors.New("held by another run")

// Responder is what the dispatcher acts through: the case session, or a
// fake in tests of pure logic.
type Responder interface {
	// Resolve names the alert's target on this engine: an unknown or
	// ambiguous container is an error, never a guess.
	Resolve(ctx context.Context, a Alert) (Target, error)
	// Run runs the playbook and returns the run's status word; an error
	// wrapping ErrHeld means another run holds the target.
	Run(ctx context.Context, r RunRequest) (string, error)
}

// DefaultDedupe is the dedupe window a rule gets unless it names one.
const DefaultDedupe = 5 * time.Minute

// Config configures a Dispatcher.
type Config struct {
	Rules     *RuleSet
	Journal   *Journal
	Responder Responder
	DryRun    bool
	// Queue bounds the alerts accepted and not yet dispatched: beyond it
	// Accept refuses (HTTP 429) rather than grow.
	Queue int
	// Runs bounds the runs under way at once.
	Runs int
	// Rate limits the runs started, all rules together (0: none).
	Rate  float64
	Burst int
	// NewCase makes a case ID for a run.
	NewCase func(time.Time) string
	// Log receives a line for each decision (nil: none).
	Log func(string)
	Now func() time.Time
}

// ErrFull says the queue is full: the sender should retry later (429).
var ErrFull = errors.New("intake queue full")

type item struct {
	seq      uint64
	accepted time.Time
	alert    Alert
}

type dedupeKey struct{ source, rule, target string }

type dedupeState struct {
	seq      uint64
	at       time.Time
	priority Priority
}

// Dispatcher journals alerts, matches them to rules and starts the runs.
// Decisions are taken by one goroutine in the order alerts were accepted;
// runs go on in their own.
type Dispatcher struct {
	cfg      Config
	queue    chan item
	reserved atomic.Int64
	runs     chan struct{}
	global   *rate.Limiter
	perRule  map[string]*rate.Limiter
	dmu      sync.Mutex // dedupe: the decider reads and sets it, a failed run clears its entry
	dedupe   map[dedupeKey]dedupeState
	resolved map[string]resolution // the alert's container reference -> what it resolved to, briefly
	Metrics  *Metrics
	runWG    sync.WaitGroup
}

// NewDispatcher makes a dispatcher; Recover then Loop start it.
func NewDispatcher(cfg Config) *Dispatcher {
	if cfg.Queue <= 0 {
		cfg.Queue = 10000
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = func(string) {}
	}
	d := &Dispatcher{cfg: cfg, queue: make(chan item, cfg.Queue), runs: make(chan struct{}, cfg.Runs),
		perRule: map[string]*rate.Limiter{}, dedupe: map[dedupeKey]dedupeState{}, resolved: map[string]resolution{}, Metrics: NewMetrics()}
	if cfg.Rate > 0 {
		d.global = rate.NewLimiter(rate.Limit(cfg.Rate), max(cfg.Burst, 1))
	}
	for _, r := range cfg.Rules.Rules {
		if r.Rate != nil {
			d.perRule[r.Name] = rate.NewLimiter(rate.Limit(r.Rate.PerSecond), r.Rate.Burst)
		}
	}
	return d
}

// Accept journals alerts (synced) and queues them; only then may the
// sender be told they are accepted. A full queue refuses them all, before
// anything is written.
func (d *Dispatcher) Accept(as []Alert, via, webhookID string) ([]uint64, error) {
	n := int64(len(as))
	if d.reserved.Add(n) > int64(d.cfg.Queue) {
		d.reserved.Add(-n)
		d.Metrics.Refused.Add("queue_full", uint64(len(as)))
		return nil, ErrFull
	}
	now := d.cfg.Now().UTC()
	entries := make([]Entry, len(as))
	seqs := make([]uint64, len(as))
	for i := range as {
		seqs[i] = d.cfg.Journal.Next()
		a := as[i]
		entries[i] = Entry{Seq: seqs[i], Time: now, Kind: KindAccepted, Alert: &a, Via: via, WebhookID: webhookID}
	}
	if err := d.cfg.Journal.Append(entries...); err != nil {
		d.reserved.Add(-n)
		return nil, err
	}
	for i := range as {
		d.Metrics.Accepted.Add(as[i].Format, 1)
		d.queue <- item{seq: seqs[i], accepted: now, alert: as[i]}
	}
	return seqs, nil
}

// Recover takes up what the journal left open: a run that began and did not
// finish is resumed under its case; an alert accepted and not decided is
// decided again, in order. The dedupe windows are rebuilt from the runs
// the journal records. It returns how many it took up.
func (d *Dispatcher) Recover(ctx context.Context, entries []Entry) int {
	type story struct {
		accepted *Entry
		started  *Entry
		done     bool
		failed   bool // its run ended otherwise than succeeded: no dedupe against it
	}
	stories := map[uint64]*story{}
	for i := range entries {
		e := &entries[i]
		s := stories[e.Seq]
		if s == nil {
			s = &story{}
			stories[e.Seq] = s
		}
		switch {
		case e.Kind == KindAccepted:
			s.accepted = e
		case e.Kind == KindStarted:
			s.started = e
		case terminal(e.Kind):
			s.done = true
			s.failed = e.Kind == KindFinished && e.Status != "succeeded"
		}
	}
	seqs := make([]uint64, 0, len(stories))
	for seq := range stories {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	var redo []item
	for _, seq := range seqs {
		s := stories[seq]
		if s.accepted == nil || s.accepted.Alert == nil {
			continue
		}
		a := *s.accepted.Alert
		if s.started != nil {
			st := s.started
			key := dedupeKey{a.Source, a.Rule, st.Target}
			if old, ok := d.dedupe[key]; !s.failed && (!ok || old.at.Before(s.accepted.Time)) {
				d.dedupe[key] = dedupeState{seq: seq, at: s.accepted.Time, priority: a.Priority}
			}
			if !s.done {
				rule := d.ruleNamed(st.Rule)
				req := RunRequest{Rule: st.Rule, Case: st.Case, Playbook: st.Playbook, Target: Target{ID: st.Target}, Resume: true}
				if rule != nil {
					req.Approve, req.Yes = rule.Approve, rule.ApproveAll
					req.Params, _ = rule.Params(a)
				}
				d.cfg.Log(fmt.Sprintf("alert %d: resuming the run of case %s interrupted by a stop", seq, st.Case))
				// In the background: the listeners must not wait for a
				// slot (a sender that does not retry would lose alerts).
				d.runWG.Add(1)
				go func() {
					defer d.runWG.Done()
					d.startRun(context.WithoutCancel(ctx), seq, req, time.Time{}, key)
				}()
			}
			continue
		}
		if !s.done {
			redo = append(redo, item{seq: seq, accepted: s.accepted.Time, alert: a})
		}
	}
	if len(redo) > 0 {
		d.reserved.Add(int64(len(redo)))
		go func() {
			for _, it := range redo {
				select {
				case d.queue <- it:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return len(redo)
}

func (d *Dispatcher) ruleNamed(name string) *Rule {
	for _, r := range d.cfg.Rules.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Loop decides every queued alert until ctx ends, then waits for the runs
// under way.
func (d *Dispatcher) Loop(ctx context.Context) {
	defer d.runWG.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-d.queue:
			// An alert taken from the queue is decided whole, even when
			// the loop is stopping: a cancelled context must not write it
			// off as unresolved.
			d.reserved.Add(-1)
			d.decide(context.WithoutCancel(ctx), it)
		}
	}
}

// Drain decides what is queued now and returns when it is done and every
// run has ended (serve --stdin at the end of its input).
func (d *Dispatcher) Drain(ctx context.Context) {
	for {
		select {
		case it := <-d.queue:
			d.reserved.Add(-1)
			d.decide(ctx, it)
			continue
		default:
		}
		if d.reserved.Load() <= 0 {
			break
		}
		select {
		case it := <-d.queue:
			d.reserved.Add(-1)
			d.decide(ctx, it)
		case <-ctx.Done():
			return
		}
	}
	d.runWG.Wait()
}

// record journals an outcome that a crash before its write would only make
// decided again, the same way: it does not wait for the sync.
func (d *Dispatcher) record(e Entry) {
	if err := d.cfg.Journal.AppendAsync(e); err != nil {
		d.cfg.Log(fmt.Sprintf("alert %d: %v", e.Seq, err))
	}
}

func (d *Dispatcher) decide(ctx context.Context, it item) {
	a := it.alert
	rule, ok := d.cfg.Rules.Match(a)
	if !ok {
		d.Metrics.Outcomes.Add(KindUnmatched, 1)
		d.record(Entry{Seq: it.seq, Kind: KindUnmatched})
		return
	}
	base := Entry{Seq: it.seq, Rule: rule.Name, Playbook: rule.Playbook}
	outcome := func(kind, reason string) {
		e := base
		e.Kind, e.Reason = kind, reason
		d.Metrics.Outcomes.Add(kind, 1)
		if kind == KindSuppressed {
			d.Metrics.Suppressed.Add(reasonClass(reason), 1)
		}
		d.record(e)
	}
	switch {
	case rule.LogOnly:
		outcome(KindLogged, "the rule logs only")
		return
	case a.OnHost():
		outcome(KindLogged, "a host event: no container to act on")
		return
	case a.Resolved:
		outcome(KindSuppressed, "resolved: the sender says the alert ended")
		return
	}
	target, err := d.resolve(ctx, a, it.accepted)
	if err != nil {
		outcome(KindUnresolved, err.Error())
		return
	}
	base.Target = target.ID
	key := dedupeKey{a.Source, a.Rule, target.ID}
	window := rule.Dedupe
	if window == 0 {
		window = DefaultDedupe
	}
	d.dmu.Lock()
	st, dup := d.dedupe[key]
	d.dmu.Unlock()
	if dup && it.accepted.Sub(st.at) < window && a.Priority <= st.priority {
		e := base
		e.Kind, e.Reason, e.DupOf = KindSuppressed, fmt.Sprintf("duplicate within %s of alert %d", window, st.seq), st.seq
		d.Metrics.Outcomes.Add(KindSuppressed, 1)
		d.Metrics.Suppressed.Add("duplicate", 1)
		d.record(e)
		return
	}
	if l := d.perRule[rule.Name]; l != nil && !l.Allow() {
		outcome(KindSuppressed, fmt.Sprintf("rate limit of rule %s", rule.Name))
		return
	}
	if d.global != nil && !d.global.Allow() {
		outcome(KindSuppressed, "global rate limit of runs")
		return
	}
	params, err := rule.Params(a)
	if err != nil {
		e := base
		e.Kind, e.Status = KindFinished, "failed: "+err.Error()
		d.Metrics.Outcomes.Add("failed", 1)
		d.record(e)
		return
	}
	d.dmu.Lock()
	d.dedupe[key] = dedupeState{seq: it.seq, at: it.accepted, priority: a.Priority}
	d.dmu.Unlock()
	if d.cfg.DryRun {
		outcome(KindDryRun, fmt.Sprintf("would run %s on %s", rule.Playbook, target.Name))
		return
	}
	req := RunRequest{Rule: rule.Name, Case: d.cfg.NewCase(d.cfg.Now()), Playbook: rule.Playbook, Target: target, Params: params, Approve: rule.Approve, Yes: rule.ApproveAll}
	d.startRun(ctx, it.seq, req, it.accepted, key)
}

// resolution is one resolved container reference.
type resolution struct {
	target Target
	err    error
	at     time.Time
}

// resolveTTL is how long a resolution is reused: a flood names the same
// container thousands of times a second, and asking the engine for each
// would make the queue, not the engine, the limit. The run itself checks
// the container again (ID and creation time) before it acts.
const resolveTTL = 2 * time.Second

func (d *Dispatcher) resolve(ctx context.Context, a Alert, now time.Time) (Target, error) {
	key := a.Pod + "\x00" + a.Container
	if r, ok := d.resolved[key]; ok && now.Sub(r.at) < resolveTTL && now.Sub(r.at) >= 0 {
		return r.target, r.err
	}
	t, err := d.cfg.Responder.Resolve(ctx, a)
	// The engine not answering may pass: try again a few times, and keep
	// only answers (a target, or an unknown or ambiguous container).
	for try := 0; try < 3 && (errors.Is(err, errEngine) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)); try++ {
		time.Sleep(time.Duration(200*(try+1)) * time.Millisecond)
		t, err = d.cfg.Responder.Resolve(ctx, a)
	}
	if errors.Is(err, errEngine) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return t, err
	}
	if len(d.resolved) > 10000 {
		clear(d.resolved)
	}
	d.resolved[key] = resolution{target: t, err: err, at: now}
	return t, err
}

// startRun records the start (before the run, so that a crash after it
// resumes the case rather than starting another) and runs the playbook.
func (d *Dispatcher) startRun(ctx context.Context, seq uint64, req RunRequest, accepted time.Time, key dedupeKey) {
	select {
	case d.runs <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if !req.Resume {
		e := Entry{Seq: seq, Kind: KindStarted, Case: req.Case, Playbook: req.Playbook, Target: req.Target.ID, Rule: req.Rule}
		if !accepted.IsZero() {
			lat := d.cfg.Now().Sub(accepted)
			e.LatencyNS = int64(lat)
			d.Metrics.StartLatency.Observe(lat)
		}
		if err := d.cfg.Journal.Append(e); err != nil {
			<-d.runs
			d.cfg.Log(fmt.Sprintf("alert %d: not run, the journal failed: %v", seq, err))
			return
		}
	}
	d.Metrics.Runs.Add("started", 1)
	d.cfg.Log(fmt.Sprintf("alert %d: %s on %s, case %s", seq, req.Playbook, orID(req.Target), req.Case))
	d.runWG.Add(1)
	go func() {
		defer d.runWG.Done()
		defer func() { <-d.runs }()
		status, err := d.cfg.Responder.Run(context.WithoutCancel(ctx), req)
		e := Entry{Seq: seq, Kind: KindFinished, Case: req.Case, Status: status}
		switch {
		case errors.Is(err, ErrHeld):
			e.Kind, e.Reason = KindSuppressed, err.Error()
			d.Metrics.Suppressed.Add("held", 1)
		case err != nil:
			if e.Status == "" {
				e.Status = "failed"
			}
			e.Reason = err.Error()
		}
		if e.Kind == KindFinished && e.Status != "succeeded" {
			// A failed run holds no window: the next alert for the
			// container starts a run again.
			d.dmu.Lock()
			if st, ok := d.dedupe[key]; ok && st.seq == seq {
				delete(d.dedupe, key)
			}
			d.dmu.Unlock()
		}
		d.Metrics.Runs.Add(e.Status, 1)
		d.record(e)
		d.cfg.Log(fmt.Sprintf("alert %d: case %s %s %s", seq, req.Case, e.Status, e.Reason))
	}()
}

func orID(t Target) string {
	if t.Name != "" {
		return t.Name
	}
	return t.ID
}

// reasonClass is the metric label of a suppression reason.
func reasonClass(reason string) string {
	switch {
	case len(reason) >= 9 && reason[:9] == "duplicate":
		return "duplicate"
	case len(reason) >= 4 && (reason[:4] == "rate" || reason[:4] == "glob"):
		return "rate_limit"
	case len(reason) >= 8 && reason[:8] == "resolved":
		return "resolved"
	}
	return "other"
}
