package collect

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"firebreak/runtime"
)

// MemoryCore is memory/PID.json: what the core memory/PID.core holds of a
// process and what it lacks.
type MemoryCore struct {
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	Exe     string `json:"exe,omitempty"`
	Core    string `json:"core,omitempty"` // the artifact, under the collection's prefix
	SHA256  string `json:"sha256,omitempty"`
	Size    int64  `json:"size,omitempty"` // of the core file
	Arch    string `json:"arch"`
	Threads []int  `json:"threads"` // one NT_PRSTATUS each, in this order
	// Registers says what the NT_PRSTATUS notes hold.
	Registers string `json:"registers"`
	// RegisterNotes names each thread whose stopping point could not be
	// read, and why.
	RegisterNotes []string `json:"register_notes,omitempty"`
	Mappings      int      `json:"mappings"`     // readable mappings, one PT_LOAD each
	MemoryBytes   uint64   `json:"memory_bytes"` // their size
	Captured      uint64   `json:"captured"`     // of those bytes, stored in the core
	Truncated     bool     `json:"truncated,omitempty"`
	// Left lists the readable mappings whose bytes are not (all) in the
	// core, and why: a cap, or a kernel area that cannot be read.
	Left []LeftMapping `json:"left,omitempty"`
	// Unreadable are ranges stored as zeros because they could not be read
	// (UnreadableMore counts those past the first thousand).
	Unreadable     []AddrRange `json:"unreadable,omitempty"`
	UnreadableMore int         `json:"unreadable_more,omitempty"`
	Frozen         string      `json:"frozen"` // how the freeze was checked
	Note           string      `json:"note,omitempty"`
}

// LeftMapping is a mapping whose bytes the core lacks from Stored on.
type LeftMapping struct {
	Start  Addr   `json:"start"`
	End    Addr   `json:"end"`
	Path   string `json:"path,omitempty"`
	Stored uint64 `json:"stored"`
	Why    string `json:"why"`
}

// DefaultMemoryLimits cap the memory stored: per process, and for the
// whole container.
func DefaultMemoryLimits() Limits { return Limits{MaxFile: 4 << 30, MaxTotal: 16 << 30} }

// registersNote is what every core says of its registers.
const registersNote = "the stack pointer and program counter of each thread, and inside a system call its number and arguments, " +
	"as /proc/PID/task/TID/syscall gives them; every other register is zero: reading them needs ptrace to stop the thread, " +
	"which a frozen thread does only once thawed, and the container is never thawed for it"

// memory writes an ELF core of every process of the container, read on
// the host from /proc/PID/mem while the container is frozen. It refuses a
// container that is not frozen, and any process whose cgroup is not.
func (c *collection) memory() error {
	if c.d.Pid <= 0 {
		return &incomplete{fmt.Sprintf("not running (%s): no memory", c.d.State)}
	}
	arch, err := hostArch()
	if err != nil {
		return &incomplete{err.Error()}
	}
	now, err := c.rt.Inspect(c.ctx, c.d.ID)
	if err != nil {
		return &incomplete{"checking that the container is frozen: " + err.Error()}
	}
	if now.State != runtime.StatePaused {
		return &incomplete{fmt.Sprintf("the container is not frozen (it is %s): memory is read only from a frozen container, "+
			"so that nothing in it runs or changes while it is read; freeze it first (firebreak contain --pause, or a contain.pause step before collect)", now.State)}
	}
	procs := c.procs
	if procs == nil {
		if procs, err = newProcReader(c.opts.ProcRoot).processTree(c.d.Pid); err != nil {
			return &incomplete{err.Error()}
		}
	}
	limits := c.opts.Memory
	if limits.MaxFile <= 0 && limits.MaxTotal <= 0 {
		limits = DefaultMemoryLimits()
	}
	left := limits.MaxTotal
	if left <= 0 {
		left = 1<<63 - 1
	}
	cgroupRoot := c.opts.CgroupRoot
	if cgroupRoot == "" {
		cgroupRoot = "/sys/fs/cgroup"
	}
	truncated := 0
	for _, p := range procs {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if p.State == "Z" || p.State == "X" {
			continue // a zombie has no memory left
		}
		ok, how, err := frozen(c.opts.ProcRoot, cgroupRoot, p.PID)
		if err != nil || !ok {
			why := how
			if err != nil {
				why = err.Error()
			}
			c.incomplete(WhatMemory, fmt.Sprintf("pid %d (%s): not read, its cgroup is not frozen: %s", p.PID, p.Comm, why))
			continue
		}
		mc, err := c.core(p, arch, limits.MaxFile, &left)
		mc.Frozen = how
		if err != nil {
			return err
		}
		if mc.Note != "" && mc.Core == "" {
			c.incomplete(WhatMemory, fmt.Sprintf("pid %d (%s): %s", p.PID, p.Comm, mc.Note))
			continue
		}
		if still, _, _ := frozen(c.opts.ProcRoot, cgroupRoot, p.PID); !still {
			mc.Note = strings.TrimPrefix(mc.Note+"; the process was thawed while it was read: its core may be inconsistent", "; ")
			c.incomplete(WhatMemory, fmt.Sprintf("pid %d (%s): thawed while its memory was read", p.PID, p.Comm))
		}
		if mc.Truncated {
			truncated++
		}
		if err := c.putJSON(fmt.Sprintf("memory/%d.json", p.PID), WhatMemory, mc); err != nil {
			return err
		}
	}
	if truncated > 0 {
		c.incomplete(WhatMemory, fmt.Sprintf("%d cores lack part of their memory (see \"left\" and \"unreadable\" in memory/PID.json)", truncated))
	}
	return nil
}

// core writes memory/PID.core. perProcess and left (for the container,
// lowered by what is stored) cap the bytes stored. A process that cannot be
// read is reported in the result's Note with no Core; the error is the
// store's.
func (c *collection) core(p *Process, arch coreArch, perProcess int64, left *int64) (MemoryCore, error) {
	pid := p.PID
	dir := filepath.Join(c.opts.ProcRoot, strconv.Itoa(pid))
	mc := MemoryCore{PID: pid, Comm: p.Comm, Exe: p.Exe, Arch: arch.name, Registers: registersNote, Threads: []int{}}
	f, err := os.Open(filepath.Join(dir, "maps"))
	if err != nil {
		mc.Note = "maps unreadable: " + err.Error()
		return mc, nil
	}
	maps, err := parseMaps(f)
	f.Close()
	if err != nil {
		mc.Note = "maps unreadable: " + err.Error()
		return mc, nil
	}
	if len(maps) == 0 {
		mc.Note = "no memory mappings (a kernel thread, or the process exited)"
		return mc, nil
	}
	plan := &corePlan{arch: arch, pageSize: uint64(os.Getpagesize())}
	plan.proc, err = coreProcessOf(dir, p)
	if err != nil {
		mc.Note = err.Error()
		return mc, nil
	}
	budget := perProcess
	if budget <= 0 || *left < budget {
		budget = *left
	}
	budget = int64(uint64(budget) &^ (plan.pageSize - 1))
	for _, m := range maps {
		if m.FileBacked() {
			plan.files = append(plan.files, m)
		}
		if !m.Readable() {
			continue
		}
		mc.Mappings++
		mc.MemoryBytes += m.Size()
		if len(plan.segments) == maxCoreSegments {
			mc.Left = append(mc.Left, LeftMapping{m.Start, m.End, m.Path, 0, "more mappings than an ELF core holds without extended numbering"})
			mc.Truncated = true
			continue
		}
		s := coreSegment{Mapping: m}
		switch {
		case m.Path == "[vvar]" || m.Path == "[vvar_vclock]":
			mc.Left = append(mc.Left, LeftMapping{m.Start, m.End, m.Path, 0, "kernel data that /proc/PID/mem does not read"})
		default:
			s.FileSize = min(m.Size(), uint64(budget))
			budget -= int64(s.FileSize)
			if s.FileSize < m.Size() {
				mc.Left = append(mc.Left, LeftMapping{m.Start, m.End, m.Path, s.FileSize, "memory cap reached"})
				mc.Truncated = true
			}
		}
		mc.Captured += s.FileSize
		plan.segments = append(plan.segments, s)
	}
	plan.threads, mc.RegisterNotes = coreThreads(dir, pid, arch)
	for _, t := range plan.threads {
		mc.Threads = append(mc.Threads, t.TID)
	}
	if b, _, err := readCapped(filepath.Join(dir, "auxv"), 64<<10); err == nil {
		plan.auxv = b
	}
	// The stream writes the segments in order, where the headers put them.
	hdr, _, err := plan.headers()
	if err != nil {
		mc.Note = err.Error()
		return mc, nil
	}
	var stream *coreStream
	key := fmt.Sprintf("memory/%d.core", pid)
	a, err := c.putSource(key, WhatMemory, func() (io.ReadCloser, error) {
		mem, err := os.Open(filepath.Join(dir, "mem"))
		if err != nil {
			return nil, err
		}
		stream = newCoreStream(c.ctx, hdr, plan.segments, procMem{int(mem.Fd())}, plan.pageSize)
		return readCloser{stream, mem}, nil
	})
	var src *sourceError
	if errors.As(err, &src) {
		mc.Note = "memory unreadable: " + src.err.Error()
		return mc, nil
	}
	if err != nil {
		return mc, err
	}
	*left -= int64(mc.Captured)
	mc.Core, mc.SHA256, mc.Size = key, a.SHA256, a.Size
	mc.Unreadable, mc.UnreadableMore = stream.Unreadable, stream.UnreadableMore
	if stream.ZeroBytes > 0 {
		mc.Truncated = true
	}
	if stream.Gone {
		mc.Note = "the process's memory went away during the read: the rest is zeros"
	}
	return mc, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// coreProcessOf reads what NT_PRPSINFO says of a process.
func coreProcessOf(dir string, p *Process) (coreProcess, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return coreProcess{}, fmt.Errorf("stat unreadable: %w", err)
	}
	end := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[end+1:]))
	if end < 0 || len(f) < 17 {
		return coreProcess{}, errors.New("malformed stat")
	}
	cp := coreProcess{PID: p.PID, PPID: p.PPID, Comm: p.Comm, Args: strings.Join(p.Cmdline, " "), State: f[0][0]}
	cp.PGRP, _ = strconv.Atoi(f[2])
	cp.SID, _ = strconv.Atoi(f[3])
	nice, _ := strconv.Atoi(f[16])
	cp.Nice = int8(nice)
	if len(p.UIDs) > 0 {
		cp.UID = uint32(p.UIDs[0])
	}
	if len(p.GIDs) > 0 {
		cp.GID = uint32(p.GIDs[0])
	}
	return cp, nil
}

// coreThreads lists a process's threads, the main one first, with what
// their /proc/PID/task/TID/syscall says of where they stopped.
func coreThreads(dir string, pid int, arch coreArch) ([]coreThread, []string) {
	tids := []int{pid}
	if ents, err := os.ReadDir(filepath.Join(dir, "task")); err == nil {
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil && tid != pid {
				tids = append(tids, tid)
			}
		}
	}
	var out []coreThread
	var notes []string
	for _, tid := range tids {
		t := coreThread{TID: tid, Regs: make([]uint64, arch.nregs)}
		b, err := os.ReadFile(filepath.Join(dir, "task", strconv.Itoa(tid), "syscall"))
		if err == nil {
			var st syscallState
			if st, err = parseSyscall(b); err == nil {
				t.Regs = arch.regsFromSyscall(st)
			}
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("thread %d: registers all zero: %v", tid, err))
		}
		out = append(out, t)
	}
	return out, notes
}

// frozen reports whether the cgroup freezer holds pid: cgroup v1's
// freezer.state is FROZEN, or cgroup v2's cgroup.events says "frozen 1".
// how says which file said so.
func frozen(procRoot, cgroupRoot string, pid int) (bool, string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return false, "", fmt.Errorf("reading its cgroup: %w", err)
	}
	var v2 string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2 = f[2]
		}
		for _, ctl := range strings.Split(f[1], ",") {
			if ctl != "freezer" {
				continue
			}
			file := filepath.Join(cgroupRoot, "freezer", filepath.Clean("/"+f[2]), "freezer.state")
			st, err := os.ReadFile(file)
			if err != nil {
				return false, "", fmt.Errorf("reading the freezer state: %w", err)
			}
			s := strings.TrimSpace(string(st))
			return s == "FROZEN", file + ": " + s, nil
		}
	}
	if v2 == "" {
		return false, "", errors.New("no freezer cgroup found in /proc/PID/cgroup")
	}
	var errs []error
	for _, base := range []string{cgroupRoot, filepath.Join(cgroupRoot, "unified")} {
		file := filepath.Join(base, filepath.Clean("/"+v2), "cgroup.events")
		ev, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, line := range strings.Split(string(ev), "\n") {
			if v, ok := strings.CutPrefix(line, "frozen "); ok {
				return strings.TrimSpace(v) == "1", file + ": frozen " + strings.TrimSpace(v), nil
			}
		}
		errs = append(errs, fmt.Errorf("%s has no frozen line", file))
	}
	return false, "", fmt.Errorf("reading the cgroup v2 freezer: %w", errors.Join(errs...))
}
