package recover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"firebreak/evidence"
)

// KeepPolicy says which snapshots of each container `backup forget`
// keeps: the newest Last; the newest of each of the last Hourly hours,
// Daily days, Weekly ISO weeks and Monthly months that have one; and every
// one taken Within of the newest. A snapshot kept by any rule is kept.
type KeepPolicy struct {
	Last, Hourly, Daily, Weekly, Monthly int
	Within                               time.Duration
}

// Empty is whether the policy keeps nothing (forget refuses it).
func (p KeepPolicy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 && p.Within == 0
}

// ForgetDecision is what the policy says of one snapshot.
type ForgetDecision struct {
	Snapshot Snapshot `json:"snapshot"`
	Keep     bool     `json:"keep"`
	Reasons  []string `json:"reasons,omitempty"` // why kept: "last 1", "daily 2026-11-28", ...
}

// Decide applies the policy to snapshots (any order), container by
// container (by name), and returns a decision for each, newest first
// within a container.
func Decide(snaps []Snapshot, p KeepPolicy) []ForgetDecision {
	byName := map[string][]Snapshot{}
	var names []string
	for _, s := range snaps {
		if _, ok := byName[s.Container.Name]; !ok {
			names = append(names, s.Container.Name)
		}
		byName[s.Container.Name] = append(byName[s.Container.Name], s)
	}
	sort.Strings(names)
	var out []ForgetDecision
	for _, n := range names {
		group := byName[n]
		sort.SliceStable(group, func(i, j int) bool { return group[i].Time.After(group[j].Time) })
		buckets := []struct {
			name string
			n    int
			key  func(time.Time) string
			seen map[string]bool
		}{
			{"hourly", p.Hourly, func(t time.Time) string { return t.UTC().Format("2006-01-02T15") }, map[string]bool{}},
			{"daily", p.Daily, func(t time.Time) string { return t.UTC().Format("2006-01-02") }, map[string]bool{}},
			{"weekly", p.Weekly, func(t time.Time) string { y, w := t.UTC().ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }, map[string]bool{}},
			{"monthly", p.Monthly, func(t time.Time) string { return t.UTC().Format("2006-01") }, map[string]bool{}},
		}
		for i, s := range group {
			d := ForgetDecision{Snapshot: s}
			if i < p.Last {
				d.Reasons = append(d.Reasons, fmt.Sprintf("last %d", p.Last))
			}
			if p.Within > 0 && group[0].Time.Sub(s.Time) <= p.Within {
				d.Reasons = append(d.Reasons, "within "+p.Within.String())
			}
			for b := range buckets {
				k := buckets[b].key(s.Time)
				if len(buckets[b].seen) < buckets[b].n && !buckets[b].seen[k] {
					buckets[b].seen[k] = true
					d.Reasons = append(d.Reasons, buckets[b].name+" "+k)
				}
			}
			d.Keep = len(d.Reasons) > 0
			out = append(out, d)
		}
	}
	return out
}

// Forget removes the manifests (and their signatures) of the given
// snapshots; their data stays until a prune finds it unused. A manifest
// kept by the store's retention is reported, not removed.
func (r *Repo) Forget(ctx context.Context, ids []string) (removed []string, retained map[string]error, err error) {
	del, ok := r.store.(evidence.Deleter)
	if !ok {
		return nil, nil, fmt.Errorf("the store %s cannot delete objects", r.store)
	}
	retained = map[string]error{}
	for _, id := range ids {
		key := manifestKey(id)
		if err := del.Delete(ctx, key); err != nil {
			if errors.Is(err, evidence.ErrRetained) {
				retained[id] = err
				continue
			}
			return removed, retained, err
		}
		if err := del.Delete(ctx, key+".sig"); err != nil && !errors.Is(err, evidence.ErrRetained) {
			return removed, retained, err
		}
		removed = append(removed, id)
	}
	return removed, retained, nil
}
