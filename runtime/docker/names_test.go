package docker

import (
	"slices"
	"testing"
)

// TestPrimaryName: the own name is the one without an inner slash, wherever
// Docker lists it (it listed "/b2/bpalias,/bp" for a container b2 links to).
func TestPrimaryName(t *testing.T) {
	for _, tc := range []struct {
		in     []string
		name   string
		others []string
	}{
		{[]string{"/b2/bpalias", "/bp"}, "bp", []string{"b2/bpalias"}},
		{[]string{"/bp", "/b2/bpalias", "/b3/x"}, "bp", []string{"b2/bpalias", "b3/x"}},
		{[]string{"/solo"}, "solo", nil},
		{[]string{"/only/alias"}, "only/alias", nil},
		{nil, "", nil},
	} {
		name, others := primaryName(tc.in)
		if name != tc.name || !slices.Equal(others, tc.others) {
			t.Errorf("primaryName(%q) = %q %q, want %q %q", tc.in, name, others, tc.name, tc.others)
		}
	}
}
