package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"firebreak/contain"
	"firebreak/runtime"
)

// Selection names the containers a verb acts on. Every front end and verb
// resolves through it, so a name, an ID prefix or a label means the same
// everywhere.
type Selection struct {
	Refs      []string // full ID, exact name, or unique ID prefix
	Selectors []string // labels: key=value or key; a container must match all
	All       bool     // every container of the engine
	// Held also looks among the containment records, so that a container
	// the engine no longer knows can still be named (release retires its
	// record) and a prefix shared by held containers is ambiguous.
	Held bool
	// Act marks a selection for an act that changes a container (contain,
	// kill, a playbook run): an ID prefix must then have at least
	// MinActPrefix characters, so a slip of one character on a shared
	// host cannot freeze the wrong service.
	Act bool
	// Listed takes the label and --all matches as the engine lists them,
	// without inspecting each (whole-second creation times on Docker): for
	// verbs that only read and inspect each target themselves (triage).
	Listed bool
}

func (sel Selection) check() error {
	if sel.All && (len(sel.Refs) > 0 || len(sel.Selectors) > 0) {
		return inputf("--all names every container: give it alone, without targets or --selector")
	}
	for _, r := range sel.Refs {
		if strings.TrimSpace(r) == "" {
			return inputf("an empty target: name a container by full ID, exact name or ID prefix (`firebreak ps` lists them)")
		}
	}
	for _, s := range sel.Selectors {
		if k, _, _ := strings.Cut(s, "="); strings.TrimSpace(k) == "" {
			return inputf("--selector %q: give key=value or key", s)
		}
	}
	return nil
}

// MinActPrefix is the shortest ID prefix an act that changes a container
// accepts (a safety rule; full IDs and names are always accepted).
const MinActPrefix = 4

// checkPrefix refuses a short ID prefix for an act.
func checkPrefix(ref string, c runtime.Container) error {
	if runtime.IsPodRef(ref) {
		return CheckPodPrefix(ref, c.Name)
	}
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "/")
	if ref == c.ID || ref == c.Name || slices.Contains(c.Names, ref) || len(ref) >= MinActPrefix {
		return nil
	}
	return inputf("%q is a %d-character ID prefix: an act that changes a container needs at least %d characters of its ID, or its name (it matched %s %s)", ref, len(ref), MinActPrefix, c.ShortID(), c.Name)
}

// CheckPodPrefix refuses, for an act, a pod named by a prefix shorter than
// MinActPrefix characters; full names are always accepted.
func CheckPodPrefix(ref, full string) error {
	q := strings.TrimPrefix(ref, runtime.PodPrefix)
	if runtime.MatchPod(ref, full) == runtime.PodPrefixMatch && len(q) < MinActPrefix {
		return inputf("%q is a %d-character prefix: an act on a pod needs at least %d characters, or its name (it matched %s)", ref, len(q), MinActPrefix, full)
	}
	return nil
}

// Resolve turns a selection into containers, each once, in the order named
// (references first, then the label matches in the engine's order). An
// unknown or ambiguous reference is an error that lists what it matched; a
// selector that matches nothing is an error.
func (s *Session) Resolve(ctx context.Context, sel Selection) ([]runtime.Container, error) {
	if err := sel.check(); err != nil {
		return nil, err
	}
	var out []runtime.Container
	seen := map[string]bool{}
	add := func(c runtime.Container) {
		if !seen[c.ID] {
			seen[c.ID] = true
			out = append(out, c)
		}
	}
	for _, ref := range sel.Refs {
		resolve := s.ResolveOne
		if sel.Held {
			resolve = s.ResolveHeld
		}
		c, err := resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		if sel.Act {
			if err := checkPrefix(ref, c); err != nil {
				return nil, err
			}
		}
		add(c)
	}
	if sel.All || len(sel.Selectors) > 0 {
		all, err := s.rt.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing containers: %w", err)
		}
		matched := 0
		for _, c := range all {
			if !sel.All && !MatchLabels(c.Labels, sel.Selectors) {
				continue
			}
			matched++
			if seen[c.ID] {
				continue
			}
			if sel.Listed {
				add(c)
				continue
			}
			d, err := s.rt.Inspect(ctx, c.ID) // inspect's precise creation time
			if runtime.IsNotFound(err) {
				continue // removed since the list
			}
			if err != nil {
				return nil, fmt.Errorf("inspecting %s: %w", c.ShortID(), err)
			}
			add(d.Container)
		}
		if matched == 0 && len(sel.Selectors) > 0 && len(sel.Refs) == 0 {
			return nil, inputf("no container matches --selector %s", strings.Join(sel.Selectors, ","))
		}
	}
	return out, nil
}

// ResolveOne resolves one reference against the engine.
func (s *Session) ResolveOne(ctx context.Context, ref string) (runtime.Container, error) {
	if err := (Selection{Refs: []string{ref}}).check(); err != nil {
		return runtime.Container{}, err
	}
	if _, ok := s.rt.(runtime.PodLister); ok && runtime.IsPodRef(ref) {
		// A pod stands as its sandbox container, which the pod-aware acts
		// (playbook actions, the console) treat as the whole pod.
		pods, err := s.ResolvePods(ctx, []string{ref}, nil)
		if err != nil {
			return runtime.Container{}, err
		}
		return runtime.Resolve(ctx, s.rt, pods[0].SandboxID)
	}
	return runtime.Resolve(ctx, s.rt, ref)
}

// ResolveHeld resolves one reference among the engine's containers and the
// held records together: a container that is gone from the engine can still
// be named by its record, and a prefix that fits two of them, held or not,
// is refused with both listed.
func (s *Session) ResolveHeld(ctx context.Context, ref string) (runtime.Container, error) {
	if err := (Selection{Refs: []string{ref}}).check(); err != nil {
		return runtime.Container{}, err
	}
	live, err := s.rt.List(ctx)
	if err != nil {
		return runtime.Container{}, fmt.Errorf("listing containers to resolve %q: %w", ref, err)
	}
	c, err := s.Containment()
	if err != nil {
		return runtime.Container{}, err
	}
	recs, err := c.Held()
	damaged, partial := contain.Readable(err)
	if err != nil && !partial {
		return runtime.Container{}, err
	}
	inEngine := map[string]bool{}
	all := append([]runtime.Container(nil), live...)
	for _, c := range live {
		inEngine[c.ID] = true
	}
	for _, r := range recs {
		if !inEngine[r.Container.ID] {
			all = append(all, r.Container)
		}
	}
	m, err := runtime.ResolveIn(all, ref)
	if err != nil && damaged != nil {
		// the container named may be one whose record does not read
		return m, fmt.Errorf("%w (and %d held record(s) do not read: %v)", err, len(damaged.Records), damaged)
	}
	if err != nil {
		return m, err
	}
	if !inEngine[m.ID] {
		return m, nil // known from its record alone
	}
	d, err := runtime.Resolve(ctx, s.rt, m.ID)
	if runtime.IsNotFound(err) {
		for _, r := range recs {
			if r.Container.ID == m.ID {
				return r.Container, nil // removed since the list
			}
		}
	}
	return d, err
}

// MatchLabels reports whether labels satisfy every selector (key=value, or
// key alone for any value).
func MatchLabels(labels map[string]string, selectors []string) bool {
	for _, s := range selectors {
		k, v, hasValue := strings.Cut(s, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}
