// Package collect captures what an investigator needs from a container, from
// the host side only: the engine's view, the filesystem diff of its writable
// layer, its process tree, its network state and its logs, plus a timeline.
// It never execs into the container, never chroots into it, and never
// follows a link out of its root. Artifacts stream into an evidence.Run.
package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"firebreak/evidence"
	"firebreak/runtime"
)

// Collector names one part of a capture.
type Collector string

// Collectors, in the order they run.
const (
	WhatInspect    Collector = "inspect"
	WhatProcesses  Collector = "processes"
	WhatNetwork    Collector = "network"
	WhatIndicators Collector = "indicators"
	WhatMemory     Collector = "memory"
	WhatLogs       Collector = "logs"
	WhatFSDiff     Collector = "fsdiff"
	WhatVolumes    Collector = "volumes"
)

// All is the default set of collectors. The volatile state (processes,
// sockets, the live indicators read from them) is taken before the logs and
// the layer.
var All = []Collector{WhatInspect, WhatProcesses, WhatNetwork, WhatIndicators, WhatLogs, WhatFSDiff}

// Known is every collector, in the order they run: All, and memory and
// volumes, which are asked for by name only, for their size (a core of
// every process; the data of every named volume).
var Known = []Collector{WhatInspect, WhatProcesses, WhatNetwork, WhatIndicators, WhatMemory, WhatLogs, WhatFSDiff, WhatVolumes}

// Options say what one collection captures.
type Options struct {
	What     []Collector   // subset of Known; empty means All
	Since    time.Duration // logs: only this far back (0: all)
	LogCap   int64         // logs: bytes kept per stream (first quarter and newest lines)
	Limits   Limits        // fsdiff caps
	Held     Limits        // deleted-but-open files and executables: per file, in all (zero: DefaultHeldLimits)
	Memory   Limits        // memory cores: per process, in all (zero: DefaultMemoryLimits)
	ProcRoot string        // /proc unless a test says otherwise
	// CgroupRoot is where the cgroup freezer is read (/sys/fs/cgroup
	// unless a test says otherwise).
	CgroupRoot string
	Progress   Progress // fsdiff progress, may be nil
}

// DefaultOptions are the CLI's defaults.
func DefaultOptions() Options {
	return Options{What: All, LogCap: 64 << 20, Limits: DefaultLimits(), Held: DefaultHeldLimits(), Memory: DefaultMemoryLimits(),
		ProcRoot: "/proc", CgroupRoot: "/sys/fs/cgroup"}
}

// ParseCollectors reads collector names, refusing unknown ones.
func ParseCollectors(names []string) ([]Collector, error) {
	out := make([]Collector, 0, len(names))
	for _, n := range names {
		c := Collector(strings.TrimSpace(n))
		if !slices.Contains(Known, c) {
			return nil, fmt.Errorf("unknown collector %q: choose from %s", n, strings.Join(Names(Known), ","))
		}
		out = append(out, c)
	}
	return out, nil
}

// Names are the collectors' names, as flags and playbooks write them.
func Names(cs []Collector) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// Result reports one container's collection.
type Result struct {
	Container  runtime.Container   `json:"container"`
	Prefix     string              `json:"prefix"`
	Artifacts  []evidence.Artifact `json:"artifacts"`
	Incomplete []string            `json:"incomplete,omitempty"`
	FS         *FSStats            `json:"fs,omitempty"`
	Processes  int                 `json:"processes"`
	Outside    int                 `json:"processes_outside"`
	Indicators int                 `json:"indicators"`                 // triage findings in indicators.json
	Highest    Severity            `json:"highest_severity,omitempty"` // of those findings
}

// Collect captures one resolved container into run. What cannot be captured
// is recorded as incomplete in the run (and the result) and the rest goes on;
// an error is returned when the store fails or nothing could be read.
func Collect(ctx context.Context, rt runtime.Runtime, run *evidence.Run, target runtime.Container, opts Options) (*Result, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	what := opts.What
	if len(what) == 0 {
		what = All
	}
	for _, w := range what {
		if !slices.Contains(Known, w) {
			return nil, fmt.Errorf("unknown collector %q: choose from %s", w, strings.Join(Names(Known), ","))
		}
	}
	d, err := runtime.CheckSame(ctx, rt, target)
	if err != nil {
		return nil, err
	}
	at := time.Now().UTC()
	c := &collection{
		ctx: ctx, rt: rt, run: run, d: d, opts: opts,
		res:    &Result{Container: d.Container, Prefix: evidence.CasePrefix(run.Case()) + d.ID + "/" + at.Format("20060102T150405.000000000Z") + "/"},
		timeln: newTimeline(),
	}
	defer c.timeln.Close()
	run.Log("collect", d.ID, "started: "+strings.Join(Names(what), ","))
	steps := map[Collector]func() error{
		WhatInspect: c.inspect, WhatProcesses: c.processes, WhatNetwork: c.network,
		WhatIndicators: c.indicators, WhatMemory: c.memory, WhatLogs: c.logs, WhatFSDiff: c.fsdiff,
		WhatVolumes: c.volumes,
	}
	var storeErrs []error
	for _, w := range Known {
		if !slices.Contains(what, w) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return c.res, err
		}
		if err := steps[w](); err != nil {
			var inc *incomplete
			if errors.As(err, &inc) {
				c.incomplete(w, inc.why)
				continue
			}
			storeErrs = append(storeErrs, fmt.Errorf("%s: %w", w, err))
			c.incomplete(w, err.Error())
		}
	}
	var gone *SourceGoneError
	if !errors.As(errors.Join(storeErrs...), &gone) {
		// A container removed while the other collectors read it left
		// them short too: said once, for the capture as a whole.
		if _, err := c.rt.Inspect(ctx, d.ID); runtime.IsNotFound(err) {
			gone = &SourceGoneError{ID: d.ID, Why: "the container was removed while it was captured"}
			c.incomplete("container", gone.Why)
			storeErrs = append(storeErrs, gone)
		}
	}
	if err := c.timeline(); err != nil {
		storeErrs = append(storeErrs, fmt.Errorf("timeline: %w", err))
	}
	run.Log("collect", d.ID, fmt.Sprintf("finished: %d artifacts, %d incomplete", len(c.res.Artifacts), len(c.res.Incomplete)))
	return c.res, errors.Join(storeErrs...)
}

type collection struct {
	ctx    context.Context
	rt     runtime.Runtime
	run    *evidence.Run
	d      runtime.Details
	opts   Options
	res    *Result
	timeln *timeline
	procs  []*Process
}

// incomplete is a collector's way to say "not available here", which is
// recorded and is not a failure of the run.
type incomplete struct{ why string }

func (e *incomplete) Error() string { return e.why }

func (c *collection) incomplete(what Collector, why string) {
	msg := fmt.Sprintf("%s %s: %s", c.d.ShortID(), what, why)
	c.res.Incomplete = append(c.res.Incomplete, msg)
	c.run.Incomplete(msg)
}

func (c *collection) put(name string, collector Collector, r io.Reader) error {
	a, err := c.run.Put(c.ctx, c.res.Prefix+name, r, string(collector), c.d.ID)
	if err != nil {
		return err
	}
	c.res.Artifacts = append(c.res.Artifacts, a)
	return nil
}

func (c *collection) putJSON(name string, collector Collector, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return c.put(name, collector, bytes.NewReader(append(b, '\n')))
}

func (c *collection) inspect() error {
	raw := c.d.Raw
	if len(raw) == 0 {
		return &incomplete{"the engine gave no document"}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "", "  ") == nil {
		pretty.WriteByte('\n')
		raw = pretty.Bytes()
	}
	c.timeln.addContainer(c.d.Container, raw)
	return c.put("inspect.json", WhatInspect, bytes.NewReader(raw))
}

func (c *collection) processes() error {
	if c.d.Pid <= 0 {
		return &incomplete{fmt.Sprintf("not running (%s): no processes", c.d.State)}
	}
	procs, err := newProcReader(c.opts.ProcRoot).processTree(c.d.Pid)
	if err != nil {
		return &incomplete{err.Error()}
	}
	c.procs = procs
	c.res.Processes = len(procs)
	for _, p := range procs {
		if len(p.Outside) > 0 {
			c.res.Outside++
		}
		if !p.Start.IsZero() {
			c.timeln.add(p.Start, "process start", fmt.Sprintf("pid %d started: %s", p.PID, strings.Join(p.Cmdline, " ")), event{PID: p.PID, Exe: p.Exe, Outside: p.Outside})
		}
	}
	// What only the live processes hold is stored before the list that
	// points at it; the list is stored whatever became of that.
	heldErr := c.held(procs)
	return errors.Join(heldErr, c.putJSON("processes.json", WhatProcesses, procs))
}

// indicators records the container's triage (docs/TRIAGE.md): its risky
// settings and the live signs of an escape, from the process tree already
// read when processes were collected.
func (c *collection) indicators() error {
	x := assessTree(c.ctx, c.rt.Name(), c.opts.ProcRoot, c.d, c.procs, nil)
	addKernelHelpers(c.ctx, c.rt, DefaultHelperFiles(), []*assessed{&x})
	a := x.a
	c.res.Indicators, c.res.Highest = len(a.Findings), a.Max()
	return c.putJSON("indicators.json", WhatIndicators, a)
}

func (c *collection) network() error {
	if c.d.Pid <= 0 {
		return &incomplete{fmt.Sprintf("not running (%s): no network namespace", c.d.State)}
	}
	owners := map[uint64][]int{}
	for _, p := range c.procs {
		for _, s := range p.Sockets {
			owners[s] = append(owners[s], p.PID)
		}
	}
	if err := c.putJSON("network.json", WhatNetwork, readNetwork(c.opts.ProcRoot, c.d.Pid, owners)); err != nil {
		return err
	}
	return c.networkExtras()
}

func (c *collection) logs() error {
	lr, ok := c.rt.(runtime.LogReader)
	if !ok {
		return &incomplete{c.rt.Name() + " keeps no container logs (the task's output goes where its creator sent it)"}
	}
	var since time.Time
	if c.opts.Since > 0 {
		since = time.Now().Add(-c.opts.Since)
	}
	out, err := newCappedLog(c.opts.LogCap)
	if err != nil {
		return err
	}
	defer out.Close()
	errw, err := newCappedLog(c.opts.LogCap)
	if err != nil {
		return err
	}
	defer errw.Close()
	if err := lr.Logs(c.ctx, c.d.ID, since, out, errw); err != nil {
		return &incomplete{err.Error()}
	}
	for _, s := range []struct {
		name string
		f    *cappedLog
	}{{"stdout", out}, {"stderr", errw}} {
		if err := s.f.cut(); err != nil {
			return err
		}
		if note := s.f.note(s.name); note != "" {
			c.incomplete(WhatLogs, note)
		}
		if err := c.put("logs/"+s.name+".log", WhatLogs, s.f.reader()); err != nil {
			return err
		}
		c.timeln.addLogLines(s.f.reader(), s.name)
	}
	return nil
}

func (c *collection) fsdiff() error {
	lr, ok := c.rt.(runtime.LayerReader)
	if !ok {
		return &incomplete{c.rt.Name() + " does not expose a writable layer directory"}
	}
	layer, err := lr.WritableLayer(c.ctx, c.d.ID)
	if err != nil {
		return &incomplete{err.Error()}
	}
	before, err := os.Lstat(layer.Upper)
	if err != nil {
		return fmt.Errorf("the writable layer directory %s: %w", layer.Upper, err)
	}
	changes, err := os.CreateTemp("", "firebreak-changes-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(changes.Name())
	defer changes.Close()
	stats, err := c.captureOnce(layer, changes)
	if errors.Is(err, evidence.ErrRetryLocally) {
		// The remote failed midway; the layer is still there to read
		// again, this time into the local spool.
		c.run.Log("collect", c.d.ID, "fsdiff: remote store failed during the upload; capturing again into the local spool")
		if _, serr := changes.Seek(0, io.SeekStart); serr != nil {
			return serr
		}
		if serr := changes.Truncate(0); serr != nil {
			return serr
		}
		stats, err = c.captureOnce(layer, changes)
	}
	c.res.FS = &stats
	// Whether the layer stayed while it was read is asked before the rest
	// is stored, and said after it: what was read is kept either way.
	gone := c.layerGone(layer.Upper, before, stats)
	if err != nil {
		if gone != nil {
			return fmt.Errorf("%w (%w)", gone, err)
		}
		return err
	}
	if stats.Truncated > 0 {
		c.incomplete(WhatFSDiff, fmt.Sprintf("%d files capped (see \"truncated\" in changes.json)", stats.Truncated))
	}
	if gone == nil && stats.Vanished > 0 {
		c.incomplete(WhatFSDiff, fmt.Sprintf("%s listed in the writable layer vanished before they were read (the running container removed or renamed them)", plural(stats.Vanished, "path")))
	}
	if _, err := changes.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := c.put("fsdiff/changes.json", WhatFSDiff, changes); err != nil {
		return err
	}
	// The timeline takes the file events from the stored list, so a capture
	// made twice does not count them twice.
	if _, err := changes.Seek(0, io.SeekStart); err != nil {
		return err
	}
	dec := json.NewDecoder(changes)
	if _, err := dec.Token(); err != nil {
		return nil
	}
	for dec.More() {
		var fc FileChange
		if err := dec.Decode(&fc); err != nil {
			break
		}
		c.timeln.addFile(fc)
	}
	if gone != nil {
		return gone
	}
	return nil
}

// SourceGoneError says that what was being captured went away while it was
// read: the container was removed, or its writable layer directory. What
// was read before is stored and the loss is recorded as incomplete in the
// run; the capture failed all the same (it is not the whole layer).
type SourceGoneError struct {
	ID  string
	Why string
}

func (e *SourceGoneError) Error() string {
	return fmt.Sprintf("capture of %s is incomplete: %s; what was read before is kept", runtime.ShortID(e.ID), e.Why)
}

// layerGone says whether the writable layer went away while it was read
// (nil when it stayed): its directory removed or replaced, the container
// removed or replaced in the engine, or paths vanishing while the
// container left the state it was captured in (a removal under way:
// engines stop a container before they delete its layer).
func (c *collection) layerGone(upper string, before os.FileInfo, stats FSStats) *SourceGoneError {
	vanished := ""
	if stats.Vanished > 0 {
		vanished = fmt.Sprintf("; %s listed in it vanished before they were read", plural(stats.Vanished, "path"))
	}
	after, err := os.Lstat(upper)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &SourceGoneError{ID: c.d.ID, Why: fmt.Sprintf("the writable layer directory %s was removed while it was read (%d entries captured%s)", upper, stats.Entries, vanished)}
	case err == nil && !os.SameFile(before, after):
		return &SourceGoneError{ID: c.d.ID, Why: fmt.Sprintf("the writable layer directory %s was replaced while it was read (%d entries captured%s)", upper, stats.Entries, vanished)}
	}
	now, err := c.rt.Inspect(c.ctx, c.d.ID)
	switch {
	case runtime.IsNotFound(err):
		return &SourceGoneError{ID: c.d.ID, Why: fmt.Sprintf("the container was removed while its writable layer was read (%d entries captured%s)", stats.Entries, vanished)}
	case err == nil && !now.Created.Equal(c.d.Created):
		return &SourceGoneError{ID: c.d.ID, Why: fmt.Sprintf("the container was replaced while its writable layer was read (%d entries captured%s)", stats.Entries, vanished)}
	case err == nil && stats.Vanished > 0 && now.State != c.d.State:
		return &SourceGoneError{ID: c.d.ID, Why: fmt.Sprintf("the container went from %s to %s while its writable layer was read, and %s listed in the layer vanished before they were read (a removal under way?)", c.d.State, now.State, plural(stats.Vanished, "path"))}
	}
	return nil
}

// plural says how many of a thing: "1 path", "2 paths".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// captureOnce walks the layer into layer.tar.zst (streamed to the store) and
// changes (a local file), without a local copy of the layer on the way.
func (c *collection) captureOnce(layer runtime.Layer, changes *os.File) (FSStats, error) {
	return c.captureTreeOnce(layer, false, "fsdiff/layer.tar.zst", WhatFSDiff, changes)
}

// captureTreeOnce walks a tree (a writable layer, or with plain a volume)
// into a tar (zstd) streamed to the store under name, and its entries into
// changes (a local file), without a local copy of the tar on the way.
func (c *collection) captureTreeOnce(layer runtime.Layer, plain bool, name string, collector Collector, changes *os.File) (FSStats, error) {
	arr := newJSONArrayWriter(changes)
	pipe := newChunkPipe()
	var (
		wg     sync.WaitGroup
		putErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var a evidence.Artifact
		a, putErr = c.run.PutOnce(c.ctx, c.res.Prefix+name, pipe, string(collector), c.d.ID)
		if putErr == nil {
			c.res.Artifacts = append(c.res.Artifacts, a)
		}
		pipe.CloseRead(putErr) // stop the walk if the store failed
	}()
	stats, walkErr := captureTree(c.ctx, layer, plain, c.opts.Limits, pipe, func(fc FileChange) error { return arr.Write(fc) }, c.opts.Progress)
	pipe.CloseWrite(walkErr)
	wg.Wait()
	if putErr != nil {
		return stats, putErr
	}
	if walkErr != nil {
		return stats, walkErr
	}
	return stats, arr.Close()
}

func (c *collection) timeline() error {
	r, err := c.timeln.reader()
	if err != nil {
		return err
	}
	return c.put("timeline.jsonl", "timeline", r)
}
