package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"firebreak/drill"
	"firebreak/internal/app"
	"firebreak/tui"
)

// runDrillConsole runs an interactive live drill with the console: the
// drill sets up its sandbox (its progress on stderr, as without the
// console), then the console opens with the drill in a panel beside the
// fleet, on the drill's own session, and the team responds there. The
// drill tells its standing through a mailbox the console reads (the
// newest standing wins; the drill never waits for the console). Meeting
// every target ends the drill while the console stays open to show it;
// quitting the console ends the response early (measured and checked all
// the same). Either way the drill cleans up and its reports are written
// before this returns; an interrupt (SIGINT, SIGTERM) cancels ctx, which
// ends the console and interrupts the drill, which still cleans up.
func runDrillConsole(ctx context.Context, g *globalOptions, o *drillLiveOptions, d *deps, s *app.Session, sc *drill.Scenario, lo drill.LiveOptions) liveOutcome {
	updates := make(chan tui.LiveUpdate, 1)
	var umu sync.Mutex
	var last drill.LiveStatus
	// put replaces what the console has not read yet: each update is
	// the whole standing, so only the newest matters. One producer at a
	// time, so the send never blocks.
	put := func(u tui.LiveUpdate, status bool) {
		umu.Lock()
		defer umu.Unlock()
		if status {
			last = u.Status
		} else {
			u.Status = last
		}
		select {
		case <-updates:
		default:
		}
		updates <- u
	}
	var quiet atomic.Bool // the console has the terminal: nothing else writes to it
	notice, progress := lo.Notice, lo.Progress
	lo.Notice = func(msg string) {
		if !quiet.Load() {
			notice(msg)
		}
	}
	lo.Progress = func(e drill.Entry) {
		if !quiet.Load() {
			progress(e)
		}
	}
	ready := make(chan struct{})
	var once sync.Once
	lo.Status = func(st drill.LiveStatus) {
		put(tui.LiveUpdate{Status: st}, true)
		if st.Step == "respond" && !st.Ended {
			once.Do(func() { close(ready) })
		}
	}
	end := make(chan struct{})
	lo.End = end
	done := make(chan liveOutcome, 1)
	go func() {
		var out liveOutcome
		out.res, out.err = drill.RunLive(ctx, s, sc, lo)
		if out.res != nil {
			out.dir, out.paths, out.werr = writeLiveReports(g, o, out.res)
			u := tui.LiveUpdate{Err: errors.Join(out.err, out.werr)}
			if out.werr == nil {
				u.ReportDir, u.Reports = out.dir, out.paths
			}
			put(u, false)
		}
		done <- out
	}()
	select {
	case <-ready:
	case out := <-done:
		return out // it ended before the incident began: nothing to respond to
	}
	quiet.Store(true)
	b := tui.NewSessions(s.Options(), s) // not closed here: the drill still uses the session
	perr := runConsole(ctx, d, b, tui.Options{LiveDrill: &tui.LiveDrillOptions{Scenario: sc, Updates: updates}, Actor: actor(), CLI: cliPrefix(g),
		StoreFlags: tuiStoreFlags(&tuiOptions{store: o.store})}, false)
	quiet.Store(false)
	close(end)
	out := <-done
	if perr != nil && ctx.Err() == nil && out.err == nil {
		out.err = perr
	}
	return out
}
