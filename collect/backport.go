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

// VendorFixed says whether the installed package of a component names the
// CVE in its changelog (Debian's changelog.Debian.gz, or rpm's changelog):
// the distribution backported the fix. It returns the package and version.
func VendorFixed(ctx context.Context, component, kernel, cve string) (string, bool) {
	var paths []string
	switch component {
	case "kernel":
		paths = []string{"/boot/vmlinuz-" + kernel}
	default:
		if p, err := exec.LookPath(component); err == nil {
			paths = append(paths, p)
			if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
				paths = append(paths, r)
			}
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
			paths = append(paths, filepath.Join(dir, component))
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if out, err := exec.CommandContext(cctx, "dpkg-query", "-S", p).Output(); err == nil {
			pkg, _, _ := strings.Cut(strings.TrimSpace(string(out)), ":")
			if pkg == "" || strings.ContainsAny(pkg, "/ ,") {
				continue
			}
			ver, _ := exec.CommandContext(cctx, "dpkg-query", "-W", "-f", "${Version}", pkg).Output()
			if changelogNames(filepath.Join("/usr/share/doc", pkg, "changelog.Debian.gz"), cve) {
				return pkg + " " + strings.TrimSpace(string(ver)), true
			}
			continue
		}
		if out, err := exec.CommandContext(cctx, "rpm", "-qf", p).Output(); err == nil {
			pkg := strings.TrimSpace(string(out))
			if cl, err := exec.CommandContext(cctx, "rpm", "-q", "--changelog", pkg).Output(); err == nil && bytes.Contains(cl, []byte(cve)) {
				return pkg, true
			}
		}
	}
	return "", false
}

// changelogNames says whether a gzip'd changelog mentions the CVE.
func changelogNames(path, cve string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false
	}
	defer zr.Close()
	sc := bufio.NewScanner(io.LimitReader(zr, 64<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), cve) {
			return true
		}
	}
	return false
}
