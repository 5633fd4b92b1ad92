package collect

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BackportQuery asks whether the installed package of a component carries
// a CVE's fix in an older version number.
type BackportQuery struct {
	Component string // runc, containerd or kernel
	Version   string // as the engine reported it; the running release for the kernel
	CVE       string
}

// VendorFixed says whether the installed package of a component names the
// CVE in its changelog (Debian's changelog.Debian.gz, or rpm's changelog):
// the distribution backported the fix. It returns the package and its
// version. Only the package of the binary that runs is asked (the first on
// PATH, as the engine finds it; the running kernel's image), and only when
// its version is the one the engine reported: a binary of another version
// (built by hand into /usr/local/bin, or an engine on another host) is not
// excused by a package it did not come from.
func VendorFixed(ctx context.Context, q BackportQuery) (string, bool) {
	var path string
	switch q.Component {
	case "kernel":
		path = "/boot/vmlinuz-" + q.Version
	default:
		p, err := exec.LookPath(q.Component)
		if err != nil {
			return "", false
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r // dpkg knows the file by the path it installed
		}
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		return "", false
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(cctx, "dpkg-query", "-S", path).Output(); err == nil {
		pkg, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
		if pkg == "" || strings.ContainsAny(pkg, "/ ,") {
			return "", false
		}
		out, err := exec.CommandContext(cctx, "dpkg-query", "-W", "-f", "${Version}", pkg).Output()
		ver := strings.TrimSpace(string(out))
		if err != nil || (q.Component != "kernel" && debianUpstream(ver) != strings.TrimPrefix(q.Version, "v")) {
			return "", false
		}
		f, err := os.Open(filepath.Join("/usr/share/doc", pkg, "changelog.Debian.gz"))
		if err != nil {
			return "", false
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return "", false
		}
		defer zr.Close()
		if changelogFixes(io.LimitReader(zr, 64<<20), q.CVE) {
			return pkg + " " + ver, true
		}
		return "", false
	}
	if out, err := exec.CommandContext(cctx, "rpm", "-qf", "--qf", "%{NAME} %{VERSION}", path).Output(); err == nil {
		name, ver, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		if q.Component != "kernel" && ver != strings.TrimPrefix(q.Version, "v") {
			return "", false
		}
		if cl, err := exec.CommandContext(cctx, "rpm", "-q", "--changelog", name).Output(); err == nil && changelogFixes(bytes.NewReader(cl), q.CVE) {
			return name + " " + ver, true
		}
	}
	return "", false
}

// debianUpstream is the upstream part of a Debian version: without the
// epoch (N:) and the Debian revision (after the last -).
func debianUpstream(v string) string {
	if _, rest, ok := strings.Cut(v, ":"); ok {
		v = rest
	}
	if i := strings.LastIndex(v, "-"); i > 0 {
		v = v[:i]
	}
	return v
}

// changelogFixes says whether a changelog names the CVE as fixed: the ID
// as a whole word (CVE-2024-2162 is not CVE-2024-21626) on a line that
// does not say it came back (re-introduced, regression).
func changelogFixes(r io.Reader, cve string) bool {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !namesToken(line, cve) {
			continue
		}
		l := strings.ToLower(line)
		if strings.Contains(l, "reintroduc") || strings.Contains(l, "re-introduc") || strings.Contains(l, "regression") {
			continue
		}
		return true
	}
	return false
}

// namesToken says whether s holds id with no letter or digit either side.
func namesToken(s, id string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], id)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(id)
		before := start == 0 || !isWordByte(s[start-1])
		after := end == len(s) || !isWordByte(s[end])
		if before && after {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
