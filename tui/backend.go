// Package tui is the responder's console: a Bubble Tea program over the same
// case sessions the CLI uses. It has no logic of its own: every act is a
// call on Backend, which the real console answers with internal/app's
// Session methods, the ones the CLI's verbs call, and which component tests
// answer with a fake. Update never does I/O: each engine or store call is a
// tea.Cmd whose result message carries the generation it was asked under, so
// an older answer never overwrites a newer one.
package tui

import (
	"context"
	"io"
	"strings"
	"time"
	"unicode"

	"firebreak/alerts"
	"firebreak/collect"
	"firebreak/contain"
	"firebreak/evidence"
	"firebreak/internal/progress"
	"firebreak/playbooks"
	"firebreak/recover"
	"firebreak/runtime"
)

// Item is one container as the console lists it: the engine it lives on and
// what Firebreak holds of it.
type Item struct {
	Engine string // "docker", or "containerd/NAMESPACE"
	runtime.Container
	Held *contain.Record // nil when Firebreak holds nothing of it
	// Drift says how a held container runs other than as held (drop rules
	// gone, thawed by hand, started again): contain's Live.Drift, as
	// `firebreak status` shows it. "" when it does not, or nothing is held.
	Drift string
}

// Key identifies an item across engines.
func (i Item) Key() string { return i.Engine + "/" + i.ID }

// Ref is how the CLI names the container: its name, else its short ID.
func (i Item) Ref() string {
	if i.Name != "" {
		return i.Name
	}
	return i.ShortID()
}

// CLIRef is how a command line to paste names the container: its name, or
// its full ID when the name holds a character that does not show as typed
// (control, format and bidi characters, other non-printing runes), since a
// name shown inert cannot be pasted back.
func (i Item) CLIRef() string {
	if i.Name == "" || strings.IndexFunc(i.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return i.ID
	}
	return i.Name
}

// EngineEvent is one change an engine reported about a container.
type EngineEvent struct {
	Engine string
	ID     string
	Action string // create, start, die, pause, unpause, destroy, rename, ...
	Time   time.Time
}

// Detail is what the detail view shows of one container.
type Detail struct {
	Details    runtime.Details
	Assessment *collect.Assessment
	Processes  []Process
	Sockets    []string // one line per socket, as read from the container's network namespace
	Mounts     []string // one line per mount: type source -> destination (options)
	History    []string // what Firebreak did to it: the containment record's log and console acts
}

// Process is one process of a container's tree.
type Process struct {
	PID, PPID int
	User      string
	Cmdline   string
	Depth     int // 0 for the container's init
}

// PlaybookInfo describes a playbook the console can run.
type PlaybookInfo struct {
	Name, Description, Source string // Source: "built-in" or the file
	Params                    []*playbooks.ParamDecl
}

// RunRequest is a playbook run the console starts.
type RunRequest struct {
	Playbook string
	Targets  []Item // on one engine
	Params   map[string]string
	Case     string // "" for a new case
	Events   func(playbooks.Event)
	Approver playbooks.Approver
	// Resume resumes the run of Case (`firebreak run --resume CASE`, or
	// `firebreak approve CASE STEP...` with Approve): its targets and
	// parameters are the journal's; Targets only name the engine.
	Resume  bool
	Approve []string // steps approved in advance (--approve)
}

// Act is one act the console took, journalled with the command line the CLI
// would run for it.
type Act struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Act     string    `json:"act"` // contain, release, run, collect, lift-read-only, ...
	Target  string    `json:"target,omitempty"`
	Command string    `json:"command"`          // the equivalent CLI command line
	Result  string    `json:"result,omitempty"` // done, failed: ..., refused: ...
}

// Captured is what a capture left in its case.
type Captured struct {
	Case      string
	Artifacts int
	Failed    []string // "NAME: why", one per target that failed
	Head      string   // the case's custody head after the run ("" when it could not be finished)
	Pending   string   // evidence still in the spool, not yet in the store ("" when none)
}

// CaseSummary is one case in the evidence store.
type CaseSummary struct {
	ID        string
	Runs      int
	Artifacts int
	Bytes     int64
	Updated   time.Time
}

// Backend is what the console asks of the engines and the store. Every
// method may block; the console calls them only from commands.
type Backend interface {
	// Engines names the connected engines ("docker", "containerd/default").
	Engines() []string
	// List lists every container of every engine with what Firebreak
	// holds of it; used at start and on resync only.
	List(ctx context.Context) ([]Item, error)
	// Get reads one container after an engine event (no list call).
	Get(ctx context.Context, engine, id string) (Item, error)
	// Watch sends engine events until ctx ends or an engine's stream
	// fails (then it returns the error and the console resyncs).
	Watch(ctx context.Context, send func(EngineEvent)) error
	// Assess triages containers as `firebreak triage` does.
	Assess(ctx context.Context, items []Item) ([]collect.Assessment, error)
	// Detail reads what the detail view shows.
	Detail(ctx context.Context, it Item) (*Detail, error)
	// Logs streams the container's recent log, following when asked.
	Logs(ctx context.Context, it Item, tail int, follow bool) (io.ReadCloser, error)

	// Contain and Release act as `firebreak contain` and `release` do
	// (network cut and freeze); dryRun plans without acting.
	Contain(ctx context.Context, it Item, dryRun bool) (*contain.Result, error)
	Release(ctx context.Context, it Item, dryRun bool) (*contain.Result, error)
	// Stop and Kill end the container's processes as `firebreak stop` and
	// `kill` do (a frozen one thawed first behind its drop rules), recorded
	// in its containment record under caseID. Neither can be undone; one
	// that does not run is left alone (Unchanged).
	Stop(ctx context.Context, it Item, grace time.Duration, caseID string) (*contain.Result, error)
	Kill(ctx context.Context, it Item, signal, caseID string) (*contain.Result, error)
	// Collect captures the containers' evidence (one engine) into a case as
	// `firebreak collect` does, without changing them; report (may be nil)
	// is told how each filesystem capture advances.
	Collect(ctx context.Context, items []Item, caseID string, report func(progress.Count)) (*Captured, error)
	// Backup snapshots a container's configuration and named volumes as
	// `firebreak backup` does.
	Backup(ctx context.Context, it Item) (*recover.Snapshot, error)
	// Recover plans (dryRun) or carries out a recover of the container's
	// name from a snapshot ("latest" or an ID) as `firebreak recover` does;
	// report (may be nil) is told how the restore of its volumes advances.
	Recover(ctx context.Context, it Item, caseID, from string, dryRun bool, report func(progress.Count)) (*recover.Recovery, error)
	// Playbooks lists the built-in playbooks and the user's.
	Playbooks() ([]PlaybookInfo, error)
	// Run runs a playbook as `firebreak run` does.
	Run(ctx context.Context, r RunRequest) (*playbooks.Report, error)

	// Marks says, by full container ID, what the store holds of each
	// container: "evidence" (a capture in some case), "backup" (a
	// snapshot).
	Marks(ctx context.Context) (map[string][]string, error)

	// Store is the evidence store (nil with none); it works with no
	// engine connected.
	Store() evidence.Store
	// Cases lists the cases in the store.
	Cases(ctx context.Context) ([]CaseSummary, error)
	// Verify verifies a case as `firebreak evidence verify` does.
	Verify(ctx context.Context, caseID string) (*evidence.Report, error)

	// Journal records an act of the console.
	Journal(a Act) error

	// Alerts reads serve's intake journal past from, as `firebreak alerts
	// ls` reads it (alerts.ReadTail): only what was written since, the
	// newest last stories begun since. No journal is an empty tail.
	Alerts(ctx context.Context, from alerts.Cursor, last int) (alerts.Tail, error)
	// Waiting reads from a case's run journal the steps its run waits to
	// have approved (what `firebreak approve CASE` would resume).
	Waiting(ctx context.Context, caseID string) (*playbooks.Waiting, error)
}
