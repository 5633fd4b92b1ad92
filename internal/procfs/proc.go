package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Stat is what Firebreak reads from /proc/PID/stat.
type Stat struct {
	Comm      string // as the process set it: may hold spaces and parentheses
	State     string // R, S, D, Z, T, ...
	PPID      int
	StartTime uint64 // clock ticks after boot
}

// ParseStat parses /proc/PID/stat. The command sits in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last
// closing one.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("malformed stat: %d fields", len(f))
	}
	st := Stat{Comm: string(b[open+1 : end]), State: f[0]}
	st.PPID, _ = strconv.Atoi(f[1])
	st.StartTime, _ = strconv.ParseUint(f[19], 10, 64)
	return st, nil
}

// Status is what Firebreak reads from /proc/PID/status. A field the file
// lacks stays nil or "".
type Status struct {
	UIDs       []int             // Uid: real, effective, saved, filesystem
	GIDs       []int             // Gid
	NSPIDs     []int             // NSpid: the PID in each nested PID namespace, outermost first
	Caps       map[string]string // CapInh, CapPrm, CapEff, CapBnd, CapAmb as printed (hex); never nil
	Seccomp    string            // "0" off, "1" strict, "2" filter
	NoNewPrivs string            // "0" or "1"
}

// ParseStatus parses /proc/PID/status. Lines it does not know are skipped;
// the error is about reading r.
func ParseStatus(r io.Reader) (Status, error) {
	st := Status{Caps: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Uid":
			st.UIDs = atois(v)
		case "Gid":
			st.GIDs = atois(v)
		case "NSpid":
			st.NSPIDs = atois(v)
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			st.Caps[k] = v
		case "Seccomp":
			st.Seccomp = v
		case "NoNewPrivs":
			st.NoNewPrivs = v
		}
	}
	return st, sc.Err()
}

// atois reads the decimal numbers of a line, skipping what is not one.
func atois(s string) []int {
	var out []int
	for _, f := range strings.Fields(s) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// Mount is one line of /proc/PID/mountinfo, the fields Firebreak uses.
type Mount struct {
	Major, Minor uint32
	Root         string // the mounted directory of the source filesystem, escaped as printed (\040 for a space)
	Point        string // the mount point, escaped as printed
}

// Dev is the device number, comparable with a stat's st_dev.
func (m Mount) Dev() uint64 { return unix.Mkdev(m.Major, m.Minor) }

// ParseMountInfo parses /proc/PID/mountinfo. Lines with too few fields or a
// device that does not parse are skipped; the error is about reading r.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	err := eachRow(r, false, func(f []string) {
		// mount-id parent-id major:minor root mount-point options ...
		if len(f) < 5 {
			return
		}
		maj, min, ok := strings.Cut(f[2], ":")
		if !ok {
			return
		}
		a, err1 := strconv.ParseUint(maj, 10, 32)
		b, err2 := strconv.ParseUint(min, 10, 32)
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, Mount{Major: uint32(a), Minor: uint32(b), Root: f[3], Point: f[4]})
	})
	return out, err
}

// ParseBootTime reads the boot time (the btime line) from /proc/stat.
func ParseBootTime(r io.Reader) (time.Time, error) {
	var (
		t     time.Time
		found bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				t, found = time.Unix(n, 0).UTC(), true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, err
	}
	if !found {
		return time.Time{}, errors.New("no btime line")
	}
	return t, nil
}

// Root is a proc file system mount; Proc is the host's. Its methods read one
// file each and parse it; an error from opening the file is the os error
// (fs.ErrNotExist when the process is gone).
type Root string

// Proc is the host's /proc.
const Proc Root = "/proc"

// Path is the path of a file of a process, e.g. Path(1, "ns/net").
func (r Root) Path(pid int, name string) string {
	return filepath.Join(string(r), strconv.Itoa(pid), name)
}

// Stat reads /proc/PID/stat.
func (r Root) Stat(pid int) (Stat, error) {
	b, err := os.ReadFile(r.Path(pid, "stat"))
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return st, nil
}

// Status reads /proc/PID/status.
func (r Root) Status(pid int) (Status, error) {
	return readWith(r.Path(pid, "status"), ParseStatus)
}

// MountInfo reads /proc/PID/mountinfo.
func (r Root) MountInfo(pid int) ([]Mount, error) {
	return readWith(r.Path(pid, "mountinfo"), ParseMountInfo)
}

// Sockets reads one socket table of the network namespace of pid.
func (r Root) Sockets(pid int, proto Proto) ([]Socket, error) {
	return readWith(r.Path(pid, "net/"+string(proto)), func(rd io.Reader) ([]Socket, error) { return ParseSockets(rd, proto) })
}

// Routes reads the IPv4 and then the IPv6 routes of the network namespace
// of pid. A kernel without IPv6 has no ipv6_route: that is no error. What
// could be read is returned with the error.
func (r Root) Routes(pid int) ([]Route, error) {
	v4, err4 := readWith(r.Path(pid, "net/route"), ParseRoutes)
	v6, err6 := readWith(r.Path(pid, "net/ipv6_route"), ParseIPv6Routes)
	if err4 == nil && errors.Is(err6, fs.ErrNotExist) {
		err6 = nil
	}
	return append(v4, v6...), errors.Join(err4, err6)
}

// Packets reads the packet sockets of the network namespace of pid.
func (r Root) Packets(pid int) ([]PacketSocket, error) {
	return readWith(r.Path(pid, "net/packet"), ParsePackets)
}

// NetDev reads the interface counters of the network namespace of pid.
func (r Root) NetDev(pid int) (map[string]Counters, error) {
	return readWith(r.Path(pid, "net/dev"), ParseNetDev)
}

// BootTime reads the boot time from the proc root's stat.
func (r Root) BootTime() (time.Time, error) {
	return readWith(filepath.Join(string(r), "stat"), ParseBootTime)
}

// readWith opens path and parses it; a parse error names the file.
func readWith[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("reading %s: %w", path, err)
	}
	return v, nil
}
