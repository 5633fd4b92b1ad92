package runtimetest

import (
	"slices"
	"testing"
)

func TestWithoutPauseEchoes(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"create", "start", "pause", "unpause", "pause", "unpause", "stop"}, []string{"create", "start", "pause", "unpause", "stop"}},
		{[]string{"start", "pause", "unpause", "pause", "unpause", "pause", "unpause"}, []string{"start", "pause", "unpause"}},
		// not a repeat of the pair before: kept
		{[]string{"start", "pause", "unpause", "stop", "start", "pause", "unpause"}, []string{"start", "pause", "unpause", "stop", "start", "pause", "unpause"}},
		{[]string{"start", "pause", "pause", "unpause", "unpause", "stop"}, []string{"start", "pause", "unpause", "stop"}},
		{[]string{"pause", "unpause", "pause"}, []string{"pause", "unpause", "pause"}},
		// only pauses and unpauses are echoes
		{[]string{"start", "start", "stop", "stop"}, []string{"start", "start", "stop", "stop"}},
		{nil, nil},
	} {
		if got := WithoutPauseEchoes(c.in); !slices.Equal(got, c.want) {
			t.Errorf("WithoutPauseEchoes(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
