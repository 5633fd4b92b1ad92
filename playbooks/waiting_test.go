package playbooks

import (
	"slices"
	"testing"

	"firebreak/runtime"
)

func TestWaitingOfCases(t *testing.T) {
	web := runtime.Container{ID: "aaaa", Name: "web"}
	db := runtime.Container{ID: "bbbb", Name: "db"}
	start := Record{Type: EventRunStarted, Playbook: "pb", Targets: []runtime.Container{web, db}}
	step := func(typ EventType, target, id string, st Status) Record {
		return Record{Type: typ, Target: target, Step: id, Status: st}
	}
	for _, tc := range []struct {
		name  string
		recs  []Record
		steps []string // "step@target"
	}{
		{"none waits", []Record{start, step(EventStepFinished, "aaaa", "isolate", StatusOK)}, nil},
		{"one step of two targets", []Record{start,
			step(EventStepFinished, "aaaa", "isolate", StatusOK),
			step(EventStepFinished, "aaaa", "freeze", StatusApprovalMissing),
			step(EventStepFinished, "bbbb", "freeze", StatusApprovalMissing),
			step(EventStepFinished, "bbbb", "after", StatusBlocked)}, []string{"freeze@web", "freeze@db"}},
		{"approved since", []Record{start,
			step(EventStepFinished, "aaaa", "freeze", StatusApprovalMissing),
			{Type: EventRunResumed},
			step(EventStepStarted, "aaaa", "freeze", ""),
			step(EventStepFinished, "aaaa", "freeze", StatusOK)}, nil},
		{"resumed run under way", []Record{start,
			step(EventStepFinished, "aaaa", "freeze", StatusApprovalMissing),
			step(EventStepStarted, "aaaa", "freeze", "")}, nil},
		{"denied again", []Record{start,
			step(EventStepFinished, "aaaa", "freeze", StatusApprovalMissing),
			step(EventStepFinished, "aaaa", "freeze", StatusApprovalMissing)}, []string{"freeze@web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := WaitingOf("case-1", tc.recs)
			var got []string
			for _, s := range w.Steps {
				got = append(got, s.Step+"@"+s.Target.Name)
			}
			if !slices.Equal(got, tc.steps) || w.Playbook != "pb" || w.Case != "case-1" {
				t.Errorf("waiting %v (playbook %q), want %v", got, w.Playbook, tc.steps)
			}
			if len(tc.steps) > 0 && !slices.Equal(w.StepIDs(), []string{"freeze"}) {
				t.Errorf("step IDs %v, want [freeze] once", w.StepIDs())
			}
		})
	}
}
