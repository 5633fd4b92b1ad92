package runtime

import (
	"context"
	"time"
)

// The actions an Event carries, the same words for every engine.
const (
	ActionCreate  = "create"
	ActionStart   = "start"
	ActionStop    = "stop" // the container's init exited (Docker die, containerd /tasks/exit of the init)
	ActionPause   = "pause"
	ActionUnpause = "unpause"
	ActionDestroy = "destroy" // the container was removed
	ActionRename  = "rename"
	ActionOther   = "other" // anything else the engine said of the container (exec, kill, health, update, task delete...)
)

// Event is one change an engine reported about a container.
type Event struct {
	ID string // full container ID
	// Action is one word for every engine: create, start, stop (task
	// exit/die), pause, unpause, destroy, rename, other.
	Action string
	Time   time.Time // when the engine says it happened
}

// Watcher is implemented by engines that report container changes as they
// happen, so a caller lists once and then follows the changes instead of
// polling.
type Watcher interface {
	// Watch calls send for every event about a container, in the order the
	// engine reports them, until ctx ends (it returns ctx.Err()) or the
	// stream fails (it returns that error, never nil; the caller then lists
	// again and re-watches). send is called from Watch's goroutine, one
	// event at a time; a slow send holds the stream back, it drops
	// nothing. Events from before the engine took the subscription are
	// not sent, and Watch does not signal when it has taken it: a change
	// made between a List and the subscription shows only with the next
	// event about that container (or the next resync).
	Watch(ctx context.Context, send func(Event)) error
}
