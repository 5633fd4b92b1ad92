package playbooks

import (
	"fmt"
	"regexp"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"
)

// Expressions (when conditions and ${{ }} values) are CEL over three
// variables: params (the playbook's parameters), steps (each finished step's
// outputs plus "status"), and target (id, name, image, state, labels).
func newCELEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("steps", cel.MapType(cel.StringType, cel.MapType(cel.StringType, cel.DynType))),
		cel.Variable("target", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// maxExprLen bounds what is compiled.
const maxExprLen = 4096

func compileExpr(env *cel.Env, src string, wantBool bool) (cel.Program, error) {
	if len(src) > maxExprLen {
		return nil, fmt.Errorf("expression longer than %d characters", maxExprLen)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("bad expression %q: %v", src, iss.Err())
	}
	if wantBool && ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("condition %q gives %s; it must give true or false", src, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(100000), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("bad expression %q: %v", src, err)
	}
	return prg, nil
}

func evalExpr(prg cel.Program, vars map[string]any) (any, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return nil, err
	}
	return nativeOf(out), nil
}

func nativeOf(v ref.Val) any {
	switch x := v.Value().(type) {
	case []ref.Val:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = nativeOf(e)
		}
		return out
	case time.Duration:
		return x
	default:
		return x
	}
}

var (
	stepRefDot   = regexp.MustCompile(`\bsteps\.([a-z][a-z0-9_]*)`)
	stepRefIndex = regexp.MustCompile(`\bsteps\[\s*["']([^"']*)["']\s*\]`)
	paramRefDot  = regexp.MustCompile(`\bparams\.([a-z][a-z0-9_]*)`)
)

// stepRefs lists the step IDs an expression reads.
func stepRefs(src string) []string {
	var out []string
	for _, m := range stepRefDot.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	for _, m := range stepRefIndex.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}

func paramRefs(src string) []string {
	var out []string
	for _, m := range paramRefDot.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}
