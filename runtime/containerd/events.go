package containerd

import (
	"context"
	"errors"
	"fmt"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"

	"github.com/containerd/containerd/v2/core/events"

	"firebreak/runtime"
)

var _ runtime.Watcher = (*Containerd)(nil)

// Watch follows containerd's container and task events in this adapter's
// namespace until ctx ends or the stream fails; see runtime.Watcher.
// containerd's event service is daemon-wide, so the subscription names the
// namespace.
func (c *Containerd) Watch(ctx context.Context, send func(runtime.Event)) error {
	sub, cancel := context.WithCancel(c.ctx(ctx))
	defer cancel() // ends the client's receiving goroutine when Watch returns on an event it cannot read
	envs, errs := c.api.EventService().Subscribe(sub, eventFilters(c.namespace)...)
	for {
		select {
		case env := <-envs:
			ev, ok, err := eventOf(env)
			if err != nil {
				return err
			}
			if ok {
				send(ev)
			}
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil {
				err = errors.New("stream closed")
			}
			return fmt.Errorf("containerd Subscribe (namespace %s): %w", c.namespace, err)
		}
	}
}

// eventFilters subscribe to the container and task topics of namespace
// (each filter is a conjunction; the list is a disjunction).
func eventFilters(namespace string) []string {
	return []string{
		fmt.Sprintf(`namespace==%s,topic~="^/containers/"`, namespace),
		fmt.Sprintf(`namespace==%s,topic~="^/tasks/"`, namespace),
	}
}

// eventOf reads the container ID and action from an envelope. ok is false
// for an event not about a container. An event on a topic that changes a
// container's state but that cannot be read is an error: the caller's view
// of that container could no longer be trusted.
func eventOf(env *events.Envelope) (ev runtime.Event, ok bool, err error) {
	if env == nil || env.Event == nil {
		return runtime.Event{}, false, nil
	}
	ev.Action = topicAction[env.Topic]
	if ev.Action == "" {
		ev.Action = runtime.ActionOther
	}
	ev.Time = env.Timestamp
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		if ev.Action == runtime.ActionOther {
			return runtime.Event{}, false, nil // a topic this version does not know
		}
		return runtime.Event{}, false, fmt.Errorf("containerd event %s: decoding %s: %w", env.Topic, env.Event.GetTypeUrl(), err)
	}
	switch e := v.(type) {
	case *apievents.ContainerCreate:
		ev.ID = e.ID
	case *apievents.ContainerUpdate:
		ev.ID = e.ID
	case *apievents.ContainerDelete:
		ev.ID = e.ID
	case *apievents.TaskExit:
		ev.ID = e.ContainerID
		if !isInit(e.ID, e.ContainerID) {
			ev.Action = runtime.ActionOther // an exec'd process ended, the container runs on
		}
	case interface{ GetContainerID() string }: // every other task event
		ev.ID = e.GetContainerID()
	}
	if ev.ID == "" {
		return runtime.Event{}, false, nil
	}
	return ev, true, nil
}

// isInit says whether a task event's process ID names the container's init:
// containerd gives the init process the container's ID, an exec its own.
func isInit(processID, containerID string) bool {
	return processID == "" || processID == containerID
}

// topicAction maps the topics that change a container's state; every other
// container or task topic (/tasks/create, /tasks/delete, /tasks/oom,
// /tasks/exec-*, /containers/update...) is "other".
var topicAction = map[string]string{
	"/containers/create": runtime.ActionCreate,
	"/containers/delete": runtime.ActionDestroy,
	"/tasks/start":       runtime.ActionStart,
	"/tasks/exit":        runtime.ActionStop,
	"/tasks/paused":      runtime.ActionPause,
	"/tasks/resumed":     runtime.ActionUnpause,
}
