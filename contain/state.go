package contain

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"firebreak/internal/flock"
	"firebreak/internal/fsutil"
	"firebreak/runtime"
)

// DefaultStateDir is where containment records live unless told otherwise.
const DefaultStateDir = "/var/lib/firebreak/state"

// Record is what Firebreak holds on one container: written before each act,
// updated after it, so that release works after a crash of Firebreak itself.
type Record struct {
	Version   int               `json:"version"`
	Runtime   string            `json:"runtime"`
	Namespace string            `json:"namespace,omitempty"` // containerd namespace
	Container runtime.Container `json:"container"`
	Case      string            `json:"case,omitempty"`
	Actor     string            `json:"actor,omitempty"`
	Since     time.Time         `json:"since"`
	Updated   time.Time         `json:"updated"`
	// Phase is "containing" while acts are under way, "contained" when
	// all succeeded, "releasing" while a release is under way, "ended" for
	// a container Firebreak stopped or killed without containing it.
	Phase   string       `json:"phase"`
	Network *NetworkHold `json:"network,omitempty"`
	Pause   *PauseHold   `json:"pause,omitempty"`
	Ended   *EndHold     `json:"ended,omitempty"` // stopped or killed by Firebreak
	Pod     *PodRef      `json:"pod,omitempty"`   // held as a member of this Kubernetes pod
	Log     []Entry      `json:"log"`
}

// NetworkHold is the network part of a containment.
type NetworkHold struct {
	NetNSPath  string   `json:"netns_path,omitempty"`
	NetNSInode uint64   `json:"netns_inode,omitempty"`
	Allow      []string `json:"allow,omitempty"`
	Firewall   bool     `json:"firewall"` // drop rules installed
	// Installed is every prefix the drop rules let through as installed:
	// Allow and the quarantine network's subnets. Status checks the rules
	// in the namespace against it.
	Installed  []string        `json:"installed_allow,omitempty"`
	Detached   []Detachment    `json:"detached,omitempty"`
	Quarantine *QuarantineHold `json:"quarantine,omitempty"`
}

// Detachment is one engine network the container was attached to before
// containment, recorded in full before it was detached.
type Detachment struct {
	Attachment runtime.Attachment `json:"attachment"`
	Done       bool               `json:"done"` // the detach call succeeded
}

// QuarantineHold records the internal network attached for forensic access.
type QuarantineHold struct {
	Network  runtime.Network `json:"network"`
	Attached bool            `json:"attached"`
}

// PauseHold records the freeze.
type PauseHold struct {
	WasPaused bool `json:"was_paused"` // paused before Firebreak came: release leaves it paused
	Paused    bool `json:"paused"`     // Firebreak paused it
}

// Entry is one line of a record's history.
type Entry struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// Held reports whether anything is still held.
func (r *Record) Held() bool {
	if r == nil {
		return false
	}
	if (r.Pause != nil && r.Pause.Paused) || r.Ended != nil {
		return true
	}
	if n := r.Network; n != nil {
		if n.Firewall || (n.Quarantine != nil && n.Quarantine.Attached) {
			return true
		}
		for _, d := range n.Detached {
			if d.Done {
				return true
			}
		}
	}
	return false
}

// Records keeps containment records as one JSON file per container, written
// atomically (temp file, fsync, rename, fsync of the directory).
type Records struct {
	dir string
}

// OpenRecords opens (creating if needed) the state directory and its held/
// and released/ record directories.
func OpenRecords(dir string) (*Records, error) {
	if dir == "" {
		dir = DefaultStateDir
	}
	// Nothing is created here: a read (status, a dry run) leaves no trace;
	// the directories are made by the first write.
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("state directory %s: %w (hint: set --state-dir or FIREBREAK_STATE_DIR to a writable directory)", dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("state directory %s is not a directory (hint: set --state-dir or FIREBREAK_STATE_DIR to a writable directory)", dir)
	}
	return &Records{dir: dir}, nil
}

func mkdir(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("creating state directory %s: %w (hint: set --state-dir or FIREBREAK_STATE_DIR to a writable directory)", d, err)
	}
	return nil
}

// Dir is the state directory.
func (s *Records) Dir() string { return s.dir }

func key(rt, ns, id string) string {
	if ns != "" {
		return rt + "_" + ns + "_" + id
	}
	return rt + "_" + id
}

func (s *Records) path(rt, ns, id string) string {
	return filepath.Join(s.dir, "held", key(rt, ns, id)+".json")
}

// Load returns the record for a container, or nil when none is held.
func (s *Records) Load(rt, ns, id string) (*Record, error) {
	b, err := os.ReadFile(s.path(rt, ns, id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading containment record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &DamagedRecordError{Path: s.path(rt, ns, id), Err: err}
	}
	return &r, nil
}

// Save writes the record atomically.
func (s *Records) Save(r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding containment record: %w", err)
	}
	if err := mkdir(filepath.Join(s.dir, "held")); err != nil {
		return err
	}
	return writeAtomic(s.path(r.Runtime, r.Namespace, r.Container.ID), append(b, '\n'))
}

// Retire moves a fully released record to released/, stamped with the time,
// so the history stays and status no longer shows it as held.
func (s *Records) Retire(r *Record, at time.Time) error {
	if err := s.Save(r); err != nil {
		return err
	}
	if err := mkdir(filepath.Join(s.dir, "released")); err != nil {
		return err
	}
	dst := filepath.Join(s.dir, "released", key(r.Runtime, r.Namespace, r.Container.ID)+"."+at.UTC().Format("20060102T150405.000000000Z")+".json")
	if err := os.Rename(s.path(r.Runtime, r.Namespace, r.Container.ID), dst); err != nil {
		return fmt.Errorf("retiring containment record: %w", err)
	}
	return fsutil.SyncDir(filepath.Join(s.dir, "held"))
}

// List returns every held record of an engine (and namespace), oldest
// first. Records that do not read are left out and named by a
// *DamagedRecordsError returned beside the rest.
func (s *Records) List(rt, ns string) ([]*Record, error) {
	names, err := s.files("held", rt, ns)
	if err != nil {
		return nil, err
	}
	prefix := key(rt, ns, "")
	var out []*Record
	var damaged []*DamagedRecordError
	for _, name := range names {
		r, err := s.Load(rt, ns, strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".json"))
		var dmg *DamagedRecordError
		if errors.As(err, &dmg) {
			damaged = append(damaged, dmg)
			continue
		}
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	if damaged != nil {
		return out, &DamagedRecordsError{Records: damaged}
	}
	return out, nil
}

// files names the record files of an engine (and namespace) in sub (held
// or released); none when nothing was ever put there.
func (s *Records) files(sub, rt, ns string) ([]string, error) {
	prefix := key(rt, ns, "")
	ents, err := os.ReadDir(filepath.Join(s.dir, sub))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state directory: %w", err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".json") {
			continue
		}
		if ns == "" && strings.Contains(strings.TrimPrefix(name, prefix), "_") {
			continue // another namespace's record
		}
		out = append(out, name)
	}
	return out, nil
}

// DamagedRecordError is a held record that does not read. It is kept as it
// is: a release needs what it says of the networks.
type DamagedRecordError struct {
	Path string
	Err  error
}

func (e *DamagedRecordError) Error() string {
	return fmt.Sprintf("containment record %s is damaged: %v (kept as it is: a release needs what it says of the container's networks; mend its JSON by hand, or move it aside to give the container up)", e.Path, e.Err)
}

func (e *DamagedRecordError) Unwrap() error { return e.Err }

// DamagedRecordsError is what List returns beside the records it could
// read: the ones it could not. A caller that shows or acts on the others
// goes on with them and reports this at the end.
type DamagedRecordsError struct{ Records []*DamagedRecordError }

func (e *DamagedRecordsError) Error() string {
	var b strings.Builder
	for i, r := range e.Records {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Error())
	}
	return b.String()
}

// Readable returns err as a *DamagedRecordsError when that is all it is:
// the records List returned beside it are the rest, to go on with.
func Readable(err error) (*DamagedRecordsError, bool) {
	var d *DamagedRecordsError
	return d, errors.As(err, &d)
}

// History returns every record of an engine (and namespace), held and
// released, oldest first. A record that cannot be read is left out: a
// history is read for a bound (when a container was first contained),
// where the records that can be read still count.
func (s *Records) History(rt, ns string) ([]*Record, error) {
	var out []*Record
	for _, sub := range []string{"held", "released"} {
		names, err := s.files(sub, rt, ns)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(s.dir, sub, name))
			var r Record
			if err == nil && json.Unmarshal(b, &r) == nil {
				out = append(out, &r)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, nil
}

// Lock takes an exclusive lock on a container's record for the life of one
// contain or release. It fails at once, naming the holder, when another
// Firebreak process holds it. The lock dies with the process that holds it.
func (s *Records) Lock(rt, ns, id string) (unlock func(), err error) {
	return lockFile(filepath.Join(s.dir, "held", key(rt, ns, id)+".lock"), id, "")
}

// lockFile takes one holder-recording lock for the container id; what, if
// given, says what the holder does. A lock held elsewhere is a *BusyError.
func lockFile(path, id, what string) (func(), error) {
	host, _ := os.Hostname()
	holder := "pid " + strconv.Itoa(os.Getpid()) + " on " + host
	if what != "" {
		holder += ", " + what + ","
	}
	holder += " since " + time.Now().UTC().Format(time.RFC3339)
	l, err := flock.TryLock(path, holder)
	var held *flock.HeldError
	if errors.As(err, &held) {
		return nil, &BusyError{ID: id, Holder: held.Holder}
	}
	if err != nil {
		return nil, err
	}
	// Unlock releases the lock even when it cannot remove the file, and a
	// file left behind blocks nobody: nothing to report.
	return func() { _ = l.Unlock() }, nil
}

// Elsewhere counts the held records of other engines and namespaces than
// rt and ns ("containerd/k8s.io" -> 2), so a status of one engine can say
// that another holds containers too.
func (s *Records) Elsewhere(rt, ns string) (map[string]int, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "held"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state directory: %w", err)
	}
	out := map[string]int{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "held", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading containment record: %w", err)
		}
		var r Record
		if json.Unmarshal(b, &r) != nil || !r.Held() || (r.Runtime == rt && r.Namespace == ns) {
			continue // a damaged record is reported where it is loaded
		}
		where := r.Runtime
		if r.Namespace != "" {
			where += "/" + r.Namespace
		}
		out[where]++
	}
	return out, nil
}

// LockTarget takes the target's lock for the life of one run or one act
// from outside a run: a playbook run holds it until it ends, and contain,
// release, stop and kill from the command line take it too, so no act
// lands on a container a run is working on. It fails at once with a
// *BusyError naming the holder (pid, host, and what it does).
func (s *Records) LockTarget(rt, ns, id, what string) (unlock func(), err error) {
	return lockFile(filepath.Join(s.dir, "runs", "locks", key(rt, ns, id)+".lock"), id, what)
}

// BusyError says another Firebreak process is acting on the container.
type BusyError struct {
	ID     string
	Holder string
}

func (e *BusyError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another firebreak process"
	}
	return fmt.Sprintf("container %.12s is being acted on by %s; wait for it to finish", e.ID, h)
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	return fsutil.SyncDir(dir)
}
