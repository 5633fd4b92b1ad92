package recover

import (
	"testing"
	"time"

	"firebreak/runtime"
)

func TestPickSnapshotBeforeTheCompromise(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 28, h, 0, 0, 0, time.UTC) }
	snaps := []Snapshot{
		{ID: "s8", Time: at(8), Container: runtime.Container{Name: "db"}},
		{ID: "x9", Time: at(9), Container: runtime.Container{Name: "web"}},
		{ID: "s10", Time: at(10), Container: runtime.Container{Name: "db"}},
		{ID: "s12", Time: at(12), Container: runtime.Container{Name: "db"}},
	}
	for _, tc := range []struct {
		cutoff time.Time
		want   string
	}{{time.Time{}, "s12"}, {at(11), "s10"}, {at(10), "s8"}, {at(7), ""}} {
		if got := Latest(snaps, "db", tc.cutoff); got != tc.want {
			t.Errorf("cutoff %v: %q, want %q", tc.cutoff, got, tc.want)
		}
	}
	// The earlier of the compromise time and the first containment.
	for _, tc := range []struct{ compromise, contained, want time.Time }{
		{time.Time{}, time.Time{}, time.Time{}},
		{at(9), time.Time{}, at(9)},
		{time.Time{}, at(10), at(10)},
		{at(9), at(10), at(9)},
		{at(11), at(10), at(10)},
	} {
		if got := Cutoff(tc.compromise, tc.contained); !got.Equal(tc.want) {
			t.Errorf("Cutoff(%v, %v) = %v, want %v", tc.compromise, tc.contained, got, tc.want)
		}
	}
	if _, err := ParseWhen("banana"); err == nil {
		t.Error("ParseWhen accepted banana")
	}
	if w, err := ParseWhen("2d"); err != nil || time.Since(w) < 47*time.Hour {
		t.Errorf("ParseWhen(2d) = %v, %v", w, err)
	}
}
