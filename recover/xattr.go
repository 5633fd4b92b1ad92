package recover

import (
	"bytes"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func xattrsAt(root *os.Root, p string) map[string][]byte {
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	return xattrsOf(int(f.Fd()))
}

// pathXattrs reads a file's extended attributes without opening it for
// reading (an O_PATH handle, read through its /proc/self/fd link).
func pathXattrs(root *os.Root, p string) map[string][]byte {
	f, err := root.OpenFile(p, unix.O_PATH|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	link := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	return readXattrs(func(b []byte) (int, error) { return unix.Listxattr(link, b) },
		func(name string, b []byte) (int, error) { return unix.Getxattr(link, name, b) })
}

// xattrsOf reads every extended attribute of an open file.
func xattrsOf(fd int) map[string][]byte {
	return readXattrs(func(b []byte) (int, error) { return unix.Flistxattr(fd, b) },
		func(name string, b []byte) (int, error) { return unix.Fgetxattr(fd, name, b) })
}

// readXattrs lists the attribute names and reads each value (sized first)
// through list and get; nil when there are none or they cannot be read.
func readXattrs(list func([]byte) (int, error), get func(string, []byte) (int, error)) map[string][]byte {
	size, err := list(nil)
	if err != nil || size <= 0 {
		return nil
	}
	buf := make([]byte, size)
	n, err := list(buf)
	if err != nil {
		return nil
	}
	out := map[string][]byte{}
	for _, name := range bytes.Split(buf[:n], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		vs, err := get(string(name), nil)
		if err != nil || vs < 0 {
			continue
		}
		val := make([]byte, vs)
		if vs > 0 {
			if vs, err = get(string(name), val); err != nil {
				continue
			}
		}
		out[string(name)] = val[:vs]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
