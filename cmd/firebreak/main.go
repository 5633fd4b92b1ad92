// Command firebreak is the command-line front end of Firebreak: incident
// response for container hosts. It turns flags into options and calls into
// the domain packages; nothing else in the project imports cobra.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "firebreak/internal/termquiet" // before Bubble Tea's init: no terminal query at start
)

// interruptSignals end a command as Ctrl-C does: what it was doing is
// undone or recorded (a recover rolls back, a drill cleans up) and it exits
// 130. SIGHUP is among them: a responder's SSH session that drops must not
// kill a recover half-way, leaving the service down and the suspect renamed.
// Unless it is ignored when firebreak starts (nohup): asking for it would
// undo that, and a run meant to outlive the session would end with it.
var interruptSignals = func() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}()

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), interruptSignals...)
	code := run(ctx, os.Args[1:], newDeps(os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}
