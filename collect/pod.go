package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"firebreak/evidence"
	"firebreak/runtime"
)

// PodResult is what CollectPod left in the run: a bundle per container of
// the pod, one for its sandbox (the pod's network state, read once), and
// the pod's own record and log directory.
type PodResult struct {
	Pod        runtime.Pod         `json:"pod"`
	Prefix     string              `json:"prefix"` // the pod's own artifacts
	Members    []*Result           `json:"members"`
	Failures   []string            `json:"failures,omitempty"`
	Artifacts  []evidence.Artifact `json:"artifacts"`
	Incomplete []string            `json:"incomplete,omitempty"`
}

// CollectPod captures a Kubernetes pod into run as a unit: each current
// container with every collector asked for except the network (its
// containers share the sandbox's namespace), the sandbox with the network,
// and under the pod's prefix pod.json (the pod as the CRI plugin records
// it: labels, annotations, security settings, probes where known) with the
// plugin's verbose status, and the kubelet's log directory for the pod
// with its rotated files. A member that cannot be captured does not stop
// the others.
func CollectPod(ctx context.Context, rt runtime.Runtime, run *evidence.Run, pod runtime.Pod, opts Options) (*PodResult, error) {
	what := opts.What
	if len(what) == 0 {
		what = All
	}
	at := time.Now().UTC()
	res := &PodResult{Pod: pod, Prefix: evidence.CasePrefix(run.Case()) + "pod-" + pod.SandboxID + "/" + at.Format("20060102T150405.000000000Z") + "/"}
	run.Log("collect", pod.Ref(), fmt.Sprintf("pod: %d containers and the sandbox", len(pod.Current())))
	var storeErrs []error
	member := func(c runtime.Container, what []Collector) {
		o := opts
		o.What = what
		r, err := Collect(ctx, rt, run, c, o)
		if r != nil {
			res.Members = append(res.Members, r)
		}
		if err != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("%s (%s): %v", c.ShortID(), c.Name, err))
		}
	}
	for _, c := range pod.Current() {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		member(c.Container, slices.DeleteFunc(slices.Clone(what), func(w Collector) bool { return w == WhatNetwork }))
	}
	var sandbox []Collector
	for _, w := range what {
		if w == WhatInspect || w == WhatProcesses || w == WhatNetwork {
			sandbox = append(sandbox, w)
		}
	}
	if len(sandbox) > 0 {
		member(pod.Sandbox, sandbox)
	}
	put := func(name string, r io.Reader) error {
		a, err := run.Put(ctx, res.Prefix+name, r, "pod", pod.SandboxID)
		if err != nil {
			return err
		}
		res.Artifacts = append(res.Artifacts, a)
		return nil
	}
	doc, err := json.MarshalIndent(struct {
		Pod       runtime.Pod     `json:"pod"`
		CRIStatus json.RawMessage `json:"cri_status,omitempty"`
	}{pod, rawOrNil(pod.Raw)}, "", "  ")
	if err != nil {
		return res, err
	}
	if err := put("pod.json", bytes.NewReader(append(doc, '\n'))); err != nil {
		storeErrs = append(storeErrs, fmt.Errorf("pod.json: %w", err))
	}
	if slices.Contains(what, WhatLogs) {
		if err := podLogs(pod.LogDir, opts.LogCap, opts.Limits.MaxTotal, put, func(why string) {
			msg := pod.Ref() + " logs: " + why
			res.Incomplete = append(res.Incomplete, msg)
			run.Incomplete(msg)
		}); err != nil {
			storeErrs = append(storeErrs, fmt.Errorf("pod logs: %w", err))
		}
	}
	run.Log("collect", pod.Ref(), fmt.Sprintf("pod finished: %d members, %d failed, %d pod artifacts", len(res.Members), len(res.Failures), len(res.Artifacts)))
	if len(res.Failures) > 0 && len(res.Members) == 0 {
		storeErrs = append(storeErrs, errors.New("no member of the pod could be captured: "+strings.Join(res.Failures, "; ")))
	}
	return res, errors.Join(storeErrs...)
}

func rawOrNil(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	return nil
}

// podLogs copies every regular file under the pod's log directory (each
// container's current and rotated logs: 0.log, 0.log.20260101-000000,
// 1.log.gz) into logs/CONTAINER/FILE. Every open is confined to the
// directory, does not follow a symlink and does not wait (a FIFO swapped in
// cannot hang the capture); what is opened must be a regular file with one
// link (a hard link planted there to a host file is not copied). What is
// not copied (a symlink and its target, a device, a FIFO, a hard link) is
// recorded as incomplete, by name: it is evidence too. A file larger than
// capBytes keeps its first quarter and its newest rest; total bounds all.
func podLogs(dir string, capBytes, total int64, put func(string, io.Reader) error, incomplete func(string)) error {
	if dir == "" {
		incomplete("the CRI plugin gives no log directory")
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		incomplete(err.Error())
		return nil
	}
	defer root.Close()
	var files []string
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			incomplete(err.Error())
			return nil
		}
		switch {
		case d.Type().IsRegular():
			files = append(files, p)
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := root.Readlink(p)
			incomplete(fmt.Sprintf("%s is a symlink to %q: not followed", p, target))
		case !d.IsDir():
			incomplete(fmt.Sprintf("%s is a %s, not a regular file: not copied", p, d.Type()))
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	if len(files) == 0 {
		incomplete("no log files in " + dir)
	}
	var copied int64
	for _, p := range files {
		f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
		if err != nil {
			incomplete(err.Error())
			continue
		}
		fi, err := f.Stat()
		var st *syscall.Stat_t
		if err == nil {
			st, _ = fi.Sys().(*syscall.Stat_t)
		}
		switch {
		case err != nil:
			incomplete(err.Error())
		case !fi.Mode().IsRegular():
			incomplete(fmt.Sprintf("%s became a %s while read: not copied", p, fi.Mode().Type()))
		case st != nil && st.Nlink != 1:
			incomplete(fmt.Sprintf("%s has %d hard links (inode %d, %d bytes): not copied, since a link planted here can name a host file", p, st.Nlink, st.Ino, fi.Size()))
		case total > 0 && copied >= total:
			incomplete(fmt.Sprintf("%s (%d bytes): not copied, the pod's logs reached %d bytes in all", p, fi.Size(), total))
		default:
			r, kept := capped(f, fi.Size(), capBytes)
			if kept < fi.Size() {
				incomplete(fmt.Sprintf("%s is %d bytes: its first quarter and newest rest kept, %d bytes between dropped", p, fi.Size(), fi.Size()-kept))
			}
			copied += kept
			if err := put("logs/"+p, r); err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
	}
	return nil
}

// capped reads a file of size bytes whole, or over limit its first quarter
// and its newest three quarters; kept is how many bytes it gives.
func capped(f *os.File, size, limit int64) (io.Reader, int64) {
	if limit <= 0 || size <= limit {
		return io.LimitReader(f, size), size
	}
	head := limit / 4
	tail := limit - head
	return io.MultiReader(io.NewSectionReader(f, 0, head), io.NewSectionReader(f, size-tail, tail)), limit
}
