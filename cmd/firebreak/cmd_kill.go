package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/app"
	"firebreak/runtime"
)

// endOptions are the flags of stop and kill, which end a container's
// processes and record it in its containment record.
type endOptions struct {
	Grace  time.Duration // stop: between SIGTERM and SIGKILL
	Signal string        // kill
	Case   string
	Yes    bool // kill: without typing the name
}

func (o *endOptions) addCaseFlag(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Case, "case", "", "case ID to record it under (a held container keeps the case of its containment)")
}

func newStopCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &endOptions{}
	cmd := &cobra.Command{
		Use:   "stop TARGET...",
		Short: "Stop a container (SIGTERM, then SIGKILL after --grace), recorded in its containment record",
		Long: `Stop ends each target's processes as the engine's stop does: SIGTERM, then
SIGKILL once --grace has passed. The container stays, for inspection and
capture. A container Firebreak froze is thawed first (a frozen process cannot
take a signal) behind its drop rules, and its record says so before the thaw;
if the stop then fails it is frozen again. The stop is recorded in the
container's containment record (one is made for a container that held
nothing), so 'firebreak status' shows who ended it and when; it cannot be
undone, and 'firebreak release' retires the record. A container that is not
running is left alone. A Kubernetes pod's sandbox is refused: the kubelet
stops and restarts a pod's containers (kubectl delete pod, once its evidence
is captured).`,
		Example: `  firebreak stop web-1 --case IR-42
  firebreak stop --grace 30s web-1 web-2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnd(cmd.Context(), g, o, "stop", args, d)
		},
	}
	cmd.Flags().DurationVar(&o.Grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL (Docker counts whole seconds)")
	o.addCaseFlag(cmd)
	return cmd
}

func newKillCommand(g *globalOptions, d *deps) *cobra.Command {
	o := &endOptions{}
	cmd := &cobra.Command{
		Use:   "kill TARGET...",
		Short: "Send a signal (SIGKILL) to a container's init, recorded in its containment record",
		Long: `Kill sends --signal (SIGKILL by default) to each target's init. Its
processes end at once and what was in their memory is lost: capture first
('firebreak collect') when it matters. On a terminal kill asks for each
container's name to be typed; otherwise it acts only with --yes (exit 7
without, nothing changed). A container Firebreak froze is thawed first
behind its drop rules, and frozen again if the signal cannot be sent. The
kill is recorded in the container's containment record (one is made for a
container that held nothing), so 'firebreak status' shows it; it cannot be
undone, and 'firebreak release' retires the record. A container that is not
running is left alone. A Kubernetes pod's sandbox is refused: the kubelet
stops and restarts a pod's containers.`,
		Example: `  firebreak kill miner-7 --case IR-42
  firebreak kill --yes --signal SIGTERM -o json 3f2a`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEnd(cmd.Context(), g, o, "kill", args, d)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Signal, "signal", "s", "SIGKILL", "signal to send: a name (SIGKILL, KILL, TERM) or a number")
	f.BoolVar(&o.Yes, "yes", false, "kill without asking for the name (scripted runs)")
	o.addCaseFlag(cmd)
	return cmd
}

func runEnd(ctx context.Context, g *globalOptions, o *endOptions, verb string, refs []string, d *deps) error {
	if o.Case != "" {
		if err := evidence.CheckCaseID(o.Case); err != nil {
			return usagef("--case: %v", err)
		}
	}
	if o.Grace < 0 {
		return usagef("--grace %s: give 0 or a positive duration such as 10s", o.Grace)
	}
	signal := ""
	if verb == "kill" {
		var err error
		if signal, err = signalName(o.Signal); err != nil {
			return usagef("--signal %q: %v", o.Signal, err)
		}
	}
	ask := verb == "kill" && !o.Yes
	s, err := openSession(ctx, g, d, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if ask && (!isTerminal(d.stdin) || !isTerminal(d.stderr)) {
		// Bad targets are bad input first (exit 2), then the missing
		// confirmation (exit 7): nothing is changed either way.
		if _, err := s.Resolve(ctx, app.Selection{Refs: refs, Act: true}); err != nil {
			return err
		}
		return &notConfirmedError{Verb: verb, Target: strings.Join(refs, " "), Why: "not a terminal to type the name on, and no --yes"}
	}
	if sc, ok := s.Runtime().(runtime.SignalChecker); ok && verb == "kill" {
		if err := sc.CheckSignal(signal); err != nil {
			return usagef("--signal %q: %v (%s)", o.Signal, err, s.Runtime().Name())
		}
	}
	in := bufio.NewReader(d.stdin)
	// One target after the other: each may ask on the terminal.
	outs := contain.Each(ctx, refs, 1, func(ctx context.Context, ref string) (*contain.Result, error) {
		ts, err := s.Resolve(ctx, app.Selection{Refs: []string{ref}, Act: true})
		if err != nil {
			return nil, err
		}
		t := ts[0]
		if err := contain.RefuseEnd(t, verb); err != nil {
			return nil, err
		}
		if ask {
			if err := confirmName(ctx, d.stderr, in, verb, t); err != nil {
				return nil, err
			}
		}
		if verb == "stop" {
			return s.Stop(ctx, t, o.Grace, o.Case)
		}
		return s.Kill(ctx, t, signal, o.Case)
	})
	if err := printOutcomes(d.stdout, g.Output, verb, outs); err != nil {
		return err
	}
	return outcomesError(verb, g.Output, outs)
}

// notConfirmedError says an act that asks for the container's name was not
// confirmed; nothing was changed.
// notConfirmedError: an act that asks first was not confirmed, so nothing
// changed. Ask says how a terminal confirms it; "" for typing the name.
type notConfirmedError struct{ Verb, Target, Why, Ask string }

func (e *notConfirmedError) Error() string {
	ask := e.Ask
	if ask == "" {
		ask = "Type the container's name when asked on a terminal"
	}
	return fmt.Sprintf("%s %s: not confirmed (%s); nothing was changed. %s, or add --yes to %s without asking", e.Verb, e.Target, e.Why, ask, e.Verb)
}

// confirmName asks on the terminal for the container's name to be typed
// before verb acts on it. Ctrl-C while it waits ends the wait (the line is
// read in a goroutine the interrupt does not wait for).
func confirmName(ctx context.Context, w io.Writer, in *bufio.Reader, verb string, c runtime.Container) error {
	want := c.TypedName()
	fmt.Fprintf(w, "%s %s%s: its processes end now and cannot come back (memory not captured is lost).\nType %s to %s it: ", verb, c.ShortID(), nameSuffix(c), want, verb)
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		line, err := in.ReadString('\n')
		got <- answer{line, err}
	}()
	var line string
	var err error
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return ctx.Err()
	case a := <-got:
		line, err = a.line, a.err
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		why := fmt.Sprintf("%q was typed, not %q", got, want)
		if err != nil && got == "" {
			why = "no answer: " + err.Error()
		}
		return &notConfirmedError{Verb: verb, Target: want, Why: why}
	}
	return nil
}

// signalName is s as the engines take it (SIGKILL), from a name with or
// without SIG, in any case, or a number.
func signalName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if name := unix.SignalName(syscall.Signal(n)); name != "" {
			return name, nil
		}
		return "", errors.New("no such signal number")
	}
	name := "SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if unix.SignalNum(name) == 0 {
		return "", errors.New("no such signal: give a name such as SIGKILL or SIGTERM, or a number")
	}
	return name, nil
}
