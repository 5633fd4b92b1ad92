package drill

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"firebreak/internal/yamlnode"
	"firebreak/playbooks"
)

// Limits on what the loader reads, so that a hostile or broken file cannot
// make it use unbounded time or memory.
const (
	MaxFileSize     = 1 << 20
	maxDepth        = 32
	maxInjects      = 500
	maxExpectations = 100 // per inject
)

// Decoys are the decoy kinds a live scenario may name.
var Decoys = []string{"engine-socket", "host-mount", "nsenter", "kernel-helper", "cryptominer", "reverse-shell", "dropped-binary", "backup-restore"}

// ArtifactKinds are what an "artifact:KIND" event may name: a planted
// artifact found in the captured evidence.
var ArtifactKinds = []string{
	"file",    // the planted file, in the filesystem diff or the decoy host root
	"process", // the decoy's process, in the process tree
	"socket",  // the beacon or shell connection, in the network state
	"binary",  // the deleted binary's content, recovered from the process
	"call",    // the refused engine API calls, in the decoy socket's log
	"mount",   // the sensitive host mount, in the container's configuration
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	idPattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
)

// Parse reads a scenario and checks it as far as it can alone: structure,
// IDs, triggers, events, techniques. It returns playbooks.Errors, every
// problem at file:line:column with what to fix. Validate also checks that
// the scenario's playbooks exist.
func Parse(file string, data []byte) (*Scenario, error) {
	s, _, errs := parsePartial(file, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// PlaybookFinder finds playbooks by name; playbooks.Library is one.
type PlaybookFinder interface {
	Load(ref string) (*playbooks.Playbook, error)
}

// Validate parses a scenario and checks that the playbooks it names (the one
// the team is expected to use, and any "playbook:NAME" event) exist in pl
// and parse. Every error found is reported at once, in file order.
func Validate(file string, data []byte, pl PlaybookFinder) (*Scenario, error) {
	s, refs, errs := parsePartial(file, data)
	if s == nil {
		return nil, errs
	}
	p := &parser{Reader: yamlnode.Reader{File: file}}
	for _, ref := range refs {
		if _, err := pl.Load(ref.name); err != nil {
			p.Errs = append(p.Errs, &playbooks.Error{Pos: ref.pos, Msg: fmt.Sprintf("playbook %q: %s", ref.name, firstLine(err))})
		}
	}
	errs = append(errs, p.Errs...)
	if len(errs) > 0 {
		yamlnode.Sort(errs)
		return nil, errs
	}
	return s, nil
}

func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// parsePartial parses what it can: the scenario as far as it parsed, and
// the errors. A nil scenario means nothing could be parsed.
func parsePartial(file string, data []byte) (*Scenario, []playbookRef, playbooks.Errors) {
	at1 := playbooks.Pos{File: file, Line: 1, Col: 1}
	if len(data) > MaxFileSize {
		return nil, nil, playbooks.Errors{{Pos: at1, Msg: fmt.Sprintf("file is %d bytes; a scenario may be at most %d", len(data), MaxFileSize)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, playbooks.Errors{yamlnode.SyntaxError(file, err)}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, playbooks.Errors{{Pos: at1, Msg: "the file is empty: a scenario needs name, kind, title, narrative, objectives and injects"}}
	}
	p := &parser{Reader: yamlnode.Reader{File: file}}
	if err := p.CheckTree(doc.Content[0], maxDepth, "scenarios"); err != nil {
		return nil, nil, playbooks.Errors{err}
	}
	s := p.scenario(doc.Content[0])
	s.Source = data
	yamlnode.Sort(p.Errs)
	return s, p.playbookRefs, p.Errs
}

type parser struct {
	yamlnode.Reader
	// events to check once every inject is known
	events []eventRef
	// afters are the after-triggers, for the cycle check
	afters map[string]*yaml.Node
	// playbookRefs are the playbooks named, for Validate to look up
	playbookRefs []playbookRef
}

type eventRef struct {
	ev   string
	node *yaml.Node
	what string
}

// playbookRef is a playbook a scenario names, to look up in Validate.
type playbookRef struct {
	name string
	pos  playbooks.Pos
}

func (p *parser) str(n *yaml.Node, what string) string {
	s, _ := p.Str(n, what)
	return s
}

func (p *parser) strs(n *yaml.Node, what string) []string {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "%s must be a list, e.g. [a, b]", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		out = append(out, p.str(c, what))
	}
	return out
}

func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	d, err := playbooks.ParseDuration(p.str(n, what))
	if err != nil && n.Kind == yaml.ScalarNode {
		p.Errorf(n, "%s: %v", what, err)
	}
	return d
}

func (p *parser) id(n *yaml.Node, what string) string {
	id := p.str(n, what)
	if id != "" && !idPattern.MatchString(id) {
		p.Errorf(n, "%s %q: use letters, digits, '_' and '-', starting with a letter (at most 32)", what, id)
	}
	return id
}

func (p *parser) scenario(n *yaml.Node) *Scenario {
	s := &Scenario{Pos: p.Pos(n), Roles: Roles{Facilitator: "facilitator", Responders: []string{"responder"}}}
	var objectivesNode, injectsNode, kindNode, decoyNode, nameNode *yaml.Node
	seen := p.Fields(n, "the scenario", map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) { nameNode = v; s.Name = p.str(v, "name") },
		"kind": func(v *yaml.Node) { kindNode = v; s.Kind = Kind(p.str(v, "kind")) },
		"title": func(v *yaml.Node) {
			if s.Title = p.str(v, "title"); s.Title == "" && v.Kind == yaml.ScalarNode {
				p.Errorf(v, "title is empty: give the scenario a title")
			}
		},
		"description": func(v *yaml.Node) { s.Description = p.str(v, "description") },
		"narrative":   func(v *yaml.Node) { s.Narrative = strings.TrimRight(p.str(v, "narrative"), "\n") },
		"objectives":  func(v *yaml.Node) { objectivesNode = v },
		"roles":       func(v *yaml.Node) { s.Roles = p.roles(v) },
		"decoy":       func(v *yaml.Node) { decoyNode = v; s.Decoy = p.str(v, "decoy") },
		"playbook": func(v *yaml.Node) {
			s.Playbook = p.str(v, "playbook")
			if s.Playbook != "" {
				p.playbookRefs = append(p.playbookRefs, playbookRef{s.Playbook, p.Pos(v)})
			}
		},
		"targets":    func(v *yaml.Node) { s.Targets = p.targets(v) },
		"techniques": func(v *yaml.Node) { s.Techniques = p.techniques(v) },
		"injects":    func(v *yaml.Node) { injectsNode = v },
	})
	if n.Kind != yaml.MappingNode {
		return s
	}
	for _, req := range []struct{ key, fix string }{
		{"name", "add name: <the file's name without .yaml>"},
		{"kind", "add kind: live or kind: tabletop"},
		{"title", "add title: <a short title>"},
		{"narrative", "add narrative: <the story told at the start>"},
		{"objectives", "add objectives: with at least one {id, text}"},
		{"injects", "add injects: with at least one inject"},
	} {
		if seen[req.key] == nil {
			p.Errorf(n, "the scenario has no %s: %s", req.key, req.fix)
		}
	}
	if nameNode != nil && s.Name != "" {
		base := filepath.Base(p.File)
		base = strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
		switch {
		case !namePattern.MatchString(s.Name):
			p.Errorf(nameNode, "name %q: use letters, digits, '.', '_' and '-' (it names the drill's reports and the decoys)", s.Name)
		case base != s.Name:
			p.Errorf(nameNode, "name %q differs from the file's name %q: name a scenario as its file (%s.yaml)", s.Name, base, s.Name)
		}
	}
	if kindNode != nil {
		switch s.Kind {
		case KindLive:
			if decoyNode == nil {
				p.Errorf(kindNode, "a live scenario needs a decoy: add decoy: one of %s", strings.Join(Decoys, ", "))
			}
			if s.Playbook == "" {
				p.Errorf(kindNode, "a live scenario needs the playbook the team is expected to use: add playbook: <name>")
			}
		case KindTabletop:
			if decoyNode != nil {
				p.Errorf(decoyNode, "decoy is for live scenarios: remove it, or make the scenario kind: live")
			}
		case "":
		default:
			p.Errorf(kindNode, "kind %q: use live or tabletop", s.Kind)
		}
	}
	if decoyNode != nil && s.Decoy != "" && !slices.Contains(Decoys, s.Decoy) {
		p.Errorf(decoyNode, "unknown decoy %q: use one of %s", s.Decoy, strings.Join(Decoys, ", "))
	}
	if objectivesNode != nil {
		s.Objectives = p.objectives(objectivesNode)
	}
	if injectsNode != nil {
		s.Injects = p.injects(injectsNode, s)
	}
	p.checkEvents(s)
	return s
}

func (p *parser) roles(n *yaml.Node) Roles {
	r := Roles{Facilitator: "facilitator"}
	p.Fields(n, "roles", map[string]func(*yaml.Node){
		"facilitator": func(v *yaml.Node) { r.Facilitator = p.str(v, "facilitator") },
		"responders":  func(v *yaml.Node) { r.Responders = p.strs(v, "responders") },
		"observers":   func(v *yaml.Node) { r.Observers = p.strs(v, "observers") },
	})
	if n.Kind == yaml.MappingNode && len(r.Responders) == 0 {
		p.Errorf(n, "roles name no responders: add responders: [<role>, ...]")
	}
	return r
}

func (p *parser) targets(n *yaml.Node) Targets {
	var t Targets
	p.Fields(n, "targets", map[string]func(*yaml.Node){
		"detect":   func(v *yaml.Node) { t.Detect = p.duration(v, "detect") },
		"contain":  func(v *yaml.Node) { t.Contain = p.duration(v, "contain") },
		"evidence": func(v *yaml.Node) { t.Evidence = p.duration(v, "evidence") },
		"restore":  func(v *yaml.Node) { t.Restore = p.duration(v, "restore") },
	})
	return t
}

func (p *parser) techniques(n *yaml.Node) []string {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "techniques must be a list of ATT&CK IDs, e.g. [T1610, T1611]")
		return nil
	}
	var out []string
	for _, c := range n.Content {
		id := p.str(c, "a technique")
		switch {
		case id == "":
		case !techniquePattern.MatchString(id):
			p.Errorf(c, "technique %q: write an ATT&CK technique ID such as T1611 or T1552.007", id)
		case !knownTechnique(id):
			p.Errorf(c, "unknown technique %q: name an ATT&CK for Containers technique such as T1610 (Deploy Container) or T1611 (Escape to Host)", id)
		case slices.Contains(out, id):
			p.Errorf(c, "technique %s is listed twice", id)
		default:
			out = append(out, id)
		}
	}
	return out
}

func knownTechnique(id string) bool { _, ok := techniques[id]; return ok }

func (p *parser) objectives(n *yaml.Node) []*Objective {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.Errorf(n, "objectives must be a list of at least one {id, text}")
		return nil
	}
	var out []*Objective
	ids := map[string]bool{}
	for _, on := range n.Content {
		o := &Objective{Pos: p.Pos(on)}
		seen := p.Fields(on, "an objective", map[string]func(*yaml.Node){
			"id":   func(v *yaml.Node) { o.ID = p.id(v, "objective id") },
			"text": func(v *yaml.Node) { o.Text = p.str(v, "text") },
		})
		if on.Kind != yaml.MappingNode {
			continue
		}
		if seen["id"] == nil {
			p.Errorf(on, "objective has no id: add id: O1")
		} else if o.ID != "" {
			if ids[o.ID] {
				p.Errorf(seen["id"], "objective id %q is used twice", o.ID)
			}
			ids[o.ID] = true
		}
		if o.Text == "" && seen["text"] == nil {
			p.Errorf(on, "objective %q has no text: add text: <what the team is to show it can do>", o.ID)
		}
		out = append(out, o)
	}
	return out
}

func (p *parser) injects(n *yaml.Node, s *Scenario) []*Inject {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.Errorf(n, "injects must be a list of at least one inject")
		return nil
	}
	if len(n.Content) > maxInjects {
		p.Errorf(n, "%d injects; a scenario may have at most %d", len(n.Content), maxInjects)
		return nil
	}
	var out []*Inject
	injectIDs := map[string]bool{}
	expectIDs := map[string]bool{}
	p.afters = map[string]*yaml.Node{}
	for _, in := range n.Content {
		inj := p.inject(in, s)
		if inj == nil {
			continue
		}
		if inj.ID != "" {
			if injectIDs[inj.ID] {
				p.Errorf(in, "inject id %q is used twice", inj.ID)
			}
			injectIDs[inj.ID] = true
		}
		for _, e := range inj.Expectations {
			if e.ID == "" {
				continue
			}
			if expectIDs[e.ID] {
				p.Errs = append(p.Errs, &playbooks.Error{Pos: e.Pos, Msg: fmt.Sprintf("expectation id %q is used twice (expectation IDs are unique in the scenario: the facilitator judges them by ID)", e.ID)})
			}
			expectIDs[e.ID] = true
		}
		out = append(out, inj)
	}
	return out
}

func (p *parser) inject(n *yaml.Node, s *Scenario) *Inject {
	inj := &Inject{Pos: p.Pos(n)}
	var reserve bool
	var expectNode *yaml.Node
	seen := p.Fields(n, "an inject", map[string]func(*yaml.Node){
		"id":    func(v *yaml.Node) { inj.ID = p.id(v, "inject id") },
		"at":    func(v *yaml.Node) { inj.At = p.duration(v, "at") },
		"after": func(v *yaml.Node) { inj.After = p.str(v, "after") },
		"reserve": func(v *yaml.Node) {
			if b, ok := p.Bool(v, "reserve"); ok {
				reserve = b
			}
		},
		"title":    func(v *yaml.Node) { inj.Title = p.str(v, "title") },
		"text":     func(v *yaml.Node) { inj.Text = strings.TrimRight(p.str(v, "text"), "\n") },
		"question": func(v *yaml.Node) { inj.Question = strings.TrimRight(p.str(v, "question"), "\n") },
		"to":       func(v *yaml.Node) { inj.To = p.to(v, s.Roles) },
		"expect":   func(v *yaml.Node) { expectNode = v },
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if seen["id"] == nil {
		p.Errorf(n, "inject has no id: add id: I1")
	}
	switch {
	case reserve && (seen["at"] != nil || seen["after"] != nil):
		p.Errorf(seen["reserve"], "a reserve inject is played by the facilitator, not on a trigger: remove at/after, or reserve")
	case reserve:
		inj.Trigger = TriggerReserve
	case seen["after"] != nil:
		inj.Trigger = TriggerAfter
		if inj.After != "" {
			an := seen["after"]
			p.events = append(p.events, eventRef{inj.After, valueOf(n, an), "after"})
			if inj.ID != "" {
				p.afters[inj.ID] = valueOf(n, an)
			}
		}
	case seen["at"] != nil:
		inj.Trigger = TriggerOffset
	default:
		p.Errorf(n, "inject %q has no trigger: give at: (an offset from the start), after: (an event), or reserve: true", inj.ID)
	}
	if inj.Title == "" {
		p.Errorf(n, "inject %q has no title: add title: <what it is, in a few words>", inj.ID)
	}
	if inj.Text == "" {
		p.Errorf(n, "inject %q has no text: add text: <what the participants are told>", inj.ID)
	}
	if expectNode != nil {
		inj.Expectations = p.expectations(expectNode, inj)
	}
	return inj
}

// valueOf is the value node of key k in mapping n.
func valueOf(n, k *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i] == k {
			return n.Content[i+1]
		}
	}
	return k
}

func (p *parser) to(n *yaml.Node, r Roles) []string {
	names := p.strs(n, "to")
	for i, name := range names {
		switch {
		case name == "everyone" || name == "responders" || name == "observers" || name == "facilitator":
		case name == r.Facilitator || slices.Contains(r.Responders, name) || slices.Contains(r.Observers, name):
		case name != "":
			p.Errorf(n.Content[i], "to %q: name a role (everyone, facilitator, responders, observers, or one listed under roles)", name)
		}
	}
	return names
}

func (p *parser) expectations(n *yaml.Node, inj *Inject) []*Expectation {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "expect must be a list of expectations")
		return nil
	}
	if len(n.Content) > maxExpectations {
		p.Errorf(n, "%d expectations; an inject may have at most %d", len(n.Content), maxExpectations)
		return nil
	}
	var out []*Expectation
	for _, en := range n.Content {
		e := &Expectation{Pos: p.Pos(en)}
		var eventNode *yaml.Node
		seen := p.Fields(en, "an expectation", map[string]func(*yaml.Node){
			"id":    func(v *yaml.Node) { e.ID = p.id(v, "expectation id") },
			"kind":  func(v *yaml.Node) { e.Kind = ExpectKind(p.str(v, "kind")) },
			"event": func(v *yaml.Node) { eventNode = v; e.Event = p.str(v, "event") },
			"text":  func(v *yaml.Node) { e.Text = p.str(v, "text") },
			"points": func(v *yaml.Node) {
				if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
					p.Errorf(v, "points must be a whole number")
					return
				}
				n, err := strconv.Atoi(v.Value)
				switch {
				case err != nil:
					p.Errorf(v, "points: %v", err)
				case n < 0:
					p.Errorf(v, "points %d: points cannot be negative (give 0 for an expectation that is not scored)", n)
				case n > 10000:
					p.Errorf(v, "points %d: give at most 10000", n)
				default:
					e.Points = n
				}
			},
			"deadline": func(v *yaml.Node) { e.Deadline = p.duration(v, "deadline") },
		})
		if en.Kind != yaml.MappingNode {
			continue
		}
		if seen["id"] == nil {
			p.Errorf(en, "expectation has no id: add id: E1")
		}
		if seen["text"] == nil {
			p.Errorf(en, "expectation %q has no text: add text: <what the team should do>", e.ID)
		}
		switch e.Kind {
		case ExpectAction, ExpectFinding:
			if eventNode == nil {
				p.Errorf(en, "%s expectation %q needs the event that meets it: add event: (e.g. contained, evidence, artifact:file)", e.Kind, e.ID)
			} else if e.Event != "" {
				p.events = append(p.events, eventRef{e.Event, eventNode, "event"})
			}
		case ExpectAnswer:
			if eventNode != nil {
				p.Errorf(eventNode, "an answer expectation is judged by the facilitator, not met by an event: remove event:, or make it kind: action")
			}
			if inj.Question == "" {
				p.Errorf(en, "answer expectation %q needs a question to answer: add question: to inject %q", e.ID, inj.ID)
			}
		case "":
			if seen["kind"] == nil {
				p.Errorf(en, "expectation %q has no kind: add kind: action, finding or answer", e.ID)
			}
		default:
			p.Errorf(seen["kind"], "expectation kind %q: use action, finding or answer", e.Kind)
		}
		out = append(out, e)
	}
	return out
}
