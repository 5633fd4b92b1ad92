package playbooks

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
)

// prepared holds compiled expressions.
type prepared struct {
	when  map[string]cel.Program
	exprs map[string]map[string]cel.Program
}

func prepare(pb *Playbook) (*prepared, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, err
	}
	p := &prepared{when: map[string]cel.Program{}, exprs: map[string]map[string]cel.Program{}}
	for _, s := range pb.Steps {
		if s.When != "" {
			if p.when[s.ID], err = compileExpr(env, s.When, true); err != nil {
				return nil, err
			}
		}
		for k, v := range s.With {
			if v.Expr == "" {
				continue
			}
			if p.exprs[s.ID] == nil {
				p.exprs[s.ID] = map[string]cel.Program{}
			}
			if p.exprs[s.ID][k], err = compileExpr(env, v.Expr, false); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// resolveParams converts the command line's parameters to the playbook's
// declared types and fills in defaults.
func resolveParams(pb *Playbook, given map[string]string) (map[string]any, error) {
	out := map[string]any{}
	declared := map[string]*ParamDecl{}
	for _, d := range pb.Params {
		declared[d.Name] = d
	}
	names := make([]string, 0, len(given))
	for k := range given {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := declared[k]
		if !ok {
			return nil, &ParamError{fmt.Sprintf("--param %s: playbook %s has no such parameter (it has: %s)", k, pb.Name, declNames(pb))}
		}
		v, err := d.Type.FromString(given[k])
		if err != nil {
			return nil, &ParamError{fmt.Sprintf("--param %s: %v", k, err)}
		}
		out[k] = v
	}
	for _, d := range pb.Params {
		if _, ok := out[d.Name]; ok {
			continue
		}
		if d.Required {
			return nil, &ParamError{fmt.Sprintf("playbook %s needs --param %s=<%s> (%s)", pb.Name, d.Name, d.Type, d.Description)}
		}
		if d.Default != nil {
			out[d.Name] = d.Default
		} else {
			out[d.Name] = zeroOf(d.Type)
		}
	}
	return out, nil
}

func declNames(pb *Playbook) string {
	var out []string
	for _, d := range pb.Params {
		out = append(out, d.Name)
	}
	return joinNames(out)
}

// joinNames lists names for a message, or says there are none.
func joinNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func zeroOf(t Type) any {
	switch t {
	case TypeInt:
		return int64(0)
	case TypeBool:
		return false
	case TypeDuration:
		return time.Duration(0)
	case TypeList:
		return []string{}
	}
	return ""
}

// stepParams are a step's parameters for its action: the action's defaults,
// then the step's literals and evaluated expressions, each converted to the
// declared type.
func (r *runner) stepParams(s *Step, d Description, vars map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range d.Params {
		if p.Default != nil {
			out[p.Name] = p.Default
		}
	}
	for k, v := range s.With {
		spec, _ := d.Param(k)
		raw, tag := v.Literal, v.Tag
		if v.Expr != "" {
			val, err := evalExpr(r.prep.exprs[s.ID][k], vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			raw, tag = val, ""
		}
		val, err := spec.Type.Convert(raw, tag)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", k, err)
		}
		out[k] = val
	}
	return out, nil
}

// ParamError says a run's parameters do not fit the playbook: bad input.
type ParamError struct{ Msg string }

func (e *ParamError) Error() string { return e.Msg }

// BadInput marks it as bad input for front ends.
func (e *ParamError) BadInput() bool { return true }
