package drill

import (
	"fmt"
	"slices"
	"strings"
)

// checkEvents checks every event named (after:, event:) once all injects
// are known, and that after-triggers do not wait on each other in a
// circle (such injects would never be played).
func (p *parser) checkEvents(s *Scenario) {
	for _, r := range p.events {
		if err := s.checkEvent(r.ev); err != nil {
			p.Errorf(r.node, "%s: %v", r.what, err)
			continue
		}
		if name, ok := strings.CutPrefix(r.ev, EventPlaybook); ok {
			p.playbookRefs = append(p.playbookRefs, playbookRef{name, p.Pos(r.node)})
		}
	}
	// after-chains: I2 after inject:I1 is an edge I2 -> I1.
	waitsOn := func(id string) string {
		for _, inj := range s.Injects {
			if inj.ID == id && inj.Trigger == TriggerAfter {
				if ref, ok := injectRef(inj.After); ok {
					return ref
				}
			}
		}
		return ""
	}
	reported := map[string]bool{}
	for _, inj := range s.Injects {
		if inj.Trigger != TriggerAfter || reported[inj.ID] {
			continue
		}
		path := []string{inj.ID}
		for cur := waitsOn(inj.ID); cur != "" && len(path) <= len(s.Injects); cur = waitsOn(cur) {
			if cur == inj.ID {
				for _, id := range path {
					reported[id] = true
				}
				p.Errorf(p.afters[inj.ID], "inject %q would never be played: it waits on %s, which waits on it; break the circle", inj.ID, strings.Join(append(path[1:], inj.ID), " -> "))
				break
			}
			if slices.Contains(path, cur) {
				break // a circle further on, reported from its own members
			}
			path = append(path, cur)
		}
	}
}

// injectRef is the inject an "inject:ID" or "answered:ID" event refers to.
func injectRef(ev string) (string, bool) {
	if id, ok := strings.CutPrefix(ev, EventInject); ok {
		return id, true
	}
	if id, ok := strings.CutPrefix(ev, EventAnswered); ok {
		return id, true
	}
	return "", false
}

// CheckEvent says whether ev is an event this scenario can observe: one of
// detected, contained, evidence, restored, decision, or inject:ID,
// answered:ID (an inject of this scenario with a question),
// playbook:NAME, artifact:KIND. It does not look the playbook up.
func (s *Scenario) CheckEvent(ev string) error { return s.checkEvent(ev) }

func (s *Scenario) checkEvent(ev string) error {
	switch ev {
	case EventDetected, EventContained, EventEvidence, EventRestored, EventDecision:
		return nil
	}
	if id, ok := strings.CutPrefix(ev, EventInject); ok {
		if s.inject(id) == nil {
			return fmt.Errorf("%q: there is no inject %q (injects: %s)", ev, id, s.injectIDs())
		}
		return nil
	}
	if id, ok := strings.CutPrefix(ev, EventAnswered); ok {
		inj := s.inject(id)
		switch {
		case inj == nil:
			return fmt.Errorf("%q: there is no inject %q (injects: %s)", ev, id, s.injectIDs())
		case inj.Question == "":
			return fmt.Errorf("%q: inject %q asks no question: add question: to it", ev, id)
		}
		return nil
	}
	if name, ok := strings.CutPrefix(ev, EventPlaybook); ok {
		if !namePattern.MatchString(name) {
			return fmt.Errorf("%q: name a playbook, e.g. playbook:escape-suspected", ev)
		}
		return nil
	}
	if kind, ok := strings.CutPrefix(ev, EventEvidenceOf); ok {
		if !slices.Contains(ArtifactKinds, kind) {
			return fmt.Errorf("%q: unknown artifact kind %q: use one of %s", ev, kind, strings.Join(ArtifactKinds, ", "))
		}
		return nil
	}
	return fmt.Errorf("unknown event %q: use detected, contained, evidence, restored, decision, inject:ID, answered:ID, playbook:NAME or artifact:KIND", ev)
}

func (s *Scenario) inject(id string) *Inject {
	for _, inj := range s.Injects {
		if inj.ID == id {
			return inj
		}
	}
	return nil
}

func (s *Scenario) injectIDs() string {
	ids := make([]string, 0, len(s.Injects))
	for _, inj := range s.Injects {
		ids = append(ids, inj.ID)
	}
	return strings.Join(ids, ", ")
}

// Points is the most a scenario's expectations can earn.
func (s *Scenario) Points() int {
	n := 0
	for _, inj := range s.Injects {
		for _, e := range inj.Expectations {
			n += e.Points
		}
	}
	return n
}
