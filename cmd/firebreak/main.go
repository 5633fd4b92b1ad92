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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newDeps(os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}
