package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"firebreak/runtime"
)

var _ runtime.Watcher = (*Docker)(nil)

// Watch follows the engine's container events (GET /events with
// type=container) until ctx ends or the stream fails; see runtime.Watcher.
func (d *Docker) Watch(ctx context.Context, send func(runtime.Event)) error {
	msgs, errs := d.api.Events(ctx, events.ListOptions{
		Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType))),
	})
	for {
		select {
		case m := <-msgs:
			if m.Actor.ID == "" {
				continue
			}
			send(runtime.Event{ID: m.Actor.ID, Action: action(m.Action), Time: eventTime(m)})
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil {
				err = errors.New("stream closed")
			}
			return fmt.Errorf("docker Events: %w", err)
		}
	}
}

// action maps a Docker container event to Firebreak's word for it. A stop
// is die, which Docker sends whenever the container's process ends (exit,
// kill, OOM, stop); its own kill, oom and stop events come around a die
// and say nothing more about the state, so they are "other", as are exec,
// attach, health, update, restart and the rest.
func action(a events.Action) string {
	// Some actions carry detail after a colon: "exec_start: sh -c ...",
	// "health_status: healthy".
	word, _, _ := strings.Cut(string(a), ":")
	switch events.Action(word) {
	case events.ActionCreate:
		return runtime.ActionCreate
	case events.ActionStart:
		return runtime.ActionStart
	case events.ActionDie:
		return runtime.ActionStop
	case events.ActionPause:
		return runtime.ActionPause
	case events.ActionUnPause:
		return runtime.ActionUnpause
	case events.ActionDestroy:
		return runtime.ActionDestroy
	case events.ActionRename:
		return runtime.ActionRename
	}
	return runtime.ActionOther
}

// eventTime is when the engine says the event happened, to the nanosecond
// where it says so.
func eventTime(m events.Message) time.Time {
	if m.TimeNano != 0 {
		return time.Unix(0, m.TimeNano).UTC()
	}
	return time.Unix(m.Time, 0).UTC()
}
