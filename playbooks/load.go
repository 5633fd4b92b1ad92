package playbooks

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"firebreak/internal/yamlnode"
)

// Pos is a place in a playbook file (or a scenario or rules file: drill
// and alerts read theirs with the same walker, internal/yamlnode).
type Pos = yamlnode.Pos

// Error is one problem found in a playbook, at a place, with what to fix.
type Error = yamlnode.Error

// Errors is every problem found in a playbook, in file order.
type Errors = yamlnode.Errors

// Playbook is a parsed playbook. Positions point into its source.
type Playbook struct {
	Name            string
	Description     string
	Params          []*ParamDecl
	Steps           []*Step
	OnTargetFailure TargetFailure
	Source          []byte // the file as read, for the journal's digest
	Pos             Pos
}

// ParamDecl declares one playbook parameter.
type ParamDecl struct {
	Name        string
	Type        Type
	Default     any // nil when none
	Required    bool
	Description string
	Pos         Pos
}

// Step is one step of a playbook.
type Step struct {
	ID        string
	Action    string
	With      map[string]*Value
	Needs     []string
	When      string
	Timeout   time.Duration
	Retries   int
	OnFailure OnFailure
	Approval  string // prompt; "" when no approval is needed
	Pos       Pos
	ActionPos Pos
	NeedsPos  []Pos
	WhenPos   Pos
}

// Value is a step parameter: a literal, or an expression "${{ ... }}".
type Value struct {
	Literal any
	Expr    string
	Tag     string // YAML tag of a literal: !!str, !!int, !!bool, !!seq, ...
	Pos     Pos
}

// Limits on what the loader reads, so that a hostile or broken file cannot
// make it use unbounded time or memory.
const (
	MaxFileSize = 1 << 20
	maxDepth    = 32
	maxSteps    = 500
)

var (
	idPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	exprPattern = regexp.MustCompile(`^\$\{\{(.*)\}\}$`)
)

// Parse reads a playbook. It returns Errors listing every structural problem
// (unknown keys, wrong shapes, bad durations, duplicate IDs); Validate checks
// the rest against the action registry.
func Parse(file string, data []byte) (*Playbook, error) {
	pb, errs := parsePartial(file, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return pb, nil
}

type parser struct {
	yamlnode.Reader
}

func (p *parser) str(n *yaml.Node, what string) string {
	s, _ := p.Str(n, what)
	return s
}

func (p *parser) integer(n *yaml.Node, what string) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.Errorf(n, "%s must be a whole number", what)
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		p.Errorf(n, "%s: %v", what, err)
	}
	return v
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	b, _ := p.Bool(n, what)
	return b
}

func (p *parser) playbook(n *yaml.Node) *Playbook {
	pb := &Playbook{Pos: p.Pos(n), OnTargetFailure: TargetFailureContinue}
	var stepsNode *yaml.Node
	p.Fields(n, "the playbook", map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) {
			pb.Name = p.str(v, "name")
			if pb.Name != "" && !namePattern.MatchString(pb.Name) {
				p.Errorf(v, "name %q: use letters, digits, '.', '_' and '-' (it names the playbook in journals, cases and `run`)", pb.Name)
			}
		},
		"description": func(v *yaml.Node) { pb.Description = p.str(v, "description") },
		"params":      func(v *yaml.Node) { pb.Params = p.params(v) },
		"steps":       func(v *yaml.Node) { stepsNode = v },
		"on_target_failure": func(v *yaml.Node) {
			pb.OnTargetFailure = TargetFailure(p.str(v, "on_target_failure"))
			if pb.OnTargetFailure != TargetFailureContinue && pb.OnTargetFailure != TargetFailureAbort {
				p.Errorf(v, "on_target_failure %q: use continue (the other targets go on) or abort", pb.OnTargetFailure)
			}
		},
	})
	if pb.Name == "" && len(p.Errs) == 0 {
		p.Errorf(n, "the playbook has no name: add name: <name>")
	}
	if stepsNode == nil {
		p.Errorf(n, "the playbook has no steps: add steps: with at least one step")
		return pb
	}
	if stepsNode.Kind != yaml.SequenceNode || len(stepsNode.Content) == 0 {
		p.Errorf(stepsNode, "steps must be a list of at least one step")
		return pb
	}
	if len(stepsNode.Content) > maxSteps {
		p.Errorf(stepsNode, "%d steps; a playbook may have at most %d", len(stepsNode.Content), maxSteps)
		return pb
	}
	ids := map[string]bool{}
	for _, sn := range stepsNode.Content {
		s := p.step(sn)
		if s.ID != "" {
			if ids[s.ID] {
				p.Errorf(sn, "step id %q is used twice", s.ID)
			}
			ids[s.ID] = true
		}
		pb.Steps = append(pb.Steps, s)
	}
	return pb
}

func (p *parser) params(n *yaml.Node) []*ParamDecl {
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "params must be a mapping of name to {type, default, required, description}")
		return nil
	}
	var out []*ParamDecl
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		d := &ParamDecl{Name: k.Value, Pos: p.Pos(k), Type: TypeString}
		if !idPattern.MatchString(k.Value) {
			p.Errorf(k, "parameter name %q: use lower-case letters, digits and '_', starting with a letter", k.Value)
		}
		var def *yaml.Node
		p.Fields(v, "parameter "+k.Value, map[string]func(*yaml.Node){
			"type": func(v *yaml.Node) {
				t, err := ParseType(p.str(v, "type"))
				if err != nil {
					p.Errorf(v, "%v", err)
				}
				d.Type = t
			},
			"default":     func(v *yaml.Node) { def = v },
			"required":    func(v *yaml.Node) { d.Required = p.boolean(v, "required") },
			"description": func(v *yaml.Node) { d.Description = p.str(v, "description") },
		})
		if def != nil {
			val, err := d.Type.FromNode(def)
			if err != nil {
				p.Errorf(def, "default of %s: %v", k.Value, err)
			}
			d.Default = val
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) step(n *yaml.Node) *Step {
	s := &Step{Pos: p.Pos(n), OnFailure: OnFailureAbort, With: map[string]*Value{}}
	p.Fields(n, "a step", map[string]func(*yaml.Node){
		"id": func(v *yaml.Node) {
			s.ID = p.str(v, "id")
			if s.ID != "" && !idPattern.MatchString(s.ID) {
				p.Errorf(v, "step id %q: use lower-case letters, digits and '_', starting with a letter", s.ID)
			}
		},
		"action": func(v *yaml.Node) { s.Action, s.ActionPos = p.str(v, "action"), p.Pos(v) },
		"with":   func(v *yaml.Node) { s.With = p.with(v) },
		"needs": func(v *yaml.Node) {
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, it := range items {
				s.Needs = append(s.Needs, p.str(it, "needs"))
				s.NeedsPos = append(s.NeedsPos, p.Pos(it))
			}
		},
		"when": func(v *yaml.Node) { s.When, s.WhenPos = p.str(v, "when"), p.Pos(v) },
		"timeout": func(v *yaml.Node) {
			d, err := ParseDuration(p.str(v, "timeout"))
			if err != nil {
				p.Errorf(v, "timeout: %v", err)
			}
			s.Timeout = d
		},
		"retries": func(v *yaml.Node) {
			s.Retries = p.integer(v, "retries")
			if s.Retries < 0 || s.Retries > 10 {
				p.Errorf(v, "retries must be from 0 to 10")
			}
		},
		"on_failure": func(v *yaml.Node) {
			s.OnFailure = OnFailure(p.str(v, "on_failure"))
			switch s.OnFailure {
			case OnFailureAbort, OnFailureContinue, OnFailureUndo:
			default:
				p.Errorf(v, "on_failure %q: use abort, continue or undo", s.OnFailure)
			}
		},
		"approval": func(v *yaml.Node) {
			s.Approval = p.str(v, "approval")
			if s.Approval == "" {
				p.Errorf(v, "approval needs the question to ask, e.g. approval: \"Kill the miner?\"")
			}
		},
	})
	if s.ID == "" {
		p.Errorf(n, "step has no id: add id: <name>")
	}
	if s.Action == "" {
		p.Errorf(n, "step %q has no action: add action: <name> (see `firebreak playbook actions`)", s.ID)
	}
	return s
}

func (p *parser) with(n *yaml.Node) map[string]*Value {
	out := map[string]*Value{}
	if n.Kind != yaml.MappingNode {
		p.Errorf(n, "with must be a mapping of parameter to value")
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			p.Errorf(k, "%q given twice in with", k.Value)
			continue
		}
		val := &Value{Pos: p.Pos(v), Tag: v.Tag}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
			if m := exprPattern.FindStringSubmatch(strings.TrimSpace(v.Value)); m != nil {
				val.Expr = strings.TrimSpace(m[1])
				out[k.Value] = val
				continue
			}
		}
		var lit any
		if err := v.Decode(&lit); err != nil {
			p.Errorf(v, "%s: %v", k.Value, err)
		}
		val.Literal = lit
		out[k.Value] = val
	}
	return out
}

// ParseDuration reads Go durations and whole days ("90d").
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: give whole days like 90d, or a duration like 30s or 5m", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: give a duration like 30s, 5m or 2h", s)
	}
	return d, nil
}
