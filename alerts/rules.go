package alerts

// The rules file maps alerts to playbooks. It is a YAML list of rules; the
// first rule, in file order, whose match holds for an alert decides what is
// done with it:
//
//	- name: escape
//	  match: {rule: "Container escape attempt", priority: ">=critical"}
//	  playbook: escape-suspected
//	  approve: [hand_over]
//	  params: {quarantine_network: "fb-quarantine"}
//	- name: miner
//	  match:
//	    source: syscall
//	    rule: "/^Detect crypto miners/"
//	    tags: [mitre_execution]
//	    fields: ["container.image.repository!=registry.local/ci", "proc.cmdline~=stratum\\+tcp", "proc.name"]
//	    host: "node-*"
//	    cel: 'alert.fields["proc.cmdline"].contains("stratum")'
//	  playbook: cryptominer
//	  params: {reason: "${{ alert.rule }} on ${{ alert.fields['container.name'] }}"}
//	  dedupe: 10m
//	  rate: {per_second: 2, burst: 5}
//	- name: host-events
//	  match: {host_event: true}
//	  log_only: true
//
// It is read like a playbook: go.yaml.in/yaml/v3 nodes walked by hand, so
// that every problem (unknown or repeated keys, wrong shapes, bad
// durations, regexps, globs, priorities and CEL) is reported at its
// file:line:column, all of them at once, as playbooks.Errors.

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"firebreak/playbooks"
)

// Limits on the rules file, so that a broken or hostile file cannot make
// the loader, or matching, use unbounded time or memory.
const (
	MaxRulesFileSize = 1 << 20 // bytes
	MaxRules         = 1000

	// RuleCELTimeout bounds one evaluation of a rule's cel condition or of
	// one ${{ }} in its params. The CEL cost limit is what normally stops
	// an expensive expression; the timeout is the backstop, generous
	// because a host under attack (a miner on every core) is slow.
	RuleCELTimeout = time.Second

	rulesMaxDepth  = 32
	rulesMaxExpr   = 4096 // characters in one CEL expression or regexp
	rulesCELCost   = 100000
	rulesCELCheck  = 100 // interrupt check frequency, in comprehension iterations
	rulesListLimit = 256 // items in tags, fields or approve
)

// RuleSet is a parsed, valid rules file.
type RuleSet struct {
	Rules []*Rule
	File  string // the name errors and positions refer to

	// OnError, when set, is called by Match with every evaluation error of
	// a rule's cel condition (the rule then does not match, and its Errors
	// counter goes up). It is called from whatever goroutine calls Match,
	// so it must be safe for concurrent use.
	OnError func(r *Rule, err error)
}

// Rule is one rule of a rules file.
type Rule struct {
	Name string
	// Playbook is the playbook a match runs; "" only for a log_only rule.
	Playbook string
	// Line and Column are where the rule starts in its RuleSet's File.
	Line, Column int
	// Approve lists the playbook's step IDs approved in advance for runs
	// started by this rule; ApproveAll approves every step. With neither,
	// a run stops at the first step that needs approval and waits for a
	// human (it fails closed).
	Approve    []string
	ApproveAll bool
	// LogOnly rules journal their matches and start no run. A log_only
	// rule may keep its playbook, approve and params (a way to mute a rule
	// without deleting it); they are checked but not used.
	LogOnly bool
	// Dedupe is the window in which alerts with the same (source, rule,
	// container) start one run: DefaultDedupe when the rule gives none. It
	// is never 0 (dedupe: 0s is refused; the dispatcher reads 0 as the
	// default).
	Dedupe time.Duration
	// Rate limits the runs this rule starts; nil means no limit.
	Rate *RateLimit
	// Errors counts evaluations of the rule's cel condition that failed
	// (for a missing map key, a wrong type, the cost limit or the
	// timeout). A failed evaluation means the rule does not match.
	Errors atomic.Uint64

	file        string
	playbookPos playbooks.Pos
	match       ruleMatch
	params      []*ruleParam
}

// RateLimit is a token bucket: PerSecond tokens a second, at most Burst
// at once.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// CheckPlaybooks loads every rule's playbook with load (log_only rules'
// too, when they name one) and checks the rule against it: each param the
// playbook declares, each approve a step it has. A list parameter filled
// from the alert (${{ }}) is refused: a comma in attacker-written alert text
// would add items (an allow list opened to 0.0.0.0/0). Each problem is
// reported at the rule's playbook's file:line:column.
func (rs *RuleSet) CheckPlaybooks(load func(name string) (*playbooks.Playbook, error)) error {
	var errs playbooks.Errors
	for _, r := range rs.Rules {
		if r.Playbook == "" {
			continue
		}
		fail := func(format string, args ...any) {
			errs = append(errs, &playbooks.Error{Pos: r.playbookPos, Msg: fmt.Sprintf("rule %s: ", r.Name) + fmt.Sprintf(format, args...)})
		}
		pb, err := load(r.Playbook)
		if err != nil {
			fail("playbook %s: %v", r.Playbook, err)
			continue
		}
		decl := map[string]*playbooks.ParamDecl{}
		var names []string
		for _, d := range pb.Params {
			decl[d.Name] = d
			names = append(names, d.Name)
		}
		for _, p := range r.params {
			d, ok := decl[p.name]
			switch {
			case !ok:
				fail("param %s: playbook %s has no such parameter (it has: %s)", p.name, r.Playbook, strings.Join(names, ", "))
			case d.Type == playbooks.TypeList && p.parts != nil:
				fail("param %s is a list in playbook %s: a value from the alert could add items (a comma splits it); give it literally", p.name, r.Playbook)
			}
		}
		for _, id := range r.Approve {
			found := false
			for _, st := range pb.Steps {
				found = found || st.ID == id
			}
			if !found {
				var ids []string
				for _, st := range pb.Steps {
					ids = append(ids, st.ID)
				}
				fail("approve %s: playbook %s has no such step (its steps: %s)", id, r.Playbook, strings.Join(ids, ", "))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Match returns the first rule, in file order, that matches the alert: all
// of its match keys hold. A cel condition sees the alert as Params
// describes; when its evaluation fails the rule does not match (see
// Rule.Errors and RuleSet.OnError) and the next rule is tried. An alert
// whose priority is unknown matches no priority comparison. Match is safe
// for concurrent use.
func (rs *RuleSet) Match(a Alert) (*Rule, bool) {
	var vars map[string]any // built once, for the first rule that needs it
	for _, r := range rs.Rules {
		ok, err := r.match.matches(a, &vars)
		if err != nil {
			r.Errors.Add(1)
			if rs.OnError != nil {
				rs.OnError(r, fmt.Errorf("%s: rule %s: cel: %w", r.pos(), r.Name, err))
			}
			continue
		}
		if ok {
			return r, true
		}
	}
	return nil, false
}

// Params expands the rule's params for an alert: each ${{ CEL }} in a
// value is evaluated over `alert` and replaced by its result (a string as
// it is; a number or bool as written in CEL; a list as its items joined
// with ","). The alert's keys are format, id, source, rule, priority (its
// word, like "critical"), time (RFC 3339 in UTC, "" when unknown), output,
// host, tags (a list), fields (a map of strings), container and pod. An
// expression that fails (a field the alert does not have, a wrong type)
// makes an error that names the param and the expression; every failing
// param is reported.
func (r *Rule) Params(a Alert) (map[string]string, error) {
	out := make(map[string]string, len(r.params))
	var vars map[string]any
	var errs []error
	for _, p := range r.params {
		if p.parts == nil {
			out[p.name] = p.literal
			continue
		}
		if vars == nil {
			vars = ruleAlertVars(a)
		}
		var b strings.Builder
		failed := false
		for _, part := range p.parts {
			if part.prg == nil {
				b.WriteString(part.lit)
				continue
			}
			s, err := ruleEvalString(part.prg, vars)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: rule %s: param %s: ${{ %s }}: %v%s", r.pos(), r.Name, p.name, part.src, err, ruleMissingKeyHint(err)))
				failed = true
				break
			}
			b.WriteString(s)
		}
		if !failed {
			out[p.name] = b.String()
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (r *Rule) pos() string { return fmt.Sprintf("%s:%d:%d", r.file, r.Line, r.Column) }

// --- matching

type ruleMatch struct {
	any       bool
	source    *ruleText
	rule      *ruleText
	priority  *rulePriority
	hostEvent *bool
	host      string // a path.Match glob; "" when not given
	tags      []string
	fields    []ruleField
	cel       cel.Program
}

func (m *ruleMatch) matches(a Alert, vars *map[string]any) (bool, error) {
	if m.any {
		return true, nil
	}
	if m.source != nil && !m.source.match(a.Source) {
		return false, nil
	}
	if m.rule != nil && !m.rule.match(a.Rule) {
		return false, nil
	}
	if m.priority != nil && !m.priority.match(a.Priority) {
		return false, nil
	}
	if m.hostEvent != nil && a.OnHost() != *m.hostEvent {
		return false, nil
	}
	if m.host != "" {
		if ok, _ := path.Match(m.host, a.Host); !ok {
			return false, nil
		}
	}
	for _, t := range m.tags {
		if !ruleHasString(a.Tags, t) {
			return false, nil
		}
	}
	for _, f := range m.fields {
		if !f.match(a.Fields) {
			return false, nil
		}
	}
	if m.cel != nil {
		if *vars == nil {
			*vars = ruleAlertVars(a)
		}
		out, err := ruleEvalCEL(m.cel, *vars)
		if err != nil {
			return false, err
		}
		b, ok := out.(types.Bool)
		if !ok {
			return false, fmt.Errorf("gave %s, not true or false", out.Type().TypeName())
		}
		return bool(b), nil
	}
	return true, nil
}

func ruleHasString(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

// ruleText is an exact string, or a regexp written /like this/ (searched
// for as written: anchor it with ^ and $ to match the whole string).
type ruleText struct {
	exact string
	re    *regexp.Regexp
}

func (t *ruleText) match(s string) bool {
	if t.re != nil {
		return t.re.MatchString(s)
	}
	return s == t.exact
}

type rulePriority struct {
	op string // one of >= > <= < =
	p  Priority
}

// match is false for an alert whose priority is unknown: it is neither
// above nor below anything.
func (rp *rulePriority) match(p Priority) bool {
	if p <= PriorityUnknown || p > Emergency {
		return false
	}
	switch rp.op {
	case ">=":
		return p >= rp.p
	case ">":
		return p > rp.p
	case "<=":
		return p <= rp.p
	case "<":
		return p < rp.p
	default:
		return p == rp.p
	}
}

type ruleField struct {
	key string
	op  string // "=" equal (or matching, for ~=), "!=" absent or different (not matching, for !~=), "" present
	val ruleText
}

func (f *ruleField) match(fields map[string]string) bool {
	v, ok := fields[f.key]
	switch f.op {
	case "=":
		return ok && f.val.match(v)
	case "!=":
		return !ok || !f.val.match(v)
	default:
		return ok
	}
}
