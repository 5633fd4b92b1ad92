package alerts

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	yaml "go.yaml.in/yaml/v3"

	"firebreak/internal/yamlnode"
	"firebreak/playbooks"
)

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
	return p.Bool(n, what)
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
