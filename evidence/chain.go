package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Head is the head of one host's custody chain in a case: the hash of the
// newest custody entry of the host's newest run.
type Head struct {
	Host     string    `json:"host"`
	Head     string    `json:"head"`
	Run      string    `json:"run"`  // the run that ends there
	Runs     int       `json:"runs"` // the host's runs in the case
	Finished time.Time `json:"finished"`
}

// Anchor says where a head kept outside the store was found.
type Anchor struct {
	Head      string `json:"head"`
	Found     bool   `json:"found"`
	Host      string `json:"host,omitempty"`
	Run       string `json:"run,omitempty"` // the run whose custody log holds it
	RunsAfter int    `json:"runs_after"`    // the host's runs after that one
}

var headPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CheckHead refuses what is not a custody head: 64 lowercase hex digits.
func CheckHead(h string) error {
	if !headPattern.MatchString(h) {
		return fmt.Errorf("custody head %q: give the 64 hex digits as printed (`firebreak evidence head CASE` prints them)", h)
	}
	return nil
}

// Heads reads the manifests of a case and returns the head of each host's
// custody chain, hosts in the order of their first run. It checks nothing
// (VerifyCase does); a case without a finished run is a *NoRunError.
func Heads(ctx context.Context, s Store, caseID string) ([]Head, error) {
	ms, err := Manifests(ctx, s, caseID)
	if err != nil {
		return nil, err
	}
	c := newChains(caseID)
	for _, m := range ms {
		c.note(m, nil)
	}
	return c.heads(), nil
}

// HostHead is the head of one host's custody chain in a case ("" is this
// host), as Heads reads it; a host without a run there is a *NoRunError.
func HostHead(ctx context.Context, s Store, caseID, host string) (Head, error) {
	hs, err := Heads(ctx, s, caseID)
	if err != nil {
		return Head{}, err
	}
	if host == "" {
		host = thisHost()
	}
	for _, h := range hs {
		if h.Host == host {
			return h, nil
		}
	}
	return Head{}, &NoRunError{Case: caseID + " on host " + host, Store: s.String()}
}

// chains follows the custody chains of a case's runs, in the order of
// their IDs. Version 2 manifests chain per host: a run follows the newest
// earlier run of its host, or nothing. Version 1 manifests chained every
// run of the case in one line, and are held to that.
type chains struct {
	caseID   string
	last     string            // head of the run before, any host
	lastOf   map[string]string // each host's newest head so far
	ends     map[string]string // run head -> manifest key of the run that ends there
	follower map[string]string // host+"\x00"+prev -> manifest key of the run that follows prev
	byHost   map[string]*Head
	order    []string       // hosts in the order of their first run
	entries  map[string]int // every custody entry hash -> index in runs
	runs     []struct{ host, id string }
}

func newChains(caseID string) *chains {
	return &chains{caseID: caseID, lastOf: map[string]string{}, ends: map[string]string{},
		follower: map[string]string{}, byHost: map[string]*Head{}, entries: map[string]int{}}
}

// add checks that the run of manifest mk follows the run it should, and
// notes it.
func (c *chains) add(rep *Report, mk string, m Manifest, hashes []string) {
	if m.Version >= 2 {
		if want := c.lastOf[m.Host]; m.CustodyPrev != want {
			rep.add(mk, "%s", c.broken(m, want))
		}
	} else if m.CustodyPrev != c.last {
		rep.add(mk, "custody chain broken between runs: this run follows %.16s, the run before ended at %.16s", m.CustodyPrev, c.last)
	}
	if _, ok := c.follower[m.Host+"\x00"+m.CustodyPrev]; !ok {
		c.follower[m.Host+"\x00"+m.CustodyPrev] = mk
	}
	c.ends[m.CustodyHead] = mk
	c.note(m, hashes)
}

func (c *chains) note(m Manifest, hashes []string) {
	c.last, c.lastOf[m.Host] = m.CustodyHead, m.CustodyHead
	h := c.byHost[m.Host]
	if h == nil {
		h = &Head{Host: m.Host}
		c.byHost[m.Host] = h
		c.order = append(c.order, m.Host)
	}
	h.Head, h.Run, h.Finished = m.CustodyHead, m.Run, m.Finished
	h.Runs++
	for _, e := range hashes {
		c.entries[e] = len(c.runs)
	}
	c.runs = append(c.runs, struct{ host, id string }{m.Host, m.Run})
}

// broken says how a version 2 run fails to follow its host's run before.
func (c *chains) broken(m Manifest, want string) string {
	host := hostName(m.Host)
	if other, ok := c.follower[m.Host+"\x00"+m.CustodyPrev]; ok {
		return fmt.Sprintf("custody chain of %s forked: this run and %s both follow %.16s (two runs of the case were open at once on that host)", host, other, m.CustodyPrev)
	}
	if m.CustodyPrev == "" {
		return fmt.Sprintf("custody chain of %s starts again: this run follows nothing, the host's run before ended at %.16s", host, want)
	}
	if mk, ok := c.ends[m.CustodyPrev]; ok {
		return fmt.Sprintf("custody chain of %s broken: this run follows %s (%.16s), but the host's run before ended at %.16s", host, mk, m.CustodyPrev, want)
	}
	what := "the host's first run"
	if want != "" {
		what = fmt.Sprintf("the host's run before ended at %.16s", want)
	}
	return fmt.Sprintf("custody chain of %s broken: this run follows %.16s, which ends no run in the case (a run was removed, or this one was copied from elsewhere); %s", host, m.CustodyPrev, what)
}

// heads is the head of each host's chain.
func (c *chains) heads() []Head {
	out := make([]Head, 0, len(c.order))
	for _, h := range c.order {
		out = append(out, *c.byHost[h])
	}
	return out
}

// anchor finds each head kept outside the store among the custody entries
// of the case, and names each one that is not there.
func (c *chains) anchor(rep *Report, heads []string) []Anchor {
	var out []Anchor
	for _, h := range heads {
		i, ok := c.entries[h]
		if !ok {
			var newest []string
			for _, hh := range c.heads() {
				newest = append(newest, fmt.Sprintf("%s %.16s", hostName(hh.Host), hh.Head))
			}
			rep.add(CasePrefix(c.caseID)+"runs/", "anchored custody head %s is not in the case's custody chain: the run that held it, or the whole chain up to it, was removed or replaced (newest heads stored: %s)",
				h, strings.Join(newest, ", "))
			out = append(out, Anchor{Head: h})
			continue
		}
		a := Anchor{Head: h, Found: true, Host: c.runs[i].host, Run: c.runs[i].id}
		for _, r := range c.runs[i+1:] {
			if r.host == a.Host {
				a.RunsAfter++
			}
		}
		out = append(out, a)
	}
	return out
}

func hostName(h string) string {
	if h == "" {
		return "an unrecorded host"
	}
	return "host " + h
}

// runOfKey is the run a manifest is stored as.
func runOfKey(caseID, mk string) string {
	return strings.TrimSuffix(strings.TrimPrefix(mk, CasePrefix(caseID)+"runs/"), "/manifest.json")
}

// inCase reports whether key names an object of the case.
func inCase(caseID, key string) bool {
	return CheckKey(key) == nil && strings.HasPrefix(key, CasePrefix(caseID))
}

// checkPlacement names a manifest that is not of the case and run it is
// stored as, or that lists objects outside the case: a signed manifest
// proves what it says, not where it was put, so a case emptied and filled
// with another case's signed runs would otherwise verify.
func checkPlacement(rep *Report, caseID, mk string, m Manifest) {
	run := runOfKey(caseID, mk)
	if m.Case != caseID {
		rep.add(mk, "manifest of case %q, stored in case %s: copied from another case", m.Case, caseID)
	}
	if m.Run != run {
		rep.add(mk, "manifest of run %q, stored as run %s: copied or moved from another run", m.Run, run)
	}
	if want := runPrefix(caseID, run) + "custody.jsonl"; m.Custody.Key != want {
		rep.add(mk, "names the custody log %s, not its own run's %s", m.Custody.Key, want)
	}
	if want := CasePrefix(caseID) + "case.json"; m.CaseInfo.Key != "" && m.CaseInfo.Key != want {
		rep.add(mk, "names the case record %s, not the case's own %s", m.CaseInfo.Key, want)
	}
	for _, a := range m.Artifacts {
		if !inCase(caseID, a.Key) {
			rep.add(mk, "lists %s, which is not an object of case %s", a.Key, caseID)
		}
	}
}

// checkCaseInfo names a case.json that is of another case.
func checkCaseInfo(ctx context.Context, s Store, rep *Report, caseID string) {
	key := CasePrefix(caseID) + "case.json"
	rc, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return // each manifest names it missing
	}
	if err != nil {
		rep.unreadable(key, err, "unreadable: %v", err)
		return
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		rep.unreadable(key, err, "unreadable: %v", err)
		return
	}
	var info CaseInfo
	if err := json.Unmarshal(b, &info); err != nil {
		rep.add(key, "not a case record: %v", err)
		return
	}
	if info.ID != caseID {
		rep.add(key, "case record of case %q, stored in case %s: copied from another case", info.ID, caseID)
	}
}
