package docker

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
)

func TestActionWords(t *testing.T) {
	for in, want := range map[events.Action]string{
		"create":                   "create",
		"start":                    "start",
		"die":                      "stop",
		"stop":                     "other", // follows the die
		"kill":                     "other",
		"oom":                      "other",
		"pause":                    "pause",
		"unpause":                  "unpause",
		"destroy":                  "destroy",
		"rename":                   "rename",
		"restart":                  "other",
		"exec_start: sh -c true":   "other",
		"exec_die":                 "other",
		"health_status: unhealthy": "other",
		"something-new":            "other",
	} {
		if got := action(in); got != want {
			t.Errorf("action(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventTimePrefersNanoseconds(t *testing.T) {
	if got := eventTime(events.Message{Time: 1700000000, TimeNano: 1700000000123456789}); !got.Equal(time.Unix(1700000000, 123456789)) {
		t.Errorf("eventTime = %v", got)
	}
	if got := eventTime(events.Message{Time: 1700000000}); !got.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("eventTime without nanoseconds = %v", got)
	}
}
