package collect

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// An ELF core file, as core(5) and the ELF specification describe it and
// as gdb reads it: the ELF header, the program headers (one PT_NOTE, then
// one PT_LOAD per readable mapping), the notes, and, from the next page
// boundary, each mapping's bytes in the order of the headers. Everything
// before the bytes is small and is built first with every offset computed,
// so the bytes themselves are streamed from /proc/PID/mem and never held.

// Note types of a Linux core that debug/elf does not name.
const (
	ntAuxv = 6
	ntFile = 0x46494c45 // "FILE"
)

// maxCoreSegments keeps the program header count below PN_XNUM (0xffff),
// past which ELF needs extended numbering.
const maxCoreSegments = 0xfffe - 1

// coreArch says how one architecture lays out its general registers
// (elf_gregset_t) and where a system call's values sit in them.
type coreArch struct {
	name    string
	machine elf.Machine
	nregs   int
	sp, pc  int
	nr      int    // the system call's number
	args    [6]int // its arguments
}

var (
	// user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx
	// rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
	archAMD64 = coreArch{name: "amd64", machine: elf.EM_X86_64, nregs: 27, sp: 19, pc: 16, nr: 15, args: [6]int{14, 13, 12, 7, 9, 8}}
	// user_pt_regs: x0..x30 sp pc pstate; the number is in x8.
	archARM64 = coreArch{name: "arm64", machine: elf.EM_AARCH64, nregs: 34, sp: 31, pc: 32, nr: 8, args: [6]int{0, 1, 2, 3, 4, 5}}
)

// hostArch is the layout for the host's architecture.
func hostArch() (coreArch, error) {
	switch goruntime.GOARCH {
	case "amd64":
		return archAMD64, nil
	case "arm64":
		return archARM64, nil
	}
	return coreArch{}, fmt.Errorf("memory cores are written on amd64 and arm64 hosts; this one is %s", goruntime.GOARCH)
}

// regsFromSyscall fills the registers that /proc/PID/task/TID/syscall
// gives for a thread that is not running: its stack pointer and program
// counter, and inside a system call its number and arguments.
func (a coreArch) regsFromSyscall(st syscallState) []uint64 {
	r := make([]uint64, a.nregs)
	r[a.sp], r[a.pc] = st.SP, st.PC
	if st.InSyscall {
		r[a.nr] = uint64(st.NR)
		for i, idx := range a.args {
			r[idx] = st.Args[i]
		}
	}
	return r
}

// coreThread is one thread's NT_PRSTATUS.
type coreThread struct {
	TID  int
	Regs []uint64 // arch.nregs values; zero where unknown
}

// coreProcess is the process-wide part: NT_PRPSINFO and the IDs every
// NT_PRSTATUS repeats.
type coreProcess struct {
	PID, PPID, PGRP, SID int
	UID, GID             uint32
	State                byte // as /proc/PID/stat prints it: R, S, D, T, Z, ...
	Nice                 int8
	Comm                 string
	Args                 string
}

// coreSegment is one PT_LOAD: a mapping and how many of its bytes are
// stored (FileSize < Size when a cap cut it; 0 when left out).
type coreSegment struct {
	Mapping
	FileSize uint64
}

// corePlan is everything a core holds but the memory itself.
type corePlan struct {
	arch     coreArch
	proc     coreProcess
	threads  []coreThread // the first is the one gdb shows as current
	auxv     []byte
	segments []coreSegment
	files    []Mapping // file-backed mappings, for NT_FILE
	pageSize uint64
}

// headers builds the ELF header, program headers and notes, and sets the
// offset at which each segment's bytes start (returned in offsets).
func (p *corePlan) headers() (hdr []byte, offsets []uint64, err error) {
	if len(p.segments) > maxCoreSegments {
		return nil, nil, fmt.Errorf("%d segments: more than an ELF core holds without extended numbering", len(p.segments))
	}
	if p.pageSize == 0 || p.pageSize&(p.pageSize-1) != 0 {
		return nil, nil, fmt.Errorf("page size %d is not a power of two", p.pageSize)
	}
	le := binary.LittleEndian
	var notes bytes.Buffer
	for _, t := range p.threads {
		if len(t.Regs) != p.arch.nregs {
			return nil, nil, fmt.Errorf("thread %d: %d registers, want %d", t.TID, len(t.Regs), p.arch.nregs)
		}
		writeNote(&notes, uint32(elf.NT_PRSTATUS), p.prstatus(t))
	}
	writeNote(&notes, uint32(elf.NT_PRPSINFO), p.prpsinfo())
	if len(p.auxv) > 0 {
		writeNote(&notes, ntAuxv, p.auxv)
	}
	writeNote(&notes, ntFile, p.ntFile())

	const ehsize, phentsize = 64, 56
	phnum := 1 + len(p.segments)
	notesOff := uint64(ehsize + phentsize*phnum)
	dataOff := alignUp(notesOff+uint64(notes.Len()), p.pageSize)

	var out bytes.Buffer
	h := elf.Header64{Type: uint16(elf.ET_CORE), Machine: uint16(p.arch.machine), Version: uint32(elf.EV_CURRENT),
		Phoff: ehsize, Ehsize: ehsize, Phentsize: phentsize, Phnum: uint16(phnum)}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	h.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	if err := binary.Write(&out, le, h); err != nil {
		return nil, nil, err
	}
	if err := binary.Write(&out, le, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: notesOff, Filesz: uint64(notes.Len()), Align: 4}); err != nil {
		return nil, nil, err
	}
	off := dataOff
	offsets = make([]uint64, len(p.segments))
	for i, s := range p.segments {
		var flags elf.ProgFlag
		for i, f := range []elf.ProgFlag{elf.PF_R, elf.PF_W, elf.PF_X} {
			if len(s.Perms) > i && s.Perms[i] != '-' {
				flags |= f
			}
		}
		offsets[i] = off
		ph := elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(flags), Off: off, Vaddr: uint64(s.Start),
			Filesz: s.FileSize, Memsz: s.Size(), Align: p.pageSize}
		if err := binary.Write(&out, le, ph); err != nil {
			return nil, nil, err
		}
		off += s.FileSize
	}
	out.Write(notes.Bytes())
	out.Write(make([]byte, dataOff-uint64(out.Len())))
	return out.Bytes(), offsets, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// writeNote appends one note: name "CORE", each part padded to 4 bytes.
func writeNote(b *bytes.Buffer, typ uint32, desc []byte) {
	const name = "CORE\x00"
	le := binary.LittleEndian
	b.Write(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, uint32(len(name))), uint32(len(desc))), typ))
	b.WriteString(name)
	b.Write(make([]byte, alignUp(uint64(len(name)), 4)-uint64(len(name))))
	b.Write(desc)
	b.Write(make([]byte, alignUp(uint64(len(desc)), 4)-uint64(len(desc))))
}

// prstatus is struct elf_prstatus (64-bit): the signal information, the
// pending and held signals, the IDs at 32, the four times, the registers
// at 112, then pr_fpvalid, padded to 8. No signal is set: the process was
// frozen, not signalled.
func (p *corePlan) prstatus(t coreThread) []byte {
	b := make([]byte, 112+8*p.arch.nregs+8)
	le := binary.LittleEndian
	for i, v := range []int{t.TID, p.proc.PPID, p.proc.PGRP, p.proc.SID} {
		le.PutUint32(b[32+4*i:], uint32(v))
	}
	for i, r := range t.Regs {
		le.PutUint64(b[112+8*i:], r)
	}
	return b
}

// prpsinfo is struct elf_prpsinfo (64-bit): state, its letter, zombie and
// nice at 0..3, flags at 8, uid and gid at 16, the IDs at 24, the command
// name (16 bytes) at 40 and the arguments (80 bytes) at 56.
func (p *corePlan) prpsinfo() []byte {
	b := make([]byte, 136)
	le := binary.LittleEndian
	if i := strings.IndexByte("RSDTZW", p.proc.State); i >= 0 {
		b[0] = byte(i)
	}
	b[1] = p.proc.State
	if p.proc.State == 'Z' {
		b[2] = 1
	}
	b[3] = byte(p.proc.Nice)
	le.PutUint32(b[16:], p.proc.UID)
	le.PutUint32(b[20:], p.proc.GID)
	for i, v := range []int{p.proc.PID, p.proc.PPID, p.proc.PGRP, p.proc.SID} {
		le.PutUint32(b[24+4*i:], uint32(v))
	}
	copy(b[40:40+15], p.proc.Comm)
	copy(b[56:56+79], p.proc.Args)
	return b
}

// ntFile is the NT_FILE note: the count, the page size, (start, end,
// offset in pages) per file-backed mapping, then their names, each ended
// by a NUL.
func (p *corePlan) ntFile() []byte {
	le := binary.LittleEndian
	b := le.AppendUint64(le.AppendUint64(nil, uint64(len(p.files))), p.pageSize)
	for _, m := range p.files {
		b = le.AppendUint64(le.AppendUint64(le.AppendUint64(b, uint64(m.Start)), uint64(m.End)), uint64(m.Offset)/p.pageSize)
	}
	for _, m := range p.files {
		b = append(append(b, m.Path...), 0)
	}
	return b
}

// memSource reads a process's memory at an address: /proc/PID/mem, or a
// fake in tests. It behaves as pread(2) on that file does: a short count
// when a page cannot be read, an error when the first one cannot, 0 and no
// error when the process's memory is gone.
type memSource interface {
	ReadMem(p []byte, addr uint64) (int, error)
}

// procMem is /proc/PID/mem, read with pread: addresses at or past 2^63 are
// negative offsets, which this file accepts and os.File.ReadAt does not.
type procMem struct{ fd int }

func (m procMem) ReadMem(p []byte, addr uint64) (int, error) {
	for {
		n, err := unix.Pread(m.fd, p, int64(addr))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return max(n, 0), err
	}
}

// maxUnreadable bounds the list of unreadable ranges kept per core; past
// it they are only counted.
const maxUnreadable = 1000

// coreStream is an io.Reader of a whole core: the headers, then each
// segment's stored bytes read from mem in chunks. A page that cannot be
// read becomes zeros and its range is recorded; once the process's memory
// is gone, the rest is zeros without reading.
type coreStream struct {
	ctx      context.Context
	hdr      []byte
	segs     []coreSegment
	mem      memSource
	pageSize uint64
	seg      int
	done     uint64 // bytes of segs[seg] delivered
	buf      []byte
	pending  []byte

	Unreadable     []AddrRange
	UnreadableMore int    // ranges past maxUnreadable
	ZeroBytes      uint64 // bytes written as zeros for want of reading them
	Gone           bool   // the memory went away during the read
}

// AddrRange is [Start, End) in a process's memory.
type AddrRange struct {
	Start Addr `json:"start"`
	End   Addr `json:"end"`
}

const coreChunk = 1 << 20

func newCoreStream(ctx context.Context, hdr []byte, segs []coreSegment, mem memSource, pageSize uint64) *coreStream {
	return &coreStream{ctx: ctx, hdr: hdr, segs: segs, mem: mem, pageSize: pageSize, buf: make([]byte, coreChunk)}
}

func (s *coreStream) Read(p []byte) (int, error) {
	if len(s.hdr) > 0 {
		n := copy(p, s.hdr)
		s.hdr = s.hdr[n:]
		return n, nil
	}
	for len(s.pending) == 0 {
		for s.seg < len(s.segs) && s.done >= s.segs[s.seg].FileSize {
			s.seg, s.done = s.seg+1, 0
		}
		if s.seg == len(s.segs) {
			return 0, io.EOF
		}
		if err := s.ctx.Err(); err != nil {
			return 0, err
		}
		sg := s.segs[s.seg]
		n := min(uint64(len(s.buf)), sg.FileSize-s.done)
		s.fill(s.buf[:n], uint64(sg.Start)+s.done)
		s.done += n
		s.pending = s.buf[:n]
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// fill reads b from addr, page by page past what cannot be read.
func (s *coreStream) fill(b []byte, addr uint64) {
	off := uint64(0)
	for off < uint64(len(b)) {
		if s.Gone {
			s.zero(b[off:], addr+off)
			return
		}
		n, err := s.mem.ReadMem(b[off:], addr+off)
		off += uint64(n)
		switch {
		case n > 0:
		case err == nil:
			s.Gone = true
		default:
			// The page at addr+off cannot be read: zero up to the next
			// page boundary and go on after it.
			end := min(alignUp(addr+off+1, s.pageSize)-addr, uint64(len(b)))
			s.zero(b[off:end], addr+off)
			off = end
		}
	}
}

func (s *coreStream) zero(b []byte, addr uint64) {
	clear(b)
	s.ZeroBytes += uint64(len(b))
	end := addr + uint64(len(b))
	if k := len(s.Unreadable); k > 0 && uint64(s.Unreadable[k-1].End) == addr {
		s.Unreadable[k-1].End = Addr(end)
		return
	}
	if len(s.Unreadable) >= maxUnreadable {
		s.UnreadableMore++
		return
	}
	s.Unreadable = append(s.Unreadable, AddrRange{Addr(addr), Addr(end)})
}
