package collect

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"firebreak/evidence"
)

// OpenFile is one file descriptor of a process, read on the host from
// /proc/PID/fd and /proc/PID/fdinfo. Nothing is opened to list it: the
// target is looked at with statx (cached attributes only, so a file on a
// frozen FUSE daemon cannot hang it).
type OpenFile struct {
	FD        int      `json:"fd"`
	Path      string   `json:"path"`            // the link's text, escaped (escapeBytes)
	Type      string   `json:"type"`            // file, dir, socket, pipe, fifo, char, block, anon, unknown
	Flags     string   `json:"flags,omitempty"` // octal, as fdinfo prints it
	FlagNames []string `json:"flag_names,omitempty"`
	Pos       int64    `json:"pos"`
	MntID     int      `json:"mnt_id,omitempty"`
	Dev       string   `json:"dev,omitempty"` // major:minor of the file's filesystem
	Inode     uint64   `json:"inode,omitempty"`
	Size      int64    `json:"size,omitempty"`
	Deleted   bool     `json:"deleted,omitempty"` // no name left (nlink 0, or the kernel says "(deleted)")
	Memfd     bool     `json:"memfd,omitempty"`
	Content   *Held    `json:"content,omitempty"` // a deleted regular file's bytes
	Note      string   `json:"note,omitempty"`

	devIno [2]uint64
}

// ProcessFiles is one entry of openfiles.json: a process's descriptors.
type ProcessFiles struct {
	PID   int        `json:"pid"`
	Comm  string     `json:"comm"`
	Files []OpenFile `json:"files"`
	Note  string     `json:"note,omitempty"`
}

// Held is the stored content of a file only a live process still holds: a
// deleted-but-open regular file, or a deleted or memfd executable. Two
// holders of one file share one stored copy (the same Key).
type Held struct {
	Key       string `json:"key"`              // the artifact, under the collection's prefix
	SHA256    string `json:"sha256,omitempty"` // of the bytes stored
	Size      int64  `json:"size"`             // of the file
	Captured  int64  `json:"captured"`
	Truncated bool   `json:"truncated,omitempty"`
	Note      string `json:"note,omitempty"`
}

// DefaultHeldLimits cap the content of deleted files and executables.
func DefaultHeldLimits() Limits { return Limits{MaxFile: 256 << 20, MaxTotal: 2 << 30} }

// readOpenFiles lists a process's descriptors, in FD order.
func readOpenFiles(procRoot string, pid int) ([]OpenFile, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []OpenFile
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		of := OpenFile{FD: fd, Path: escapeBytes([]byte(link)), Type: "unknown"}
		if b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "fdinfo", e.Name())); err == nil {
			if fi, ok := parseFDInfo(b); ok {
				of.Flags, of.FlagNames, of.Pos, of.MntID = fmt.Sprintf("%#o", fi.Flags), openFlagNames(fi.Flags), fi.Pos, fi.MntID
			}
		}
		describe(&of, filepath.Join(dir, e.Name()), link)
		out = append(out, of)
	}
	slices.SortFunc(out, func(a, b OpenFile) int { return a.FD - b.FD })
	return out, nil
}

// describe fills in what statx says of the file behind a /proc link.
func describe(of *OpenFile, path, link string) {
	var sx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_NLINK|unix.STATX_INO|unix.STATX_SIZE, &sx)
	switch {
	case strings.HasPrefix(link, "anon_inode:"):
		of.Type = "anon"
	case strings.HasPrefix(link, "socket:["):
		of.Type = "socket"
	case strings.HasPrefix(link, "pipe:["):
		of.Type = "pipe"
	case err == nil:
		of.Type = fileType(uint32(sx.Mode))
	}
	if err != nil {
		of.Note = "statx: " + err.Error()
		return
	}
	of.Dev = fmt.Sprintf("%d:%d", sx.Dev_major, sx.Dev_minor)
	of.Inode = sx.Ino
	of.devIno = [2]uint64{unix.Mkdev(sx.Dev_major, sx.Dev_minor), sx.Ino}
	if of.Type == "file" {
		of.Size = int64(sx.Size)
		of.Deleted = sx.Nlink == 0 || strings.HasSuffix(link, " (deleted)")
		of.Memfd = strings.HasPrefix(link, "/memfd:")
	}
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFCHR:
		return "char"
	case unix.S_IFBLK:
		return "block"
	case unix.S_IFLNK:
		return "symlink"
	case 0:
		return "anon"
	}
	return "unknown"
}

// openFlagNames decodes the flags of fdinfo. The kernel always shows
// O_LARGEFILE on 64-bit hosts, where Go's constant for it is 0.
func openFlagNames(f uint64) []string {
	largefile := uint64(unix.O_LARGEFILE)
	if largefile == 0 {
		largefile = 0o100000
	}
	var out []string
	switch f & unix.O_ACCMODE {
	case unix.O_RDONLY:
		out = append(out, "O_RDONLY")
	case unix.O_WRONLY:
		out = append(out, "O_WRONLY")
	case unix.O_RDWR:
		out = append(out, "O_RDWR")
	}
	f &^= unix.O_ACCMODE
	for _, fl := range []struct {
		name string
		bits uint64
	}{ // the flags made of two bits first
		{"O_SYNC", unix.O_SYNC}, {"O_TMPFILE", unix.O_TMPFILE},
		{"O_APPEND", unix.O_APPEND}, {"O_ASYNC", unix.O_ASYNC}, {"O_CLOEXEC", unix.O_CLOEXEC}, {"O_CREAT", unix.O_CREAT},
		{"O_DIRECT", unix.O_DIRECT}, {"O_DIRECTORY", unix.O_DIRECTORY}, {"O_DSYNC", unix.O_DSYNC}, {"O_EXCL", unix.O_EXCL},
		{"O_LARGEFILE", largefile}, {"O_NOATIME", unix.O_NOATIME}, {"O_NOCTTY", unix.O_NOCTTY}, {"O_NOFOLLOW", unix.O_NOFOLLOW},
		{"O_NONBLOCK", unix.O_NONBLOCK}, {"O_PATH", unix.O_PATH}, {"O_TRUNC", unix.O_TRUNC},
	} {
		if fl.bits != 0 && f&fl.bits == fl.bits {
			out = append(out, fl.name)
			f &^= fl.bits
		}
	}
	if f != 0 {
		out = append(out, fmt.Sprintf("%#o", f))
	}
	return out
}

// held captures, for the process collector, what the processes hold that
// may exist nowhere else: their environments (raw), the content of every
// deleted-but-open regular file and of every deleted or memfd executable,
// read through the kernel's references on the host (/proc/PID/fd/N,
// /proc/PID/exe), never by a path in the container. It writes
// openfiles.json, names users and groups from the container's own files,
// and fills procs in for processes.json. What cannot be read is noted in
// place; the error is the store's.
func (c *collection) held(procs []*Process) error {
	c.nameIDs(procs)
	limits := c.opts.Held
	if limits.MaxFile <= 0 && limits.MaxTotal <= 0 {
		limits = DefaultHeldLimits()
	}
	h := &holder{c: c, limits: limits, stored: map[[2]uint64]*Held{}}
	var errs []error
	for _, p := range procs {
		if len(p.environ) == 0 {
			continue
		}
		key := fmt.Sprintf("processes/%d/environ", p.PID)
		b := p.environ
		a, err := c.putSource(key, WhatProcesses, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(b))), nil })
		if err != nil {
			errs = append(errs, err)
			p.EnvironNote = strings.TrimPrefix(p.EnvironNote+"; not stored: "+err.Error(), "; ")
			continue
		}
		p.EnvironKey, p.EnvironSHA256 = key, a.SHA256
	}
	var files []ProcessFiles
	for _, p := range procs {
		pf := ProcessFiles{PID: p.PID, Comm: p.Comm, Files: []OpenFile{}}
		ofs, err := readOpenFiles(c.opts.ProcRoot, p.PID)
		if err != nil {
			pf.Note = "unreadable: " + err.Error()
		}
		for i := range ofs {
			of := &ofs[i]
			if of.Type != "file" || !of.Deleted {
				continue
			}
			src := filepath.Join(c.opts.ProcRoot, strconv.Itoa(p.PID), "fd", strconv.Itoa(of.FD))
			of.Content, err = h.capture(fmt.Sprintf("processes/%d/fd/%d", p.PID, of.FD), src, of.devIno, of.Size)
			errs = append(errs, err)
		}
		pf.Files = append(pf.Files, ofs...)
		files = append(files, pf)
		if p.ExeDeleted || p.ExeMemfd {
			src := filepath.Join(c.opts.ProcRoot, strconv.Itoa(p.PID), "exe")
			var sx unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, src, unix.AT_STATX_DONT_SYNC, unix.STATX_INO|unix.STATX_SIZE, &sx); err != nil {
				p.ExeContent = &Held{Note: "statx: " + err.Error()}
				continue
			}
			p.ExeContent, err = h.capture(fmt.Sprintf("processes/%d/exe", p.PID), src, [2]uint64{unix.Mkdev(sx.Dev_major, sx.Dev_minor), sx.Ino}, int64(sx.Size))
			errs = append(errs, err)
		}
	}
	if h.truncated > 0 {
		c.incomplete(WhatProcesses, fmt.Sprintf("%d held files capped (see \"truncated\" in openfiles.json and processes.json)", h.truncated))
	}
	errs = append(errs, c.putJSON("openfiles.json", WhatProcesses, files))
	return errors.Join(errs...)
}

// holder stores held files once each, within the caps.
type holder struct {
	c         *collection
	limits    Limits
	total     int64
	truncated int
	stored    map[[2]uint64]*Held
}

// capture stores the regular file that src (a /proc link) refers to, whose
// device and inode the listing saw. A source that cannot be read is noted
// in the result; the error is the store's.
func (h *holder) capture(key, src string, devIno [2]uint64, size int64) (*Held, error) {
	if prev, ok := h.stored[devIno]; ok && devIno != [2]uint64{} {
		same := *prev
		same.Note = strings.TrimPrefix(same.Note+"; the same file as "+prev.Key, "; ")
		return &same, nil
	}
	capBytes := h.limits.MaxFile
	if left := h.limits.MaxTotal - h.total; h.limits.MaxTotal > 0 && (capBytes <= 0 || left < capBytes) {
		capBytes = max(left, 0)
	}
	res := &Held{Key: key, Size: size}
	var more bool
	var readErr error
	a, err := h.c.putSource(key, WhatProcesses, func() (io.ReadCloser, error) {
		more, readErr = false, nil
		f, err := os.OpenFile(src, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || [2]uint64{st.Dev, st.Ino} != devIno {
			f.Close()
			return nil, errors.New("the descriptor no longer refers to the file listed")
		}
		return &cappedSource{f: f, left: capBytes, more: &more, err: &readErr}, nil
	})
	var src2 *sourceError
	switch {
	case errors.As(err, &src2):
		res.Note = "unreadable: " + src2.err.Error()
		return res, nil
	case err != nil:
		res.Note = "not stored: " + err.Error()
		return res, err
	}
	res.SHA256, res.Captured = a.SHA256, a.Size
	h.total += a.Size
	if readErr != nil {
		res.Truncated, res.Note = true, fmt.Sprintf("read failed after %d bytes: %v", a.Size, readErr)
	} else if more {
		res.Truncated, res.Note = true, fmt.Sprintf("capped at %d bytes", a.Size)
		h.truncated++
	}
	h.stored[devIno] = res
	return res, nil
}

// cappedSource reads up to left bytes and then says whether more were
// there. A read error ends the stream (what came before it is kept) and is
// reported through err.
type cappedSource struct {
	f    *os.File
	left int64
	more *bool
	err  *error
}

func (s *cappedSource) Read(p []byte) (int, error) {
	if s.left <= 0 {
		var one [1]byte
		n, _ := s.f.Read(one[:])
		*s.more = n > 0
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.f.Read(p)
	s.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		*s.err = err
		return n, io.EOF
	}
	return n, err
}

func (s *cappedSource) Close() error { return s.f.Close() }

// sourceError says the source of an artifact could not be opened: nothing
// was stored, and the store is fine.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }

// putSource stores what open reads. The source can be read again (a frozen
// container's memory, a file held open), so the stream goes to a remote
// store without a local copy on the way and, if the remote fails midway,
// is read again into the local spool.
func (c *collection) putSource(name string, collector Collector, open func() (io.ReadCloser, error)) (evidence.Artifact, error) {
	for attempt := 0; ; attempt++ {
		r, err := open()
		if err != nil {
			return evidence.Artifact{}, &sourceError{err}
		}
		a, err := c.run.PutOnce(c.ctx, c.res.Prefix+name, r, string(collector), c.d.ID)
		r.Close()
		if errors.Is(err, evidence.ErrRetryLocally) && attempt == 0 {
			c.run.Log("collect", c.d.ID, name+": remote store failed during the upload; reading it again into the local spool")
			continue
		}
		if err != nil {
			return a, err
		}
		c.res.Artifacts = append(c.res.Artifacts, a)
		return a, nil
	}
}

// nameIDs names each process's user and group IDs as the container's own
// /etc/passwd and /etc/group do, read through a root-confined handle on the
// init's root (/proc/PID/root): no link out of it is followed. IDs are
// first mapped into the container's user namespace.
func (c *collection) nameIDs(procs []*Process) {
	base := filepath.Join(c.opts.ProcRoot, strconv.Itoa(c.d.Pid))
	users, groups, notes := containerNames(filepath.Join(base, "root"))
	for _, n := range notes {
		c.incomplete(WhatProcesses, n)
	}
	var uidMap, gidMap []idRange
	if b, err := os.ReadFile(filepath.Join(base, "uid_map")); err == nil {
		uidMap = parseIDMap(b)
	}
	if b, err := os.ReadFile(filepath.Join(base, "gid_map")); err == nil {
		gidMap = parseIDMap(b)
	}
	name := func(m []idRange, names map[int]string, ids []int) []string {
		if names == nil || len(ids) == 0 {
			return nil
		}
		out := make([]string, len(ids))
		for i, id := range ids {
			if in, ok := inside(m, id); ok {
				out[i] = names[in]
			}
		}
		return out
	}
	for _, p := range procs {
		p.UserNames, p.GroupNames = name(uidMap, users, p.UIDs), name(gidMap, groups, p.GIDs)
	}
}

// maxIDFile bounds how much of a container's /etc/passwd or /etc/group is
// read.
const maxIDFile = 4 << 20

// containerNames reads etc/passwd and etc/group under root (a container's
// root directory) through os.Root, which refuses absolute links and any
// path leading out. Only a regular file is read (a FIFO is not waited on).
// A file that cannot be read gives a nil map and a note; a missing one
// gives a nil map only.
func containerNames(root string) (users, groups map[int]string, notes []string) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, nil, []string{"user and group names: the container's root: " + err.Error()}
	}
	defer r.Close()
	read := func(name string) (map[int]string, string) {
		f, err := r.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "" // an image without one (scratch): no names, nothing amiss
		}
		if err != nil {
			return nil, fmt.Sprintf("user and group names: the container's /%s: %v", name, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Sprintf("user and group names: the container's /%s is not a regular file: not read", name)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxIDFile))
		if err != nil {
			return nil, fmt.Sprintf("user and group names: the container's /%s: %v", name, err)
		}
		return parseIDNames(b), ""
	}
	users, n1 := read("etc/passwd")
	groups, n2 := read("etc/group")
	for _, n := range []string{n1, n2} {
		if n != "" {
			notes = append(notes, n)
		}
	}
	return users, groups, notes
}
