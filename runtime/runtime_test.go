package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveIn(t *testing.T) {
	all := []Container{
		{ID: "abc123def456aaaa", Name: "web"},
		{ID: "abc999def456bbbb", Name: "db"},
		{ID: "f00d", Name: "abc123def456aaaa-name"},
		{ID: "beef", Name: "f00"},
	}
	tests := []struct {
		name, ref, want string
		ambiguous       bool
		notFound        bool
	}{
		{name: "FullID", ref: "abc123def456aaaa", want: "abc123def456aaaa"},
		{name: "ExactName", ref: "db", want: "abc999def456bbbb"},
		{name: "UniquePrefix", ref: "abc1", want: "abc123def456aaaa"},
		{name: "AmbiguousPrefix", ref: "abc", ambiguous: true},
		{name: "NameBeatsPrefix", ref: "f00", want: "beef"},
		{name: "Unknown", ref: "nope", notFound: true},
		{name: "NameIsNotAPrefix", ref: "we", notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveIn(all, tt.ref)
			var amb *AmbiguousError
			switch {
			case tt.ambiguous:
				if !errors.As(err, &amb) || len(amb.Matches) != 2 {
					t.Fatalf("resolveIn(%q) = %v, %v; want ambiguity between two", tt.ref, got, err)
				}
				if !strings.Contains(err.Error(), "abc123def456aaaa") || !strings.Contains(err.Error(), "abc999def456bbbb") {
					t.Errorf("error %q does not list the matches", err)
				}
			case tt.notFound:
				if !IsNotFound(err) {
					t.Fatalf("resolveIn(%q) = %v, %v; want not found", tt.ref, got, err)
				}
			default:
				if err != nil || got.ID != tt.want {
					t.Fatalf("resolveIn(%q) = %v, %v; want %s", tt.ref, got.ID, err, tt.want)
				}
			}
		})
	}
}
