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
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	yaml "go.yaml.in/yaml/v3"

	"firebreak/internal/yamlnode"
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

// LoadRules reads and validates a rules file. Every problem is reported,
// each with its file:line:column, as playbooks.Errors.
func LoadRules(file string) (*RuleSet, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRulesFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ParseRules(file, data)
}

// ParseRules parses and validates a rules file read from name. Every
// problem is reported, each with its name:line:column, as playbooks.Errors
// in file order (only a file that is not YAML, or is too big, too deep or
// uses anchors, stops at the first).
func ParseRules(name string, data []byte) (*RuleSet, error) {
	at := func(line, col int, format string, args ...any) error {
		return playbooks.Errors{{Pos: playbooks.Pos{File: name, Line: line, Col: col}, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(data) > MaxRulesFileSize {
		return nil, at(1, 1, "file is more than %d bytes; a rules file may be at most %d", MaxRulesFileSize, MaxRulesFileSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, playbooks.Errors{rulesYAMLError(name, data, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, at(1, 1, "empty rules file: give a list of rules, each like - name: ..., match: ..., playbook: ...")
	}
	env, err := rulesCELEnv()
	if err != nil {
		return nil, err
	}
	p := &ruleParser{Reader: yamlnode.Reader{File: name, NameKeys: true}, env: env}
	root := doc.Content[0]
	if e := p.CheckTree(root, rulesMaxDepth, "rules files"); e != nil {
		return nil, playbooks.Errors{e}
	}
	rs := p.ruleSet(root)
	if len(p.Errs) > 0 {
		yamlnode.Sort(p.Errs)
		return nil, p.Errs
	}
	return rs, nil
}

// CheckPlaybooks calls known with every rule's playbook (log_only rules'
// too, when they name one) and reports each error it returns at the
// playbook's file:line:column, as playbooks.Errors.
func (rs *RuleSet) CheckPlaybooks(known func(name string) error) error {
	var errs playbooks.Errors
	for _, r := range rs.Rules {
		if r.Playbook == "" {
			continue
		}
		if err := known(r.Playbook); err != nil {
			errs = append(errs, &playbooks.Error{Pos: r.playbookPos, Msg: fmt.Sprintf("rule %s: playbook %s: %v", r.Name, r.Playbook, err)})
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

// --- CEL

// ruleAlertKeys are the keys of `alert` in cel conditions and ${{ }}.
var ruleAlertKeys = []string{"container", "fields", "format", "host", "id", "output", "pod", "priority", "rule", "source", "tags", "time"}

func ruleAlertVars(a Alert) map[string]any {
	t := ""
	if !a.Time.IsZero() {
		t = a.Time.UTC().Format(time.RFC3339Nano)
	}
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	fields := a.Fields
	if fields == nil {
		fields = map[string]string{}
	}
	return map[string]any{"alert": map[string]any{
		"format":    a.Format,
		"id":        a.ID,
		"source":    a.Source,
		"rule":      a.Rule,
		"priority":  a.Priority.String(),
		"time":      t,
		"output":    a.Output,
		"host":      a.Host,
		"tags":      tags,
		"fields":    fields,
		"container": a.Container,
		"pod":       a.Pod,
	}}
}

// rulesCELEnv is the one environment rules compile in: the variable alert,
// a map, and optional types (alert.fields[?"k"].orValue("")).
var rulesCELEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("alert", cel.MapType(cel.StringType, cel.DynType)),
		cel.OptionalTypes(),
	)
})

func compileRuleCEL(env *cel.Env, src string, wantBool bool) (cel.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	if len(src) > rulesMaxExpr {
		return nil, fmt.Errorf("expression longer than %d characters", rulesMaxExpr)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("bad expression %q: %v", src, iss.Err())
	}
	if wantBool && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("%q gives %s; it must give true or false", src, ast.OutputType())
	}
	if bad := ruleUnknownAlertKeys(ast); len(bad) > 0 {
		return nil, fmt.Errorf("%q reads alert.%s, which alerts do not have (they have: %s)", src, strings.Join(bad, ", alert."), strings.Join(ruleAlertKeys, ", "))
	}
	prg, err := env.Program(ast, cel.CostLimit(rulesCELCost), cel.InterruptCheckFrequency(rulesCELCheck))
	if err != nil {
		return nil, fmt.Errorf("bad expression %q: %v", src, err)
	}
	return prg, nil
}

// ruleUnknownAlertKeys lists the keys an expression reads from alert, by
// alert.k, alert.?k, alert["k"] or alert[?"k"], that alerts do not have.
func ruleUnknownAlertKeys(ast *cel.Ast) []string {
	known := map[string]bool{}
	for _, k := range ruleAlertKeys {
		known[k] = true
	}
	isAlert := func(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "alert" }
	var bad []string
	check := func(k string) {
		if !known[k] && !ruleHasString(bad, k) {
			bad = append(bad, k)
		}
	}
	celast.PreOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			if s := e.AsSelect(); isAlert(s.Operand()) {
				check(s.FieldName())
			}
		case celast.CallKind:
			c := e.AsCall()
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				args := c.Args()
				if len(args) == 2 && isAlert(args[0]) && args[1].Kind() == celast.LiteralKind {
					if k, ok := args[1].AsLiteral().(types.String); ok {
						check(string(k))
					}
				}
			}
		}
	}))
	return bad
}

func ruleEvalCEL(prg cel.Program, vars map[string]any) (ref.Val, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RuleCELTimeout)
	defer cancel()
	out, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func ruleEvalString(prg cel.Program, vars map[string]any) (string, error) {
	out, err := ruleEvalCEL(prg, vars)
	if err != nil {
		return "", err
	}
	if l, ok := out.(traits.Lister); ok && out.Type() == types.ListType {
		n, _ := l.Size().(types.Int)
		items := make([]string, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			s, err := ruleScalarString(l.Get(i))
			if err != nil {
				return "", fmt.Errorf("item %d: %v", i, err)
			}
			items = append(items, s)
		}
		return strings.Join(items, ","), nil
	}
	return ruleScalarString(out)
}

func ruleScalarString(v ref.Val) (string, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Double:
		return strconv.FormatFloat(float64(x), 'g', -1, 64), nil
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.Duration.String(), nil
	case *types.Err:
		return "", x
	}
	return "", fmt.Errorf("gives a %s; a param needs a string, number, bool or a list of them", v.Type().TypeName())
}

func ruleMissingKeyHint(err error) string {
	if !strings.Contains(err.Error(), "no such key") {
		return ""
	}
	return ` (the alert has no such key; to allow for that write 'k' in alert.fields ? alert.fields['k'] : '' or alert.fields[?'k'].orValue(''))`
}

// --- params

type ruleParam struct {
	name    string
	literal string         // the value, when it has no ${{ }}
	parts   []ruleTmplPart // nil when it has none
}

type ruleTmplPart struct {
	lit string
	src string // the expression, when prg is set
	prg cel.Program
}

// ruleSplitTemplate cuts a value at each ${{ ... }}. The end of an expression
// is the first }} outside its string literals and braces.
func ruleSplitTemplate(s string) (parts []ruleTmplPart, err error) {
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			if s != "" {
				parts = append(parts, ruleTmplPart{lit: s})
			}
			return parts, nil
		}
		if i > 0 {
			parts = append(parts, ruleTmplPart{lit: s[:i]})
		}
		rest := s[i+3:]
		end := ruleExprEnd(rest)
		if end < 0 {
			return nil, fmt.Errorf("%q has ${{ without its closing }}", s[i:])
		}
		src := strings.TrimSpace(rest[:end])
		if src == "" {
			return nil, errors.New("empty ${{ }}: write an expression over alert, like ${{ alert.rule }}")
		}
		parts = append(parts, ruleTmplPart{src: src})
		s = rest[end+2:]
	}
}

func ruleExprEnd(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '{':
			depth++
		case c == '}':
			if depth == 0 && i+1 < len(s) && s[i+1] == '}' {
				return i
			}
			if depth > 0 {
				depth--
			}
		}
	}
	return -1
}

// --- parsing

var (
	ruleNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	ruleIDPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	rulesFoldedCmp  = regexp.MustCompile(`:\s*>=?\s*[A-Za-z]`)
)

func rulesYAMLError(file string, data []byte, err error) *playbooks.Error {
	e := yamlnode.SyntaxError(file, err)
	if lines := strings.Split(string(data), "\n"); e.Pos.Line-1 < len(lines) && rulesFoldedCmp.MatchString(lines[e.Pos.Line-1]) {
		e.Msg += ` (a value starting with > must be quoted: priority: ">=critical")`
	}
	return e
}

type ruleParser struct {
	yamlnode.Reader
	env *cel.Env
}

// nonEmpty is Str that also refuses "".
func (p *ruleParser) nonEmpty(n *yaml.Node, what, example string) (string, bool) {
	s, ok := p.Str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		p.Errorf(n, "%s is empty: give %s", what, example)
		return "", false
	}
	return s, ok
}

func (p *ruleParser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.Errorf(n, "%s must be true or false", what)
		return false, false
	}
	b, _ := strconv.ParseBool(n.Value)
	return b, true
}

// list reads a non-empty list of strings.
func (p *ruleParser) list(n *yaml.Node, what, example string) ([]string, []*yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "%s must be a list, like %s", what, example)
		return nil, nil
	}
	if len(n.Content) == 0 {
		p.Errorf(n, "%s is an empty list: give at least one item, like %s, or drop it", what, example)
		return nil, nil
	}
	if len(n.Content) > rulesListLimit {
		p.Errorf(n, "%s has %d items; at most %d", what, len(n.Content), rulesListLimit)
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, it := range n.Content {
		if s, ok := p.nonEmpty(it, "an item of "+what, "a value"); ok {
			out = append(out, s)
			nodes = append(nodes, it)
		}
	}
	return out, nodes
}

func (p *ruleParser) ruleSet(n *yaml.Node) *RuleSet {
	rs := &RuleSet{File: p.File}
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "a rules file is a list of rules: start each with - name: <name>")
		return rs
	}
	if len(n.Content) == 0 {
		p.Errorf(n, "no rules: give at least one rule, like - {name: x, match: {rule: \"...\"}, playbook: y}")
		return rs
	}
	if len(n.Content) > MaxRules {
		p.Errorf(n, "%d rules; a rules file may have at most %d", len(n.Content), MaxRules)
		return rs
	}
	names := map[string]*yaml.Node{}
	for _, rn := range n.Content {
		r, nameNode := p.rule(rn)
		if nameNode != nil && r.Name != "" {
			if first, dup := names[r.Name]; dup {
				p.Errorf(nameNode, "rule name %q is used twice (first at line %d): give each rule its own name", r.Name, first.Line)
			} else {
				names[r.Name] = nameNode
			}
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs
}

func (p *ruleParser) rule(n *yaml.Node) (*Rule, *yaml.Node) {
	r := &Rule{Line: n.Line, Column: n.Column, Dedupe: DefaultDedupe, file: p.File}
	var nameNode, matchNode, playbookNode *yaml.Node
	if p.Fields(n, "a rule", map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) {
			nameNode = v
			if s, ok := p.nonEmpty(v, "name", "a name like escape or miner"); ok {
				r.Name = s
				if !ruleNamePattern.MatchString(s) {
					p.Errorf(v, "rule name %q: use letters, digits, '.', '_' and '-', at most 64 (it names the rule in journals)", s)
				}
			}
		},
		"match": func(v *yaml.Node) { matchNode = v; p.match(v, &r.match) },
		"playbook": func(v *yaml.Node) {
			playbookNode = v
			r.playbookPos = p.Pos(v)
			if s, ok := p.nonEmpty(v, "playbook", "the name of a playbook, like escape-suspected"); ok {
				r.Playbook = s
				if !ruleNamePattern.MatchString(s) {
					p.Errorf(v, "playbook %q is not a playbook name: use letters, digits, '.', '_' and '-'", s)
				}
			}
		},
		"approve":  func(v *yaml.Node) { p.approve(v, r) },
		"params":   func(v *yaml.Node) { r.params = p.params(v) },
		"log_only": func(v *yaml.Node) { r.LogOnly, _ = p.boolean(v, "log_only") },
		"dedupe": func(v *yaml.Node) {
			s, ok := p.Str(v, "dedupe")
			if !ok {
				return
			}
			d, err := time.ParseDuration(strings.TrimSpace(s))
			switch {
			case err != nil:
				p.Errorf(v, "dedupe %q is not a duration: give a window like 5m, 30s or 1h", s)
			case d < 0:
				p.Errorf(v, "dedupe %q is negative: give a window like 5m or 30s", s)
			case d == 0:
				p.Errorf(v, "dedupe %q: the window must be more than 0: give one like 5m or 30s (1s starts a run for nearly every alert)", s)
			default:
				r.Dedupe = d
			}
		},
		"rate": func(v *yaml.Node) { r.Rate = p.rate(v) },
	}) == nil {
		return r, nil
	}
	what := "this rule"
	if r.Name != "" {
		what = "rule " + r.Name
	}
	if nameNode == nil {
		p.Errorf(n, "rule has no name: add name: <name>")
	}
	if matchNode == nil {
		p.Errorf(n, "%s has no match: add match: with at least one of %s (or match: {any: true} for every alert)", what, ruleMatchKeys)
	}
	if playbookNode == nil && !r.LogOnly {
		p.Errorf(n, "%s has no playbook: add playbook: <name>, or log_only: true to journal its alerts without a run", what)
	}
	return r, nameNode
}

const ruleMatchKeys = "source, rule, priority, tags, fields, host, host_event, cel"

func (p *ruleParser) approve(v *yaml.Node, r *Rule) {
	const how = "approve is a list of the playbook's step IDs, like [hand_over], or all for every step"
	if v.Kind == yaml.ScalarNode {
		if v.Tag == "!!str" && v.Value == "all" {
			r.ApproveAll = true
			return
		}
		p.Errorf(v, "approve: %q: %s", v.Value, how)
		return
	}
	if v.Kind != yaml.SequenceNode {
		p.Errorf(v, "%s", how)
		return
	}
	if len(v.Content) > rulesListLimit {
		p.Errorf(v, "approve has %d items; at most %d", len(v.Content), rulesListLimit)
		return
	}
	r.Approve = []string{}
	seen := map[string]bool{}
	for _, it := range v.Content {
		s, ok := p.Str(it, "a step ID in approve")
		switch {
		case !ok:
		case s == "all":
			p.Errorf(it, "to approve every step write approve: all, not a list")
		case !ruleIDPattern.MatchString(s):
			p.Errorf(it, "approve: %q is not a step ID: step IDs are lower-case letters, digits and '_', starting with a letter", s)
		case seen[s]:
			p.Errorf(it, "approve: step %q is given twice", s)
		default:
			seen[s] = true
			r.Approve = append(r.Approve, s)
		}
	}
}

func (p *ruleParser) params(v *yaml.Node) []*ruleParam {
	if v.Kind != yaml.MappingNode {
		p.Errorf(v, "params must be a mapping of the playbook's parameter names to values")
		return nil
	}
	var out []*ruleParam
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if !ruleIDPattern.MatchString(k.Value) {
			p.Errorf(k, "parameter name %q: use lower-case letters, digits and '_', starting with a letter", k.Value)
			continue
		}
		if seen[k.Value] {
			p.Errorf(k, "%q given twice in params", k.Value)
			continue
		}
		seen[k.Value] = true
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			at := val
			if val.Tag == "!!null" {
				at = k // a missing value has no place of its own
			}
			p.Errorf(at, "param %s must be a single value (a string, number or bool; a list as one string, like \"a,b\"; \"\" for empty)", k.Value)
			continue
		}
		pr := &ruleParam{name: k.Value, literal: val.Value}
		if strings.Contains(val.Value, "${{") {
			parts, err := ruleSplitTemplate(val.Value)
			if err != nil {
				p.Errorf(val, "param %s: %v", k.Value, err)
				continue
			}
			ok := true
			for j := range parts {
				if parts[j].src == "" {
					continue
				}
				prg, err := compileRuleCEL(p.env, parts[j].src, false)
				if err != nil {
					p.Errorf(val, "param %s: %v", k.Value, err)
					ok = false
					continue
				}
				parts[j].prg = prg
			}
			if !ok {
				continue
			}
			pr.parts = parts
		}
		out = append(out, pr)
	}
	return out
}

func (p *ruleParser) rate(v *yaml.Node) *RateLimit {
	rl := &RateLimit{Burst: 1}
	var perNode *yaml.Node
	ok := p.Fields(v, "rate", map[string]func(*yaml.Node){
		"per_second": func(n *yaml.Node) {
			perNode = n
			if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
				p.Errorf(n, "per_second must be a number, like 2 or 0.5 (runs a second)")
				return
			}
			var f float64
			switch err := n.Decode(&f); {
			case err != nil:
				p.Errorf(n, "per_second %q: give a number like 2 or 0.5", n.Value)
			case math.IsInf(f, 0) || math.IsNaN(f):
				p.Errorf(n, "per_second %s is not a finite number: give one like 2 or 0.5, or drop rate for no limit", n.Value)
			case f <= 0:
				p.Errorf(n, "per_second %s must be more than 0: give a rate like 0.1 (one run every 10s) or 2, or drop rate for no limit", n.Value)
			default:
				rl.PerSecond = f
			}
		},
		"burst": func(n *yaml.Node) {
			if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
				p.Errorf(n, "burst must be a whole number, like 5 (runs started at once)")
				return
			}
			b, err := strconv.Atoi(n.Value)
			switch {
			case err != nil:
				p.Errorf(n, "burst %q: give a whole number like 5", n.Value)
			case b < 1:
				p.Errorf(n, "burst %d must be at least 1 (runs started at once, like 5)", b)
			default:
				rl.Burst = b
			}
		},
	}) != nil
	if ok && perNode == nil {
		p.Errorf(v, "rate needs per_second: write rate: {per_second: 2, burst: 5}, or drop rate for no limit")
	}
	return rl
}

func (p *ruleParser) match(v *yaml.Node, m *ruleMatch) {
	var anyNode *yaml.Node
	keys := 0
	given := func() { keys++ }
	if p.Fields(v, "match", map[string]func(*yaml.Node){
		"any": func(n *yaml.Node) {
			anyNode = n
			b, ok := p.boolean(n, "any")
			if ok && !b {
				p.Errorf(n, "any: false matches nothing: drop it")
			}
			m.any = b
		},
		"source": func(n *yaml.Node) { given(); m.source = p.text(n, "source", "syscall or /^k8s/") },
		"rule": func(n *yaml.Node) {
			given()
			m.rule = p.text(n, "rule", `"Terminal shell in container" or "/^Detect crypto miners/"`)
		},
		"priority": func(n *yaml.Node) {
			given()
			m.priority = p.priority(n)
		},
		"tags": func(n *yaml.Node) {
			given()
			m.tags, _ = p.list(n, "tags", "[mitre_execution]")
		},
		"fields": func(n *yaml.Node) {
			given()
			ss, nodes := p.list(n, "fields", `["proc.name=xmrig", "container.image.repository!=registry.local/ci", "k8s.pod.name"]`)
			for i, s := range ss {
				if f, ok := p.field(nodes[i], s); ok {
					m.fields = append(m.fields, f)
				}
			}
		},
		"host": func(n *yaml.Node) {
			given()
			s, ok := p.nonEmpty(n, "host", `a glob like "node-*"`)
			if !ok {
				return
			}
			if _, err := path.Match(s, ""); err != nil {
				p.Errorf(n, "host %q is not a valid glob: use * (any characters), ? (one) and [a-z] (a class), like node-*", s)
				return
			}
			m.host = s
		},
		"host_event": func(n *yaml.Node) {
			given()
			if b, ok := p.boolean(n, "host_event"); ok {
				m.hostEvent = &b
			}
		},
		"cel": func(n *yaml.Node) {
			given()
			s, ok := p.nonEmpty(n, "cel", `a condition over alert, like 'alert.fields["proc.cmdline"].contains("stratum")'`)
			if !ok {
				return
			}
			prg, err := compileRuleCEL(p.env, s, true)
			if err != nil {
				p.Errorf(n, "cel: %v", err)
				return
			}
			m.cel = prg
		},
	}) == nil {
		return
	}
	switch {
	case anyNode != nil && keys > 0:
		p.Errorf(anyNode, "any: true matches every alert, so the other keys of this match do nothing: drop any, or the other keys")
	case anyNode == nil && keys == 0:
		p.Errorf(v, "empty match would match every alert: give at least one of %s, or write match: {any: true} if every alert is meant", ruleMatchKeys)
	}
}

func (p *ruleParser) text(n *yaml.Node, what, example string) *ruleText {
	s, ok := p.nonEmpty(n, what, example)
	if !ok {
		return nil
	}
	t, err := parseRuleText(s)
	if err != nil {
		p.Errorf(n, "%s: %v", what, err)
		return nil
	}
	return t
}

// parseRuleText reads an exact string or a /regexp/.
func parseRuleText(s string) (*ruleText, error) {
	if len(s) < 2 || s[0] != '/' || s[len(s)-1] != '/' {
		return &ruleText{exact: s}, nil
	}
	src := s[1 : len(s)-1]
	if src == "" {
		return nil, errors.New("empty regexp //: give a pattern between the slashes, like /^Detect/")
	}
	if len(src) > rulesMaxExpr {
		return nil, fmt.Errorf("regexp longer than %d characters", rulesMaxExpr)
	}
	re, err := regexp.Compile(src)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		return nil, fmt.Errorf("bad regexp %s: %s: write an RE2 regexp between slashes, or an exact string without them", s, msg)
	}
	return &ruleText{re: re}, nil
}

func (p *ruleParser) priority(n *yaml.Node) *rulePriority {
	s, ok := p.nonEmpty(n, "priority", `a priority like ">=critical" or warning`)
	if !ok {
		return nil
	}
	rp := &rulePriority{op: "="}
	word := strings.TrimSpace(s)
	for _, op := range []string{">=", "<=", ">", "<", "="} {
		if w, ok := strings.CutPrefix(word, op); ok {
			rp.op, word = op, strings.TrimSpace(w)
			break
		}
	}
	if word != "" && strings.ContainsAny(word[:1], "<>=!") {
		p.Errorf(n, "priority %q: not a comparison: write >=, >, <=, < or = and then the word, like \">=critical\" (or the word alone for =)", s)
		return nil
	}
	pr, ok := ParsePriority(word)
	if !ok {
		p.Errorf(n, "priority %q: %q is not a priority; write one of debug, informational, notice, warning, error, critical, alert, emergency, alone or after >=, >, <=, < or = (like \">=critical\")", s, word)
		return nil
	}
	rp.p = pr
	return rp
}

func (p *ruleParser) field(n *yaml.Node, s string) (ruleField, bool) {
	// Field values are paths and command lines, where a slash is common:
	// = and != compare exactly; ~= and !~= take a regexp.
	f := ruleField{}
	if i := strings.Index(s, "="); i < 0 {
		f.key = strings.TrimSpace(s)
	} else {
		f.key, f.op = s[:i], "="
		regex := false
		if strings.HasSuffix(f.key, "~") {
			f.key, regex = f.key[:len(f.key)-1], true
		}
		if strings.HasSuffix(f.key, "!") {
			f.key, f.op = f.key[:len(f.key)-1], "!="
		}
		f.key = strings.TrimSpace(f.key)
		val := strings.TrimSpace(s[i+1:])
		if regex {
			t, err := parseRuleText("/" + strings.TrimSuffix(strings.TrimPrefix(val, "/"), "/") + "/")
			if err != nil {
				p.Errorf(n, "fields: %q: %v", s, err)
				return f, false
			}
			f.val = *t
		} else {
			f.val = ruleText{exact: val}
		}
	}
	if f.key == "" {
		p.Errorf(n, "fields: %q has no field name: write name=value, name!=value, name~=regexp, name!~=regexp or name, like proc.name=xmrig", s)
		return f, false
	}
	return f, true
}
