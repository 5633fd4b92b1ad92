package collect

import (
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// keepXattr says whether an extended attribute belongs in a captured layer:
// file capabilities, user and trusted attributes (not overlay's own, which
// are the writable layer's bookkeeping), and ACLs. SELinux labels and the
// like are the host's.
func keepXattr(name string) bool {
	switch {
	case name == "security.capability":
		return true
	case strings.HasPrefix(name, "user."):
		return true
	case strings.HasPrefix(name, "trusted."):
		return !strings.HasPrefix(name, "trusted.overlay.")
	case name == "system.posix_acl_access", name == "system.posix_acl_default":
		return true
	}
	return false
}

// maxXattrs bounds what is read of one file's attributes.
const maxXattrs = 64 << 10

// fdXattrs reads the attributes of an open file worth keeping, name to
// raw value; nil when it has none (or the filesystem keeps none).
func fdXattrs(fd int) (map[string][]byte, error) {
	names := make([]byte, 4096)
	n, err := unix.Flistxattr(fd, names)
	if errors.Is(err, unix.ERANGE) {
		names = make([]byte, maxXattrs)
		n, err = unix.Flistxattr(fd, names)
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out map[string][]byte
	val := make([]byte, maxXattrs)
	for _, name := range strings.Split(string(names[:n]), "\x00") {
		if name == "" || !keepXattr(name) {
			continue
		}
		k, err := unix.Fgetxattr(fd, name, val)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the list
		}
		if err != nil {
			return out, err
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[name] = append([]byte(nil), val[:k]...)
	}
	return out, nil
}

// addXattrs records attributes in a change (base64 values) and in the
// layer's tar header (PAX SCHILY.xattr.NAME, as tar and containerd read
// them).
func addXattrs(c *FileChange, pax map[string]string, xs map[string][]byte) {
	for k, v := range xs {
		if c.Xattrs == nil {
			c.Xattrs = map[string]string{}
		}
		c.Xattrs[k] = base64.StdEncoding.EncodeToString(v)
		pax["SCHILY.xattr."+k] = string(v)
	}
}

// birthTime is a file's creation time where the filesystem keeps one.
func birthTime(fd int) time.Time {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)).UTC()
}
