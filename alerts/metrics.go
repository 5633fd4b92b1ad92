package alerts

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics are serve's counters and latencies, written in Prometheus' text
// exposition format at /metrics. A handful of counters and two histograms
// do not need a metrics library: the format is a few lines of text.
type Metrics struct {
	Accepted      *CounterVec // alerts journalled, by format
	Refused       *CounterVec // requests refused, by reason (auth, replay, malformed, too_large, queue_full)
	Suppressed    *CounterVec // alerts suppressed, by reason
	Outcomes      *CounterVec // alerts decided, by outcome
	Runs          *CounterVec // runs started, and ended by status
	AcceptLatency *Histogram  // request received to 202 (journalled)
	StartLatency  *Histogram  // alert accepted to its run started
	JournalSync   *Histogram  // one batch of the intake journal written and synced
}

// NewMetrics makes empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		Accepted:      newCounterVec("firebreak_alerts_accepted_total", "Alerts journalled and acknowledged, by format.", "format"),
		Refused:       newCounterVec("firebreak_alerts_refused_total", "Refused before anything was journalled, by reason: requests (auth, replay, malformed, too_large), alerts (queue_full).", "reason"),
		Suppressed:    newCounterVec("firebreak_alerts_suppressed_total", "Alerts journalled and not run, by reason.", "reason"),
		Outcomes:      newCounterVec("firebreak_alerts_decided_total", "Alerts decided, by outcome.", "outcome"),
		Runs:          newCounterVec("firebreak_runs_total", "Playbook runs started, and ended by status.", "status"),
		AcceptLatency: newHistogram("firebreak_alert_accept_seconds", "From a request's arrival to its acknowledgement (alerts journalled and synced)."),
		StartLatency:  newHistogram("firebreak_alert_to_run_seconds", "From an alert's acceptance to the start of its run."),
		JournalSync:   newHistogram("firebreak_journal_sync_seconds", "One batch of intake journal lines written and synced (group commit)."),
	}
}

// WriteTo writes every metric in the text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	for _, c := range []*CounterVec{m.Accepted, m.Refused, m.Suppressed, m.Outcomes, m.Runs} {
		c.write(cw)
	}
	m.AcceptLatency.write(cw)
	m.StartLatency.write(cw)
	m.JournalSync.write(cw)
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) printf(format string, args ...any) {
	if c.err != nil {
		return
	}
	n, err := fmt.Fprintf(c.w, format, args...)
	c.n += int64(n)
	c.err = err
}

// CounterVec is a counter with one label.
type CounterVec struct {
	name, help, label string
	mu                sync.Mutex
	values            map[string]*atomic.Uint64
}

func newCounterVec(name, help, label string) *CounterVec {
	return &CounterVec{name: name, help: help, label: label, values: map[string]*atomic.Uint64{}}
}

// Add adds n to the counter of value.
func (c *CounterVec) Add(value string, n uint64) {
	c.mu.Lock()
	v := c.values[value]
	if v == nil {
		v = &atomic.Uint64{}
		c.values[value] = v
	}
	c.mu.Unlock()
	v.Add(n)
}

// Get reads the counter of value.
func (c *CounterVec) Get(value string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v := c.values[value]; v != nil {
		return v.Load()
	}
	return 0
}

func (c *CounterVec) write(w *countWriter) {
	w.printf("# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
	c.mu.Lock()
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		w.printf("%s{%s=%q} %d\n", c.name, c.label, k, c.Get(k))
	}
}

// Histogram counts durations into fixed buckets (seconds).
type Histogram struct {
	name, help string
	bounds     []float64
	mu         sync.Mutex
	counts     []uint64 // one per bound, then +Inf
	sum        float64
	count      uint64
}

var latencyBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newHistogram(name, help string) *Histogram {
	return &Histogram{name: name, help: help, bounds: latencyBounds, counts: make([]uint64, len(latencyBounds)+1)}
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(h.bounds, s)
	h.mu.Lock()
	h.counts[i]++
	h.sum += s
	h.count++
	h.mu.Unlock()
}

// Count is how many durations were observed.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

func (h *Histogram) write(w *countWriter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.printf("# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name)
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		w.printf("%s_bucket{le=\"%g\"} %d\n", h.name, b, cum)
	}
	cum += h.counts[len(h.bounds)]
	w.printf("%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", h.name, cum, h.name, h.sum, h.name, h.count)
}
