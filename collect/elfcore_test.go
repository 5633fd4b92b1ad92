package collect

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"io"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const testPage = 4096

// fakeMem is a process's memory for the core writer: a byte at addr is
// byte(addr/7); pages in bad cannot be read; from gone on, nothing can.
type fakeMem struct {
	bad   map[uint64]bool
	gone  uint64
	reads int
}

func (m *fakeMem) ReadMem(p []byte, addr uint64) (int, error) {
	m.reads++
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if m.gone != 0 && a >= m.gone {
			break
		}
		if m.bad[a&^(testPage-1)] {
			if n == 0 {
				return 0, unix.EIO
			}
			break
		}
		p[n] = byte(a / 7)
		n++
	}
	return n, nil
}

func memAt(addr uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((addr + uint64(i)) / 7)
	}
	return b
}

func testPlan() *corePlan {
	seg := func(start, end uint64, perms, path string, stored uint64) coreSegment {
		return coreSegment{Mapping: Mapping{Start: Addr(start), End: Addr(end), Perms: perms, Path: path}, FileSize: stored}
	}
	regs := func(pc uint64) []uint64 { r := make([]uint64, archAMD64.nregs); r[archAMD64.pc] = pc; return r }
	return &corePlan{
		arch:     archAMD64,
		pageSize: testPage,
		proc:     coreProcess{PID: 100, PPID: 1, PGRP: 100, SID: 100, UID: 1000, GID: 1000, State: 'S', Comm: "a-very-long-command-name", Args: "sh -c sleep"},
		threads:  []coreThread{{TID: 100, Regs: regs(0x401000)}, {TID: 101, Regs: regs(0x402000)}},
		auxv:     []byte{6, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0},
		segments: []coreSegment{
			seg(0x400000, 0x402000, "r-xp", "/bin/busybox", 0x2000),
			seg(0x600000, 0x603000, "rw-p", "[heap]", 0x3000), // its middle page is bad
			seg(0x700000, 0x702000, "rw-p", "", 0x1000),       // capped after a page
			seg(0x7ff000, 0x800000, "r--p", "[vvar]", 0),      // left out
		},
		files: []Mapping{{Start: 0x400000, End: 0x402000, Offset: 0x3000, Path: "/bin/busybox"}},
	}
}

func writeTestCore(t *testing.T, p *corePlan, mem memSource) ([]byte, []uint64, *coreStream) {
	t.Helper()
	hdr, offsets, err := p.headers()
	if err != nil {
		t.Fatal(err)
	}
	s := newCoreStream(context.Background(), hdr, p.segments, mem, p.pageSize)
	var out bytes.Buffer
	if _, err := io.Copy(&out, s); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), offsets, s
}

func TestCoreReadsBackAsELF(t *testing.T) {
	p := testPlan()
	mem := &fakeMem{bad: map[uint64]bool{0x601000: true}}
	core, offsets, s := writeTestCore(t, p, mem)
	f, err := elf.NewFile(bytes.NewReader(core))
	if err != nil {
		t.Fatalf("debug/elf cannot read the core: %v", err)
	}
	if f.Type != elf.ET_CORE || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		t.Errorf("header: type %v machine %v class %v data %v", f.Type, f.Machine, f.Class, f.Data)
	}
	if len(f.Progs) != 5 || f.Progs[0].Type != elf.PT_NOTE {
		t.Fatalf("want a PT_NOTE and 4 PT_LOAD, got %d programs (first %v)", len(f.Progs), f.Progs[0].Type)
	}
	wantLen := offsets[0] + 0x2000 + 0x3000 + 0x1000
	if uint64(len(core)) != wantLen || offsets[0]%testPage != 0 {
		t.Errorf("core is %d bytes, data at %#x; want %d bytes, data page-aligned", len(core), offsets[0], wantLen)
	}
	for i, sg := range p.segments {
		ph := f.Progs[i+1]
		if ph.Type != elf.PT_LOAD || ph.Vaddr != uint64(sg.Start) || ph.Memsz != sg.Size() || ph.Filesz != sg.FileSize || ph.Off != offsets[i] {
			t.Errorf("segment %d: %+v, want %+v at %#x", i, ph.ProgHeader, sg, offsets[i])
		}
		b, err := io.ReadAll(ph.Open())
		if err != nil {
			t.Fatal(err)
		}
		want := memAt(uint64(sg.Start), int(sg.FileSize))
		if sg.Start == 0x600000 {
			clear(want[testPage : 2*testPage])
		}
		if !bytes.Equal(b, want) {
			t.Errorf("segment %d (%s): the bytes differ from the memory", i, sg.Path)
		}
	}
	if f.Progs[1].Flags != elf.PF_R|elf.PF_X || f.Progs[2].Flags != elf.PF_R|elf.PF_W || f.Progs[4].Flags != elf.PF_R {
		t.Errorf("flags: %v %v %v", f.Progs[1].Flags, f.Progs[2].Flags, f.Progs[4].Flags)
	}
	if want := []AddrRange{{0x601000, 0x602000}}; !reflect.DeepEqual(s.Unreadable, want) || s.ZeroBytes != testPage || s.Gone {
		t.Errorf("unreadable %v (%d zero bytes, gone %v), want %v", s.Unreadable, s.ZeroBytes, s.Gone, want)
	}
	if mem.reads > 8 {
		t.Errorf("%d reads for 6 pages in 3 segments: the memory is not read in chunks", mem.reads)
	}

	notes := readNotes(t, core[f.Progs[0].Off:f.Progs[0].Off+f.Progs[0].Filesz])
	var types []uint32
	for _, n := range notes {
		types = append(types, n.typ)
		if n.name != "CORE" {
			t.Errorf("note %d named %q", n.typ, n.name)
		}
	}
	if want := []uint32{1, 1, 3, 6, 0x46494c45}; !reflect.DeepEqual(types, want) {
		t.Fatalf("note types %v, want %v", types, want)
	}
	le := binary.LittleEndian
	for i, tid := range []uint32{100, 101} {
		d := notes[i].desc
		if len(d) != 336 || le.Uint32(d[32:]) != tid || le.Uint32(d[36:]) != 1 || le.Uint64(d[112+8*16:]) != 0x401000+uint64(i)*0x1000 {
			t.Errorf("prstatus %d: %d bytes, pid %d, ppid %d, rip %#x", i, len(d), le.Uint32(d[32:]), le.Uint32(d[36:]), le.Uint64(d[112+8*16:]))
		}
	}
	ps := notes[2].desc
	if len(ps) != 136 || ps[1] != 'S' || le.Uint32(ps[16:]) != 1000 || le.Uint32(ps[24:]) != 100 ||
		string(bytes.TrimRight(ps[40:56], "\x00")) != "a-very-long-com" || string(bytes.TrimRight(ps[56:136], "\x00")) != "sh -c sleep" {
		t.Errorf("prpsinfo: %q", ps)
	}
	if !bytes.Equal(notes[3].desc, p.auxv) {
		t.Errorf("auxv note %v", notes[3].desc)
	}
	nf := notes[4].desc
	if le.Uint64(nf) != 1 || le.Uint64(nf[8:]) != testPage || le.Uint64(nf[16:]) != 0x400000 || le.Uint64(nf[24:]) != 0x402000 ||
		le.Uint64(nf[32:]) != 3 || string(nf[40:]) != "/bin/busybox\x00" {
		t.Errorf("NT_FILE %q", nf)
	}
}

func TestCoreStreamGoneMidway(t *testing.T) {
	p := testPlan()
	mem := &fakeMem{gone: 0x601000}
	core, offsets, s := writeTestCore(t, p, mem)
	if !s.Gone || s.ZeroBytes != 0x2000+0x1000 {
		t.Errorf("gone %v, %#x zero bytes; want the rest zero (0x3000)", s.Gone, s.ZeroBytes)
	}
	if want := []AddrRange{{0x601000, 0x603000}, {0x700000, 0x701000}}; !reflect.DeepEqual(s.Unreadable, want) {
		t.Errorf("unreadable %v, want %v", s.Unreadable, want)
	}
	if !bytes.Equal(core[offsets[1]:offsets[1]+testPage], memAt(0x600000, testPage)) {
		t.Error("the page read before the process went is not in the core")
	}
	if !bytes.Equal(core[offsets[1]+testPage:], make([]byte, 0x3000)) {
		t.Error("what could not be read is not zeros")
	}
}

func TestCoreStreamListsUnreadableUpToACap(t *testing.T) {
	bad := map[uint64]bool{}
	for a := uint64(0x1000000); a < 0x1000000+2*maxUnreadable*2*testPage; a += 2 * testPage {
		bad[a] = true
	}
	p := &corePlan{arch: archAMD64, pageSize: testPage, segments: []coreSegment{{Mapping: Mapping{Start: 0x1000000, End: 0x1000000 + 4*maxUnreadable*testPage, Perms: "rw-p"}, FileSize: 4 * maxUnreadable * testPage}}}
	_, _, s := writeTestCore(t, p, &fakeMem{bad: bad})
	if len(s.Unreadable) != maxUnreadable || s.UnreadableMore != maxUnreadable {
		t.Errorf("%d ranges listed, %d more; want %d and %d", len(s.Unreadable), s.UnreadableMore, maxUnreadable, maxUnreadable)
	}
}

func TestCoreStreamStopsOnCancel(t *testing.T) {
	p := testPlan()
	hdr, _, err := p.headers()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := io.Copy(io.Discard, newCoreStream(ctx, hdr, p.segments, &fakeMem{}, testPage)); err != context.Canceled {
		t.Errorf("a cancelled stream ended with %v", err)
	}
}

func TestCoreHeadersRefuse(t *testing.T) {
	for name, mod := range map[string]func(p *corePlan){
		"PageSize":    func(p *corePlan) { p.pageSize = 3000 },
		"Registers":   func(p *corePlan) { p.threads[0].Regs = p.threads[0].Regs[:5] },
		"TooManySegs": func(p *corePlan) { p.segments = make([]coreSegment, maxCoreSegments+1) },
	} {
		t.Run(name, func(t *testing.T) {
			p := testPlan()
			mod(p)
			if _, _, err := p.headers(); err == nil {
				t.Error("headers accepted a plan it cannot write")
			}
		})
	}
	if p := testPlan(); true {
		p.segments = make([]coreSegment, maxCoreSegments)
		for i := range p.segments {
			p.segments[i] = coreSegment{Mapping: Mapping{Start: Addr(i * testPage), End: Addr((i + 1) * testPage), Perms: "r--p"}}
		}
		hdr, _, err := p.headers()
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(hdr))
		if err != nil || len(f.Progs) != maxCoreSegments+1 {
			t.Errorf("a core of %d segments: %v, %d programs", maxCoreSegments, err, len(f.Progs))
		}
	}
}

type note struct {
	typ  uint32
	name string
	desc []byte
}

// readNotes parses a PT_NOTE segment.
func readNotes(t *testing.T, b []byte) []note {
	t.Helper()
	le := binary.LittleEndian
	var out []note
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%d bytes left in the notes", len(b))
		}
		namesz, descsz, typ := le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])
		b = b[12:]
		name := strings.TrimRight(string(b[:namesz]), "\x00")
		b = b[alignUp(uint64(namesz), 4):]
		out = append(out, note{typ, name, b[:descsz]})
		b = b[alignUp(uint64(descsz), 4):]
	}
	return out
}
