package playbooks

import (
	"context"
	"fmt"
	"sort"

	"firebreak/runtime"
)

// ParamSpec describes one parameter of an action.
type ParamSpec struct {
	Name     string `json:"name"`
	Type     Type   `json:"type"`
	Default  any    `json:"default,omitempty"`
	Required bool   `json:"required,omitempty"`
	Doc      string `json:"doc"`
}

// OutputSpec describes one output of an action, usable in later steps'
// conditions as steps.<id>.<name>.
type OutputSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

// Description is what an action says of itself; validation, help and the TUI
// are generated from it.
type Description struct {
	Name    string       `json:"name"`
	Summary string       `json:"summary"`
	Params  []ParamSpec  `json:"params"`
	Outputs []OutputSpec `json:"outputs"`
	// Changes says what state the action changes; "" means it only reads
	// (evidence it writes is never counted as a change to undo).
	Changes string `json:"changes,omitempty"`
	// Undo says how it is undone; "" means it cannot be.
	Undo    string `json:"undo,omitempty"`
	Example string `json:"example"`
}

// Param returns the spec of a parameter.
func (d Description) Param(name string) (ParamSpec, bool) {
	for _, p := range d.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamSpec{}, false
}

// Action is one thing a step can do to a target.
type Action interface {
	Describe() Description
	// Run acts on the target with parameters already checked and converted
	// to their types, and returns its outputs. It must be safe to run again
	// after an interruption (the engine re-runs a step that started and
	// did not finish).
	Run(ctx context.Context, env *Env, target runtime.Container, params map[string]any) (map[string]any, error)
}

// Undoer is implemented by actions that can be undone (on_failure: undo).
type Undoer interface {
	Undo(ctx context.Context, env *Env, target runtime.Container, params map[string]any) error
}

// Registry holds the actions a playbook may name. It is built explicitly
// (see RegisterBuiltins); nothing registers itself.
type Registry struct {
	actions map[string]Action
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{actions: map[string]Action{}} }

// Register adds an action. A second action of the same name is a
// programming error and panics.
func (r *Registry) Register(a Action) {
	name := a.Describe().Name
	if _, dup := r.actions[name]; dup {
		panic(fmt.Sprintf("playbooks: action %q registered twice", name))
	}
	r.actions[name] = a
}

// Get returns the named action.
func (r *Registry) Get(name string) (Action, bool) {
	a, ok := r.actions[name]
	return a, ok
}

// Names lists every action name, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.actions))
	for n := range r.actions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Descriptions lists every action's description, sorted by name.
func (r *Registry) Descriptions() []Description {
	var out []Description
	for _, n := range r.Names() {
		out = append(out, r.actions[n].Describe())
	}
	return out
}
