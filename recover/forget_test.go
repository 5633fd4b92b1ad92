package recover

import (
	"reflect"
	"testing"
	"time"

	"firebreak/runtime"
)

// TestDecideKeepsByPolicy: the keep rules per container, each snapshot kept
// by any rule kept, the others forgotten.
func TestDecideKeepsByPolicy(t *testing.T) {
	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	var snaps []Snapshot
	for _, s := range []struct {
		id, name string
		t        time.Time
	}{
		{"db-28-12", "db", at(28, 12)}, {"db-28-09", "db", at(28, 9)}, {"db-27-22", "db", at(27, 22)},
		{"db-27-08", "db", at(27, 8)}, {"db-20-10", "db", at(20, 10)}, {"db-02-10", "db", at(2, 10)},
		{"web-28-10", "web", at(28, 10)}, {"web-01-10", "web", at(1, 10)},
	} {
		snaps = append(snaps, Snapshot{ID: s.id, Time: s.t, Container: runtime.Container{Name: s.name}})
	}
	kept := func(p KeepPolicy) []string {
		var ids []string
		for _, d := range Decide(snaps, p) {
			if d.Keep {
				ids = append(ids, d.Snapshot.ID)
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		p    KeepPolicy
		want []string
	}{
		{"last 2", KeepPolicy{Last: 2}, []string{"db-28-12", "db-28-09", "web-28-10", "web-01-10"}},
		{"daily 2", KeepPolicy{Daily: 2}, []string{"db-28-12", "db-27-22", "web-28-10", "web-01-10"}},
		{"weekly 2", KeepPolicy{Weekly: 2}, []string{"db-28-12", "db-20-10", "web-28-10", "web-01-10"}},
		{"monthly 1", KeepPolicy{Monthly: 1}, []string{"db-28-12", "web-28-10"}},
		{"within 1d", KeepPolicy{Within: 24 * time.Hour}, []string{"db-28-12", "db-28-09", "db-27-22", "web-28-10"}},
		{"last 1 + daily 3", KeepPolicy{Last: 1, Daily: 3}, []string{"db-28-12", "db-27-22", "db-20-10", "web-28-10", "web-01-10"}},
	} {
		if got := kept(tc.p); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
		}
	}
	if !(KeepPolicy{}).Empty() || (KeepPolicy{Daily: 1}).Empty() {
		t.Error("Empty is wrong")
	}
}
