package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/playbooks"
	"firebreak/recover"
	"firebreak/runtime"
)

// Exit codes, documented in README.md and `firebreak --help`.
const (
	exitOK          = 0   // everything asked for was done
	exitFailed      = 1   // an act failed (what was done stays recorded)
	exitUsage       = 2   // bad input: flags, unknown or ambiguous target, unknown case, no key to verify with
	exitRefused     = 3   // refused for safety before any change (host network, replaced container, busy)
	exitNotIsolated = 4   // acts done, but verification found the container not isolated; or status found a hold undone (drift)
	exitUnverified  = 5   // evidence verification found differences
	exitSpooled     = 6   // evidence kept in the local spool, not yet in the remote store
	exitApproval    = 7   // a playbook step needed an approval, or an act a confirmation, that was not given
	exitNotRestored = 8   // released, but not as before (a network is gone)
	exitInterrupted = 130 // interrupted (SIGINT, SIGTERM, SIGHUP)
)

const exitCodesHelp = `Exit codes:
  0    success
  1    an act failed (what was done stays recorded; re-run or release)
  2    bad input: flags, unknown or ambiguous target, unknown case, no key to verify with
  3    refused for safety before any change (host network namespace, container replaced, held by another run)
  4    contained, but verification found it still reaching a peer; or status found a held container
       no longer held as contained (drift: thawed, a network attached again, drop rules gone or changed)
  5    evidence verification found differences, or a backup snapshot does not verify
  6    evidence is safe in the local spool but not yet in the remote store (run 'firebreak evidence sync')
  7    a playbook step needs an approval that was not given (the run stopped there; --resume continues),
       or recover or kill was not confirmed (nothing changed; --yes acts without asking)
  8    released, but not exactly as before (a network it was on no longer exists)
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP)
With several targets the worst outcome wins: 130, 5, 4 7 8, 1, 6, 3, 2.`

// usageError marks errors the user fixes by changing the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// withUsage makes a command's argument errors (cobra's "accepts 1 arg(s),
// received 0") usage errors that carry the command's usage line.
func withUsage(args cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := args(cmd, a); err != nil {
			return usageLine(cmd, err)
		}
		return nil
	}
}

// usageLine adds the command's usage line to an error of its arguments or
// flags (once), as a usage error.
func usageLine(cmd *cobra.Command, err error) error {
	if strings.Contains(err.Error(), "\nUsage: ") {
		return err
	}
	return &usageError{fmt.Errorf("%w\nUsage: %s (see %s --help)", err, cmd.UseLine(), cmd.CommandPath())}
}

// addUsageToErrors gives every command under root the usage line in its
// argument and flag errors: call it once the commands are added.
func addUsageToErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(usageLine)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Args != nil {
			c.Args = withUsage(c.Args)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// exitCode maps an error (possibly joined from many targets) to one code:
// the most severe class present wins.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	code := exitOK
	for _, e := range errs {
		c := classify(e)
		if rank(c) > rank(code) {
			code = c
		}
	}
	return code
}

func classify(err error) int {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return exitCode(errors.Join(j.Unwrap()...))
	}
	var (
		usage     *usageError
		notFound  *runtime.NotFoundError
		ambiguous *runtime.AmbiguousError
		replaced  *runtime.ReplacedError
		refused   *runtime.RefusedError
		busy      *contain.BusyError
		notIso    *contain.NotIsolatedError
		drift     *driftError
		unverif   *verifyFailedError
		spooled   *app.NotReplicatedError
		input     *app.InputError
		approval  *playbooks.ApprovalMissingError
		unconfirm *notConfirmedError
		locked    *playbooks.LockedError
		pbErrors  playbooks.Errors
		failOn    *failOnError
		store     *evidence.StoreError
		retention *evidence.RetentionError
		syncLeft  *syncIncompleteError
		notStored *notInStoreError
		different *contain.NotRestoredError
		snapBad   *recover.VerifyError
	)
	var badInput interface{ BadInput() bool }
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &notIso), errors.As(err, &drift):
		return exitNotIsolated
	case errors.As(err, &unverif), errors.As(err, &snapBad):
		return exitUnverified
	case errors.As(err, &spooled), errors.As(err, &syncLeft), errors.As(err, &notStored):
		return exitSpooled
	case errors.As(err, &approval), errors.As(err, &unconfirm):
		return exitApproval
	case errors.As(err, &different):
		return exitNotRestored
	case errors.As(err, &locked):
		return exitRefused
	case errors.As(err, &pbErrors):
		return exitUsage
	case errors.As(err, &failOn):
		return exitFailed
	case errors.As(err, &refused), errors.As(err, &replaced), errors.As(err, &busy), errors.As(err, &retention):
		return exitRefused
	case errors.As(err, &store) && store.Permanent:
		return exitUsage
	case errors.As(err, &usage), errors.As(err, &input), errors.As(err, &notFound), errors.As(err, &ambiguous):
		return exitUsage
	case errors.As(err, &badInput) && badInput.BadInput():
		// A domain package's error the user fixes by changing the command
		// line (a case with no run to resume), without cmd/ naming its type.
		return exitUsage
	}
	return exitFailed
}

// rank orders codes by how much a caller must know about them.
func rank(code int) int {
	switch code {
	case exitOK:
		return 0
	case exitUsage:
		return 1
	case exitRefused:
		return 2
	case exitSpooled:
		return 3 // safe, if not yet remote: below a failure beside it
	case exitFailed:
		return 4
	case exitNotIsolated:
		return 5
	case exitApproval:
		return 5
	case exitNotRestored:
		return 5
	case exitUnverified:
		return 6
	case exitInterrupted:
		return 7
	}
	return 4 // as a failure
}

// errorJSON is how a failure reads with --output json: one object on
// stderr, so a script parses it as it parses the rest.
type errorJSON struct {
	ExitCode int      `json:"exit_code"`
	Message  string   `json:"message"`
	Hints    []string `json:"hints,omitempty"`
}

// printError reports a command's failure on stderr: a line of text, or with
// --output json one JSON object of type error.
func printError(w io.Writer, output string, code int, err error) {
	if output == "json" {
		if jerr := jsonLine(w, "error", errorJSON{ExitCode: code, Message: err.Error(), Hints: hints(err.Error())}); jerr == nil {
			return
		}
	}
	fmt.Fprintf(w, "firebreak: %s\n", safeLines(err.Error()))
}

// hints picks the "hint: ..." parts out of an error message.
func hints(msg string) []string {
	var out []string
	for {
		i := strings.Index(msg, "hint: ")
		if i < 0 {
			return out
		}
		msg = msg[i+len("hint: "):]
		end := strings.IndexAny(msg, ")\n")
		if end < 0 {
			end = len(msg)
		}
		out = append(out, strings.TrimSpace(msg[:end]))
		msg = msg[end:]
	}
}
