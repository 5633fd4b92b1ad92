package drill

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

func TestCheckBusyboxRefuses(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "busybox")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "none"), "no busybox at"},
		{plain, "not an executable"},
		{script, "not an ELF"},
		{"/bin/ls", "dynamically linked"}, // coreutils, linked to libc
	} {
		err := CheckBusybox(c.path)
		var pe *PreflightError
		if !errors.As(err, &pe) || !strings.Contains(pe.What, c.want) || !strings.Contains(pe.Fix, "apt-get install busybox-static") || !strings.Contains(pe.Fix, "--image") {
			t.Errorf("%s: %v, want a preflight error saying %q with the fix", c.path, err, c.want)
		}
	}
}

func TestCheckBusyboxTakesTheStaticOne(t *testing.T) {
	if _, err := os.Stat(HostBusybox); err != nil {
		t.Skip("busybox-static is not installed")
	}
	if err := CheckBusybox(HostBusybox); err != nil {
		t.Fatal(err)
	}
}

// TestDecoyRootfs: the binary once, a link per applet, busybox itself
// not a link (it would replace the binary), /tmp sticky, a passwd.
func TestDecoyRootfs(t *testing.T) {
	b, err := decoyRootfs([]byte("ELF"), []string{"sh", "nc", "sha256sum"}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if got[h.Name] != nil {
			t.Errorf("%s twice", h.Name)
		}
		got[h.Name] = h
	}
	if h := got["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Size != 3 || h.Mode != 0o755 {
		t.Errorf("bin/busybox: %+v", h)
	}
	for _, a := range []string{"sh", "nc", "sha256sum"} {
		if h := got["bin/"+a]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v", a, h)
		}
	}
	if h := got["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp: %+v", h)
	}
	if got["etc/passwd"] == nil || got["etc/group"] == nil {
		t.Error("no passwd or group")
	}
}

// TestLiveBuildsItsOwnImage runs a drill with no image given on the real
// engine: it builds one from the host's busybox-static, labelled and
// named as the drill's, makes its decoys from it, and removes it at the
// end, so the engine's images are as before.
func TestLiveBuildsItsOwnImage(t *testing.T) {
	e := newLiveEnv(t)
	if err := CheckBusybox(HostBusybox); err != nil {
		t.Skipf("no busybox-static to build from: %v", err)
	}
	before := takeSnapshot(t, e)
	id := NewDrillID()
	var during []image.Summary
	var decoyImage string
	res, err := RunLive(context.Background(), e.s, scenarioFor(t, "kernel-helper"), LiveOptions{Yes: true, ID: id,
		OnStep: func(step string) {
			if step != "respond" {
				return
			}
			ctx := context.Background()
			during, _ = e.api.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelDrill+"="+id))})
			cs, _ := e.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", NamePrefix+id+"-decoy"))})
			if len(cs) == 1 {
				decoyImage = cs[0].Image
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || !slices.Contains(during[0].RepoTags, BuiltImage(id)) || during[0].Labels[LabelRole] != "image" {
		t.Fatalf("during the drill, images labelled as its own: %+v", during)
	}
	if decoyImage != BuiltImage(id) {
		t.Errorf("the decoy runs %q, not the drill's image %s", decoyImage, BuiltImage(id))
	}
	ok := false
	for _, c := range res.Checks {
		if c.Name == "zero-residue" {
			ok = c.OK && strings.Contains(c.Detail, "1 built image")
		}
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Name, c.Detail)
		}
	}
	if !ok {
		t.Errorf("the zero-residue check does not count the built image: %+v", res.Checks)
	}
	left, _ := e.api.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelDrill+"="+id))})
	if len(left) > 0 {
		t.Errorf("the built image is left: %+v", left)
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

// TestLiveWithoutBusybox: no image given and no busybox to build one
// from stops the drill in its preflight, saying what to install, before
// anything is made.
func TestLiveWithoutBusybox(t *testing.T) {
	e := newLiveEnv(t)
	before := takeSnapshot(t, e)
	res, err := RunLive(context.Background(), e.s, scenarioFor(t, "kernel-helper"), LiveOptions{Yes: true, busybox: filepath.Join(t.TempDir(), "busybox")})
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "apt-get install busybox-static") || !strings.Contains(err.Error(), "--image") {
		t.Fatalf("err %v, want a preflight error naming busybox-static and --image", err)
	}
	if res == nil || !strings.Contains(res.Aborted, "preflight") {
		t.Errorf("result %+v", res)
	}
	sameAsBefore(t, before, takeSnapshot(t, e))
}

// TestLiveStatusTimelineInTimeOrder: the status a live drill tells keeps
// its timeline in time order, whatever order the entries were told in (a
// probe's line arrives after the contain it measured).
func TestLiveStatusTimelineInTimeOrder(t *testing.T) {
	x := &liveRun{sc: &Scenario{Name: "s"}, res: &Result{}}
	x.timeline = []Entry{{Offset: 100, Text: "a"}, {Offset: 623, Text: "probe"}, {Offset: 469, Text: "contained"}, {Offset: 700, Text: "b"}}
	st := x.status(false)
	var got []string
	for _, e := range st.Timeline {
		got = append(got, e.Text)
	}
	if strings.Join(got, ",") != "a,contained,probe,b" {
		t.Errorf("status timeline %v, want in time order", got)
	}
}
