// Package alerts turns runtime-security alerts into playbook runs: it
// decodes what Falco, falcosidekick, Tetragon, Tracee, Alertmanager and
// StackRox send, matches each alert to a rule, deduplicates on (source,
// rule, container), journals every alert before it is acknowledged, and
// runs the rule's playbook through the case session (`firebreak serve`).
package alerts

import (
	"strings"
	"time"
)

// Priority is an alert's severity on Falco's scale, the one rules compare:
// every format's own words are mapped onto it.
type Priority int

const (
	PriorityUnknown Priority = iota
	Debug
	Informational
	Notice
	Warning
	Error
	Critical
	AlertLevel // Falco's "Alert"
	Emergency
)

var priorityNames = []string{"unknown", "debug", "informational", "notice", "warning", "error", "critical", "alert", "emergency"}

func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "unknown"
	}
	return priorityNames[p]
}

// ParsePriority reads a priority word, case-insensitively, with the
// spellings the senders use ("info", "warn", "err", "crit", "emerg").
func ParsePriority(s string) (Priority, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return Debug, true
	case "informational", "info":
		return Informational, true
	case "notice":
		return Notice, true
	case "warning", "warn":
		return Warning, true
	case "error", "err":
		return Error, true
	case "critical", "crit":
		return Critical, true
	case "alert":
		return AlertLevel, true
	case "emergency", "emerg":
		return Emergency, true
	}
	return PriorityUnknown, false
}

// Alert is one alert, whatever sent it, reduced to what rules match on and
// what names the target.
type Alert struct {
	// Format is the decoder that read it: falco, tetragon, tracee,
	// alertmanager, stackrox.
	Format string `json:"format"`
	// ID is the sender's own ID where it gives one (falcosidekick's uuid,
	// Alertmanager's fingerprint, StackRox's alert id); "" otherwise.
	ID string `json:"id,omitempty"`
	// Source is what produced the event (Falco's source: syscall,
	// k8s_audit; Tetragon: process_exec, process_kprobe; ...).
	Source   string    `json:"source"`
	Rule     string    `json:"rule"`
	Priority Priority  `json:"priority"`
	Time     time.Time `json:"time"`
	Output   string    `json:"output,omitempty"`
	Host     string    `json:"host,omitempty"`
	Tags     []string  `json:"tags,omitempty"`
	// Fields are the event's fields, flattened to strings under the
	// sender's own names (Falco: container.id, proc.cmdline, k8s.pod.name).
	Fields map[string]string `json:"fields,omitempty"`
	// Container is the container the alert names: a full or short (12
	// character) ID, "host" for an event on the host itself, or "" when
	// it names none.
	Container string `json:"container,omitempty"`
	// Pod names the Kubernetes pod, NAMESPACE/NAME, where the sender says.
	Pod string `json:"pod,omitempty"`
	// Resolved is true for an alert its sender says has resolved: an
	// Alertmanager alert whose status is "resolved", or a StackRox alert
	// whose state is RESOLVED.
	Resolved bool `json:"resolved,omitempty"`
}

// OnHost reports whether the alert is about the host, not a container.
func (a Alert) OnHost() bool { return a.Container == "host" }
