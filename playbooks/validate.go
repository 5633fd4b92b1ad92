package playbooks

import (
	"fmt"
	"net/netip"
	"net/url"
	"sort"
	"strings"

	"github.com/moby/sys/signal"
	yaml "go.yaml.in/yaml/v3"

	"firebreak/collect"
	"firebreak/contain"
	"firebreak/internal/yamlnode"
)

// Check parses a playbook and validates it against the registry in one
// pass: the parts that parsed are validated even when other parts have
// structural errors, so that every error that can be found is reported at
// once (only a file that is not YAML at all, or too big or deep, stops at
// the first). It returns the playbook when there are no errors, else
// Errors in file order.
func Check(file string, data []byte, reg *Registry) (*Playbook, error) {
	pb, errs := parsePartial(file, data)
	if pb == nil {
		return nil, errs
	}
	verr := Validate(pb, reg)
	if verr == nil && len(errs) == 0 {
		return pb, nil
	}
	vs, ok := verr.(Errors)
	if verr != nil && !ok {
		return nil, verr
	}
	// A part that did not parse is reported once, as it was found.
	at := map[Pos]bool{}
	for _, e := range errs {
		at[e.Pos] = true
	}
	for _, e := range vs {
		if !at[e.Pos] {
			errs = append(errs, e)
		}
	}
	yamlnode.Sort(errs)
	return nil, errs
}

// parsePartial parses what it can: the playbook as far as it parsed, and
// the structural errors. A nil playbook means nothing could be parsed.
// (Parse is this with the playbook dropped when there are errors.)
func parsePartial(file string, data []byte) (*Playbook, Errors) {
	if len(data) > MaxFileSize {
		return nil, Errors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: fmt.Sprintf("file is %d bytes; a playbook may be at most %d", len(data), MaxFileSize)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{yamlnode.SyntaxError(file, err)}
	}
	p := &parser{Reader: yamlnode.Reader{File: file}}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Errors{{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "empty playbook: give name and steps"}}
	}
	if err := p.CheckTree(doc.Content[0], maxDepth, "playbooks"); err != nil {
		return nil, Errors{err}
	}
	pb := p.playbook(doc.Content[0])
	pb.Source = data
	yamlnode.Sort(p.Errs)
	return pb, p.Errs
}

// paramChecks check literal values beyond their type, at validation, for
// what the action would otherwise refuse only when it runs: action name ->
// parameter -> check of the converted value.
var paramChecks = map[string]map[string]func(any) error{
	"contain.network": {"allow": checkCIDRs},
	"notify.webhook":  {"url": checkWebhookURL},
	"collect":         {"what": checkCollectors},
	"contain.kill":    {"signal": checkSignal},
}

func checkCIDRs(v any) error {
	l, _ := v.([]string)
	for _, c := range l {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR: give an address and prefix length, like 10.0.0.0/8 or 192.0.2.7/32", c)
		}
		if err := contain.CheckAllow(p); err != nil {
			return err
		}
	}
	return nil
}

func checkCollectors(v any) error {
	l, _ := v.([]string)
	_, err := collect.ParseCollectors(l)
	return err
}

func checkSignal(v any) error {
	s, _ := v.(string)
	if _, err := signal.ParseSignal(s); err != nil {
		return fmt.Errorf("signal %q: give a signal name like SIGKILL or SIGTERM, or its number", s)
	}
	return nil
}

func checkWebhookURL(v any) error {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: give an http:// or https:// URL with a host, like https://hooks.example.internal/ir", s)
	}
	return nil
}

// Validate checks a parsed playbook as a whole against the registry: known
// actions, known and well-typed parameters, required ones present, needs
// naming known steps without cycles, conditions and expressions that compile
// and only read steps that run before them and declared parameters, and an
// approval prompt wherever the approval action is used. It returns Errors.
func Validate(pb *Playbook, reg *Registry) error {
	v := &validator{pb: pb, reg: reg, byID: map[string]*Step{}}
	env, err := newCELEnv()
	if err != nil {
		return err
	}
	for _, s := range pb.Steps {
		v.byID[s.ID] = s
	}
	declared := map[string]bool{}
	for _, p := range pb.Params {
		declared[p.Name] = true
		if p.Required && p.Default != nil {
			v.errorf(p.Pos, "parameter %s is required and has a default: drop one", p.Name)
		}
	}
	for _, s := range pb.Steps {
		for i, n := range s.Needs {
			switch {
			case n == "": // did not parse; reported there
			case n == s.ID:
				v.errorf(s.NeedsPos[i], "step %s needs itself", s.ID)
			case v.byID[n] == nil:
				v.errorf(s.NeedsPos[i], "step %s needs %q, which is not a step of this playbook (steps: %s)", s.ID, n, v.ids())
			}
		}
	}
	v.cycles()
	for _, s := range pb.Steps {
		if s.Action == "" {
			continue // a step without an action did not parse; reported there
		}
		a, ok := reg.Get(s.Action)
		if !ok {
			v.errorf(s.ActionPos, "unknown action %q (known: %s)", s.Action, strings.Join(reg.Names(), ", "))
			continue
		}
		desc := a.Describe()
		if desc.Name == "approval" && s.Approval == "" {
			v.errorf(s.ActionPos, "step %s uses the approval action without an approval: prompt", s.ID)
		}
		names := make([]string, 0, len(s.With))
		for k := range s.With {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			val := s.With[k]
			spec, ok := desc.Param(k)
			if !ok {
				v.errorf(val.Pos, "action %s has no parameter %q (parameters: %s)", s.Action, k, paramNames(desc))
				continue
			}
			if val.Expr != "" {
				if _, err := compileExpr(env, val.Expr, false); err != nil {
					v.errorf(val.Pos, "%s: %v", k, err)
				}
				v.refs(s, val.Expr, val.Pos, declared)
				continue
			}
			conv, err := spec.Type.Convert(val.Literal, val.Tag)
			if err != nil {
				v.errorf(val.Pos, "%s of %s: %v", k, s.Action, err)
				continue
			}
			if check := paramChecks[desc.Name][k]; check != nil {
				if err := check(conv); err != nil {
					v.errorf(val.Pos, "%s of %s: %v", k, s.Action, err)
				}
			}
		}
		for _, p := range desc.Params {
			if _, given := s.With[p.Name]; p.Required && !given {
				v.errorf(s.ActionPos, "action %s needs parameter %q (%s): add it under with:", s.Action, p.Name, p.Doc)
			}
		}
		if s.When != "" {
			if _, err := compileExpr(env, s.When, true); err != nil {
				v.errorf(s.WhenPos, "when: %v", err)
			}
			v.refs(s, s.When, s.WhenPos, declared)
		}
	}
	if len(v.errs) == 0 {
		return nil
	}
	yamlnode.Sort(v.errs)
	return v.errs
}

type validator struct {
	pb   *Playbook
	reg  *Registry
	byID map[string]*Step
	errs Errors
}

func (v *validator) errorf(p Pos, format string, args ...any) {
	v.errs = append(v.errs, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) ids() string {
	ids := make([]string, 0, len(v.byID))
	for id := range v.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

func paramNames(d Description) string {
	var out []string
	for _, p := range d.Params {
		out = append(out, p.Name)
	}
	return joinNames(out)
}

// refs checks what an expression reads: declared parameters, and steps that
// are sure to have finished before this one (its needs, transitively).
func (v *validator) refs(s *Step, src string, pos Pos, declared map[string]bool) {
	for _, p := range paramRefs(src) {
		if !declared[p] {
			v.errorf(pos, "%q reads params.%s, which the playbook does not declare under params:", src, p)
		}
	}
	before := v.ancestors(s)
	for _, id := range stepRefs(src) {
		switch {
		case v.byID[id] == nil:
			v.errorf(pos, "%q reads steps.%s, which is not a step of this playbook", src, id)
		case !before[id]:
			v.errorf(pos, "%q reads steps.%s, which step %s does not need: add it to needs: so it has run first", src, id, s.ID)
		}
	}
}

func (v *validator) ancestors(s *Step) map[string]bool {
	seen := map[string]bool{}
	var walk func(*Step)
	walk = func(x *Step) {
		for _, n := range x.Needs {
			if seen[n] || v.byID[n] == nil {
				continue
			}
			seen[n] = true
			walk(v.byID[n])
		}
	}
	walk(s)
	return seen
}

// cycles reports every cycle in needs once, at the step where it is found.
func (v *validator) cycles() {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(*Step)
	visit = func(s *Step) {
		color[s.ID] = grey
		stack = append(stack, s.ID)
		for i, n := range s.Needs {
			t := v.byID[n]
			if t == nil || n == s.ID {
				continue
			}
			switch color[n] {
			case grey:
				start := 0
				for j, id := range stack {
					if id == n {
						start = j
					}
				}
				cycle := append(append([]string{}, stack[start:]...), n)
				v.errorf(s.NeedsPos[i], "needs form a cycle: %s", strings.Join(cycle, " -> "))
			case white:
				visit(t)
			}
		}
		stack = stack[:len(stack)-1]
		color[s.ID] = black
	}
	for _, s := range v.pb.Steps {
		if color[s.ID] == white {
			visit(s)
		}
	}
}
