package containerd

import (
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/filters"
)

func envelope(t *testing.T, topic string, ev any) *events.Envelope {
	t.Helper()
	a, err := typeurl.MarshalAny(ev)
	if err != nil {
		t.Fatal(err)
	}
	return &events.Envelope{Timestamp: time.Unix(1700000000, 5), Namespace: "ns", Topic: topic, Event: a}
}

func TestEventOf(t *testing.T) {
	for _, c := range []struct {
		name, topic string
		ev          any
		wantID      string
		wantAction  string
	}{
		{"container create", "/containers/create", &apievents.ContainerCreate{ID: "c1"}, "c1", "create"},
		{"container update", "/containers/update", &apievents.ContainerUpdate{ID: "c1"}, "c1", "other"},
		{"container delete", "/containers/delete", &apievents.ContainerDelete{ID: "c1"}, "c1", "destroy"},
		{"task create", "/tasks/create", &apievents.TaskCreate{ContainerID: "c1"}, "c1", "other"},
		{"task start", "/tasks/start", &apievents.TaskStart{ContainerID: "c1", Pid: 9}, "c1", "start"},
		{"init exit", "/tasks/exit", &apievents.TaskExit{ContainerID: "c1", ID: "c1"}, "c1", "stop"},
		{"exec exit", "/tasks/exit", &apievents.TaskExit{ContainerID: "c1", ID: "exec7"}, "c1", "other"},
		{"oom", "/tasks/oom", &apievents.TaskOOM{ContainerID: "c1"}, "c1", "other"},
		{"paused", "/tasks/paused", &apievents.TaskPaused{ContainerID: "c1"}, "c1", "pause"},
		{"resumed", "/tasks/resumed", &apievents.TaskResumed{ContainerID: "c1"}, "c1", "unpause"},
		{"task delete", "/tasks/delete", &apievents.TaskDelete{ContainerID: "c1", ID: "c1"}, "c1", "other"},
		{"exec added", "/tasks/exec-added", &apievents.TaskExecAdded{ContainerID: "c1", ExecID: "e"}, "c1", "other"},
	} {
		ev, ok, err := eventOf(envelope(t, c.topic, c.ev))
		if err != nil || !ok || ev.ID != c.wantID || ev.Action != c.wantAction || !ev.Time.Equal(time.Unix(1700000000, 5)) {
			t.Errorf("%s: eventOf = %+v, %v, %v; want %s %s", c.name, ev, ok, err, c.wantID, c.wantAction)
		}
	}
}

func TestEventOfSkipsWhatIsNotAboutAContainer(t *testing.T) {
	// An image event (not subscribed to, but were it sent) has no container.
	if ev, ok, err := eventOf(envelope(t, "/images/create", &apievents.ImageCreate{Name: "x"})); ok || err != nil {
		t.Errorf("image event: %+v, %v, %v; want skipped", ev, ok, err)
	}
	if _, ok, err := eventOf(nil); ok || err != nil {
		t.Errorf("nil envelope: %v, %v", ok, err)
	}
}

func TestEventOfUndecodable(t *testing.T) {
	bad := &events.Envelope{Topic: "/tasks/exit", Event: badAny{}}
	if _, _, err := eventOf(bad); err == nil {
		t.Error("undecodable /tasks/exit: no error, want one (the container's state is unknown)")
	}
	bad.Topic = "/tasks/future-thing"
	if _, ok, err := eventOf(bad); ok || err != nil {
		t.Errorf("undecodable unknown topic: %v, %v; want skipped", ok, err)
	}
}

type badAny struct{}

func (badAny) GetTypeUrl() string { return "example.com/no.such.Type" }
func (badAny) GetValue() []byte   { return []byte{1, 2, 3} }

// The subscription's filters, as containerd parses and applies them, let
// through the container and task events of the namespace only.
func TestEventFilters(t *testing.T) {
	f, err := filters.ParseAll(eventFilters("k8s.io")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns, topic string
		want      bool
	}{
		{"k8s.io", "/tasks/exit", true},
		{"k8s.io", "/containers/create", true},
		{"k8s.io", "/images/create", false},
		{"k8s.io", "/snapshot/prepare", false},
		{"moby", "/tasks/exit", false},
		{"k8s", "/containers/delete", false},
	} {
		env := &events.Envelope{Namespace: c.ns, Topic: c.topic}
		if got := f.Match(env); got != c.want {
			t.Errorf("namespace %s topic %s: match = %v, want %v", c.ns, c.topic, got, c.want)
		}
	}
}
