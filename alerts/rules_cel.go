package alerts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

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
