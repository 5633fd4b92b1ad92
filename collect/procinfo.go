package collect

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The parsers here read /proc files of processes in a suspect container:
// text the container's processes can shape (names of mapped files, the
// environment), so each takes what it knows and skips the rest.

// Addr is an address in a process, written in JSON as hex ("0x7ffd2000"),
// since addresses pass 2^53 and a JSON number would lose digits.
type Addr uint64

func (a Addr) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%#x", uint64(a))), nil }

func (a *Addr) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(string(b), "0x"), 16, 64)
	if err != nil {
		return fmt.Errorf("address %q: %w", b, err)
	}
	*a = Addr(v)
	return nil
}

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	Start  Addr   `json:"start"`
	End    Addr   `json:"end"` // exclusive
	Perms  string `json:"perms"`
	Offset Addr   `json:"offset"`
	Dev    string `json:"dev"` // major:minor in hex, as printed
	Inode  uint64 `json:"inode"`
	// Path as the kernel prints it: a file (with " (deleted)" after a
	// removed one, a newline as \012), [heap], [stack], [vdso], or "".
	Path string `json:"path,omitempty"`
}

// Size is the mapping's length in bytes.
func (m Mapping) Size() uint64 { return uint64(m.End - m.Start) }

// Readable reports whether the process may read the mapping.
func (m Mapping) Readable() bool { return strings.HasPrefix(m.Perms, "r") }

// FileBacked reports whether a file is mapped (not anonymous memory or a
// kernel area such as [vdso]).
func (m Mapping) FileBacked() bool { return m.Inode != 0 && strings.HasPrefix(m.Path, "/") }

// parseMaps reads /proc/PID/maps. Lines that do not parse are skipped; the
// error is about reading r.
func parseMaps(r io.Reader) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if m, ok := parseMapsLine(sc.Text()); ok {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// parseMapsLine reads "start-end perms offset major:minor inode [path]";
// the path is the rest of the line after the inode and its padding, and
// may itself hold spaces.
func parseMapsLine(line string) (Mapping, bool) {
	var f [5]string
	rest := line
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		j := strings.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return Mapping{}, false
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return Mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	off, err3 := strconv.ParseUint(f[2], 16, 64)
	ino, err4 := strconv.ParseUint(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || end < start || len(f[1]) != 4 || !strings.Contains(f[3], ":") {
		return Mapping{}, false
	}
	return Mapping{Start: Addr(start), End: Addr(end), Perms: f[1], Offset: Addr(off), Dev: f[3], Inode: ino, Path: strings.TrimLeft(rest, " ")}, true
}

// statusExtra is what Firebreak reads from /proc/PID/status beyond
// procfs.Status.
type statusExtra struct {
	Threads   int
	TracerPID int
	RSSKiB    int64
}

func parseStatusExtra(b []byte) statusExtra {
	var st statusExtra
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Threads":
			st.Threads, _ = strconv.Atoi(v)
		case "TracerPid":
			st.TracerPID, _ = strconv.Atoi(v)
		case "VmRSS":
			st.RSSKiB, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
		}
	}
	return st
}

// syscallState is /proc/PID/task/TID/syscall: where a thread that is not
// running is stopped. The kernel prints "running" for a running thread,
// "-1 SP PC" for one blocked outside a system call, and "NR A0 .. A5 SP PC"
// inside one.
type syscallState struct {
	InSyscall bool
	NR        int64
	Args      [6]uint64
	SP, PC    uint64
}

func parseSyscall(b []byte) (syscallState, error) {
	f := strings.Fields(string(b))
	hex := func(s string) (uint64, error) { return strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64) }
	var st syscallState
	switch {
	case len(f) == 1 && f[0] == "running":
		return st, fmt.Errorf("the thread is running")
	case len(f) == 3 && f[0] == "-1":
		var err1, err2 error
		st.SP, err1 = hex(f[1])
		st.PC, err2 = hex(f[2])
		if err1 != nil || err2 != nil {
			return syscallState{}, fmt.Errorf("malformed syscall line %q", b)
		}
		return st, nil
	case len(f) == 9:
		nr, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return syscallState{}, fmt.Errorf("malformed syscall line %q", b)
		}
		st.InSyscall, st.NR = true, nr
		for i := range st.Args {
			if st.Args[i], err = hex(f[1+i]); err != nil {
				return syscallState{}, fmt.Errorf("malformed syscall line %q", b)
			}
		}
		sp, err1 := hex(f[7])
		pc, err2 := hex(f[8])
		if err1 != nil || err2 != nil {
			return syscallState{}, fmt.Errorf("malformed syscall line %q", b)
		}
		st.SP, st.PC = sp, pc
		return st, nil
	}
	return syscallState{}, fmt.Errorf("malformed syscall line %q", b)
}

// idRange is one line of /proc/PID/uid_map or gid_map: IDs inside the
// namespace from Inside, and as the reader (the host) sees them from Outside.
type idRange struct{ Inside, Outside, Count uint64 }

func parseIDMap(b []byte) []idRange {
	var out []idRange
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		outside, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 == nil && err2 == nil && err3 == nil {
			out = append(out, idRange{in, outside, n})
		}
	}
	return out
}

// inside maps a host ID into the namespace; false when it is not mapped
// there (the container sees it as the overflow ID). No map at all is the
// identity (the file could not be read: the host's own namespace).
func inside(m []idRange, id int) (int, bool) {
	if m == nil {
		return id, true
	}
	for _, r := range m {
		if uint64(id) >= r.Outside && uint64(id)-r.Outside < r.Count {
			return int(r.Inside + uint64(id) - r.Outside), true
		}
	}
	return 0, false
}

// parseIDNames reads /etc/passwd or /etc/group: name:x:ID:... per line; the
// first name for an ID wins, as getpwuid(3) finds it.
func parseIDNames(b []byte) map[int]string {
	out := map[int]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.SplitN(string(line), ":", 4)
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, ok := out[int(id)]; !ok {
			out[int(id)] = escapeBytes([]byte(f[0]))
		}
	}
	return out
}

// fdInfo is what Firebreak reads from /proc/PID/fdinfo/N.
type fdInfo struct {
	Pos   int64
	Flags uint64 // octal in the file
	MntID int
}

func parseFDInfo(b []byte) (fdInfo, bool) {
	var fi fdInfo
	var seen bool
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "pos":
			fi.Pos, _ = strconv.ParseInt(v, 10, 64)
		case "flags":
			if n, err := strconv.ParseUint(v, 8, 64); err == nil {
				fi.Flags, seen = n, true
			}
		case "mnt_id":
			fi.MntID, _ = strconv.Atoi(v)
		}
	}
	return fi, seen
}

// escapeBytes shows bytes a process chose as text that cannot surprise a
// terminal or a reader: printable UTF-8 as it is, a backslash as \\, and
// every other byte as \xNN. It is reversible.
func escapeBytes(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == '\\':
			sb.WriteString(`\\`)
		case r != utf8.RuneError && (unicode.IsPrint(r) || r == ' '):
			sb.Write(b[:n])
		default:
			for _, c := range b[:n] {
				fmt.Fprintf(&sb, `\x%02x`, c)
			}
		}
		b = b[n:]
	}
	return sb.String()
}
