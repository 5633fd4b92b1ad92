package drill

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// A live drill given no image builds its own: the host's statically
// linked busybox (Debian's busybox-static) in a root filesystem made in
// memory, imported through the engine's import call (nothing is pulled),
// named and labelled as the drill's, so that the drill's cleanup and
// `drill cleanup` remove it with the rest. An image given with --image is
// the user's and is never removed.

// HostBusybox is where the host's busybox-static installs its binary.
const HostBusybox = "/bin/busybox"

// BuiltImage is the name of the decoy image a drill builds.
func BuiltImage(id string) string { return "firebreak.local/" + NamePrefix + id + "-image:busybox" }

// CheckBusybox says whether path is a busybox a decoy image can be made
// of: present, executable, and statically linked (a dynamic one would
// need the host's libraries in the image). The error carries the fix.
func CheckBusybox(path string) error {
	fix := "install Debian's busybox-static (apt-get install busybox-static), or name a local busybox image with --image"
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &PreflightError{What: "no decoy image was given and there is no busybox at " + path + " to build one from", Fix: fix}
		}
		return &PreflightError{What: "reading " + path + ": " + err.Error(), Fix: fix}
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return &PreflightError{What: path + " is not an executable file: no decoy image can be built from it", Fix: fix}
	}
	f, err := elf.Open(path)
	if err != nil {
		return &PreflightError{What: path + " is not an ELF executable: " + err.Error(), Fix: fix}
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return &PreflightError{What: path + " is dynamically linked (busybox, not busybox-static): the decoys' image would lack its libraries", Fix: fix}
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return &PreflightError{What: fmt.Sprintf("%s needs shared libraries (%s): the decoys' image would lack them", path, strings.Join(libs, ", ")), Fix: fix}
	}
	return nil
}

// busyboxApplets are the applets the binary names (`busybox --list`),
// without busybox itself: a link by that name would replace the binary.
func busyboxApplets(ctx context.Context, path string) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of %s: %w", path, err)
	}
	var apps []string
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.ContainsAny(a, "/.") {
			continue
		}
		apps = append(apps, a)
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("%s --list names no applet", path)
	}
	return apps, nil
}

// decoyRootfs is the image's root filesystem as a tar: bin/busybox, a
// link per applet, the directories a shell expects, /tmp sticky, and a
// passwd and group with root and nobody.
func decoyRootfs(bin []byte, applets []string, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Uname, h.Gname = now, "root", "root"
		return tw.WriteHeader(h)
	}
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "root", "var", "var/log"} {
		if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"bin/busybox", 0o755, bin},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	for _, f := range files {
		if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	for _, a := range applets {
		if err := hdr(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// buildImage makes the drill's decoy image from the host's busybox and
// returns its name. The image carries the drill's label from the moment
// it exists, so a drill killed during the import still has it found.
func (sb *Sandbox) buildImage(ctx context.Context, busybox string) (string, error) {
	if err := CheckBusybox(busybox); err != nil {
		return "", err
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", busybox, err)
	}
	applets, err := busyboxApplets(ctx, busybox)
	if err != nil {
		return "", err
	}
	root, err := decoyRootfs(bin, applets, time.Now())
	if err != nil {
		return "", fmt.Errorf("making the decoy image's root filesystem: %w", err)
	}
	name := BuiltImage(sb.ID)
	return name, importImage(ctx, sb.api, bytes.NewReader(root), name, sb.labels("image"))
}

// importImage imports a root filesystem tar as an image with the labels,
// through the engine's import call (POST /images/create?fromSrc=-), and
// reads its answer to the end: an error in the stream is the call's.
func importImage(ctx context.Context, api *client.Client, root io.Reader, name string, labels map[string]string) error {
	changes := []string{`CMD ["/bin/sh"]`, "ENV PATH=/bin:/sbin"}
	for k, v := range labels {
		changes = append(changes, fmt.Sprintf("LABEL %s=%s", k, v))
	}
	rc, err := api.ImageImport(ctx, image.ImportSource{Source: root, SourceName: "-"}, name, image.ImportOptions{Changes: changes, Message: "firebreak drill decoy image"})
	if err != nil {
		return fmt.Errorf("importing the decoy image %s: %w", name, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("importing the decoy image %s: reading the engine's answer: %w", name, err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return fmt.Errorf("importing the decoy image %s: %s", name, m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return fmt.Errorf("importing the decoy image %s: %s", name, m.Error)
		}
	}
}
