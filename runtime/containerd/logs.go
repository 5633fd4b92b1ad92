package containerd

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/core/containers"

	"firebreak/runtime"
)

var _ runtime.LogReader = (*Containerd)(nil)

// containerd keeps no output of its own: the tool that created a container
// decides where it goes. These are the two places Firebreak knows.
const (
	// CRIMetadataExtension is the container extension in which Kubernetes'
	// CRI plugin records a container's metadata, its log path among it.
	CRIMetadataExtension = "io.cri-containerd.container.metadata"
	// StateDirLabel is the label nerdctl stores a container's state
	// directory in; its json-file log is ID-json.log there.
	StateDirLabel = "nerdctl/state-dir"
)

// ErrNoLogs says that the container's creator keeps its output nowhere
// Firebreak can read.
var ErrNoLogs = errors.New("no log file known for this container")

// maxLogLine bounds one line of a log file; a longer one is cut there.
const maxLogLine = 1 << 20

// Logs reads the container's output from the log file its creator writes:
// the CRI plugin's (Kubernetes) or nerdctl's json-file log, with the rotated
// files beside it, oldest first. Lines split by the writer are joined again.
// The files are opened without following a symbolic link: a container that
// can write to its log directory must not make Firebreak read a host file.
func (c *Containerd) Logs(ctx context.Context, id string, since time.Time, stdout, stderr io.Writer) error {
	ctx = c.ctx(ctx)
	_, info, err := c.info(ctx, id)
	if err != nil {
		return err
	}
	path, format, err := logFile(info)
	if err != nil {
		return fmt.Errorf("containerd container %s: %w", short(id), err)
	}
	files, err := rotatedLogs(path)
	if err != nil {
		return err
	}
	lw := &logWriter{since: since, out: map[string]io.Writer{"stdout": stdout, "stderr": stderr}, pending: map[string]*fragment{}}
	for _, f := range files {
		if err := readLogFile(ctx, f, format, lw); err != nil {
			return err
		}
	}
	return lw.flush()
}

type logFormat int

const (
	formatCRI      logFormat = iota // "TIME STREAM TAGS CONTENT" lines
	formatJSONFile                  // {"log":...,"stream":...,"time":...} lines
)

// logFile finds where the container's creator writes its output.
func logFile(info containers.Container) (string, logFormat, error) {
	if ext, ok := info.Extensions[CRIMetadataExtension]; ok && ext != nil {
		var meta struct {
			Metadata struct{ LogPath string }
		}
		if err := json.Unmarshal(ext.GetValue(), &meta); err != nil {
			return "", 0, fmt.Errorf("reading its CRI metadata: %w", err)
		}
		if meta.Metadata.LogPath == "" {
			return "", 0, fmt.Errorf("%w: its CRI metadata names no log path (the pod has no log directory)", ErrNoLogs)
		}
		return meta.Metadata.LogPath, formatCRI, nil
	}
	if dir := info.Labels[StateDirLabel]; dir != "" {
		return filepath.Join(dir, info.ID+"-json.log"), formatJSONFile, nil
	}
	return "", 0, fmt.Errorf("%w: it was created by neither Kubernetes (CRI) nor nerdctl, and containerd keeps no output of its own", ErrNoLogs)
}

// rotatedLogs lists path and the files its writer rotated it into (path.1,
// path.20261128-101010, path.N.gz and so on), oldest first. A missing
// current file is an error; missing rotations are not.
func rotatedLogs(path string) ([]string, error) {
	if _, err := os.Lstat(path); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	old, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, err
	}
	type file struct {
		name string
		mod  time.Time
	}
	var rotated []file
	for _, name := range old {
		st, err := os.Lstat(name)
		if err != nil || !st.Mode().IsRegular() || strings.HasSuffix(name, ".tmp") {
			continue
		}
		rotated = append(rotated, file{name, st.ModTime()})
	}
	slices.SortStableFunc(rotated, func(a, b file) int { return a.mod.Compare(b.mod) })
	out := make([]string, 0, len(rotated)+1)
	for _, f := range rotated {
		out = append(out, f.name)
	}
	return append(out, path), nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readLogFile parses one log file into lw, refusing anything but a regular
// file (never following a link in the last component).
func readLogFile(ctx context.Context, path string, format logFormat, lw *logWriter) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return fmt.Errorf("log file %s is a symbolic link: not followed", path)
		}
		return fmt.Errorf("log file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("log file %s is not a regular file: not read", path)
	}
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("log file %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := readLine(br)
		if len(line) > 0 {
			var perr error
			if format == formatCRI {
				perr = lw.criLine(line)
			} else {
				perr = lw.jsonLine(line)
			}
			if perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log file %s: %w", path, err)
		}
	}
}

// readLine reads one line without its newline, cut at maxLogLine (the rest
// of a longer line is skipped).
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	cut := false
	for {
		chunk, err := br.ReadSlice('\n')
		if cut = cut || len(line)+len(chunk) > maxLogLine; !cut {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}

// fragment is the start of a line its writer split.
type fragment struct {
	at   time.Time
	text []byte
}

// logWriter writes lines as "RFC3339Nano-time text\n" to the stream they
// came from, as the Docker adapter does, joining split lines.
type logWriter struct {
	since   time.Time
	out     map[string]io.Writer
	pending map[string]*fragment
}

// add takes one piece of a line; whole says the line ends with it.
func (lw *logWriter) add(at time.Time, stream string, text []byte, whole bool) error {
	w, ok := lw.out[stream]
	if !ok {
		return nil // neither stdout nor stderr: not a line of output
	}
	p := lw.pending[stream]
	if p == nil {
		p = &fragment{at: at}
		lw.pending[stream] = p
	}
	p.text = append(p.text, text...)
	if !whole && len(p.text) < maxLogLine {
		return nil
	}
	delete(lw.pending, stream)
	if !p.at.IsZero() && p.at.Before(lw.since) {
		return nil // a line without a time is kept whatever the bound
	}
	line := append([]byte(p.at.UTC().Format(time.RFC3339Nano)+" "), p.text...)
	_, err := w.Write(append(line, '\n'))
	return err
}

// flush writes lines whose end never came (the container stopped midway).
func (lw *logWriter) flush() error {
	for _, stream := range []string{"stdout", "stderr"} {
		if p := lw.pending[stream]; p != nil {
			if err := lw.add(p.at, stream, nil, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// criLine parses the CRI log format: "TIME STREAM TAG CONTENT", TAG being
// F for a full line or P for a part of one. A line that does not parse is
// kept whole on stdout with the zero time, never dropped.
func (lw *logWriter) criLine(line []byte) error {
	f := bytes.SplitN(line, []byte(" "), 4)
	if len(f) == 4 {
		at, err := time.Parse(time.RFC3339Nano, string(f[0]))
		if err == nil {
			tags := strings.Split(string(f[2]), ":")
			return lw.add(at, string(f[1]), f[3], !slices.Contains(tags, "P"))
		}
	}
	return lw.add(time.Time{}, "stdout", line, true)
}

// jsonLine parses a line of Docker's json-file format (which nerdctl
// writes): the log text ends with a newline unless the line was split.
func (lw *logWriter) jsonLine(line []byte) error {
	var e struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return lw.add(time.Time{}, "stdout", line, true)
	}
	text, whole := strings.CutSuffix(e.Log, "\n")
	return lw.add(e.Time, e.Stream, []byte(text), whole)
}
