package tui

import (
	"fmt"
	"path"
	"strings"
	"time"

	"firebreak/evidence"
)

// diffOf finds the capture an artifact belongs to: its changes.json (a
// volume's files.json) and the layer tar beside it.
func (cs *caseState) diffOf(key string) (changes, layer string, ok bool) {
	dir, base := path.Split(key)
	isList := base == "changes.json" || base == "files.json"
	isTar := strings.HasPrefix(base, "layer.tar") || strings.HasPrefix(base, "files.tar")
	if !isList && !isTar {
		return "", "", false
	}
	for _, r := range cs.rows {
		if r.kind != rowArtifact {
			continue
		}
		d, b := path.Split(r.art.Key)
		if d != dir {
			continue
		}
		switch {
		case b == "changes.json" || b == "files.json":
			changes = r.art.Key
		case strings.HasPrefix(b, "layer.tar") || strings.HasPrefix(b, "files.tar"):
			layer = r.art.Key
		}
	}
	return changes, layer, changes != ""
}

// build lays out the case's rows: each run, what it could not capture,
// its artifacts; then the problems that are no artifact's or run's.
func (cs *caseState) build(loose []evidence.Object) {
	cs.rows = cs.rows[:0]
	for i, mf := range cs.manifests {
		cs.rows = append(cs.rows, caseRow{kind: rowRun, run: i})
		for _, in := range mf.Incomplete {
			cs.rows = append(cs.rows, caseRow{kind: rowIncomplete, run: i, text: in})
		}
		for _, a := range mf.Artifacts {
			cs.rows = append(cs.rows, caseRow{kind: rowArtifact, run: i, art: a})
		}
	}
	for _, o := range loose {
		cs.rows = append(cs.rows, caseRow{kind: rowArtifact, run: -1, art: evidence.Artifact{Key: o.Key, Size: o.Size, SHA256: o.SHA256}})
	}
	if cs.report != nil {
		tied := map[string]bool{}
		for _, r := range cs.rows {
			if r.kind == rowArtifact {
				tied[r.art.Key] = true
			}
		}
		for _, p := range cs.report.Problems {
			if tied[p.Key] || cs.runOfKey(p.Key) >= 0 {
				continue
			}
			cs.rows = append(cs.rows, caseRow{kind: rowProblem, run: -1, key: p.Key, text: p.What})
		}
	}
	cs.nav.cursor = min(cs.nav.cursor, max(0, len(cs.rows)-1))
}

func (cs *caseState) setReport(rep *evidence.Report) {
	cs.report = rep
	cs.probs = map[string][]string{}
	for _, p := range rep.Problems {
		cs.probs[p.Key] = append(cs.probs[p.Key], p.What)
	}
	var loose []evidence.Object
	if cs.noRun {
		for _, r := range cs.rows {
			if r.kind == rowArtifact {
				loose = append(loose, evidence.Object{Key: r.art.Key, Size: r.art.Size, SHA256: r.art.SHA256})
			}
		}
	}
	cs.build(loose)
}

// runOfKey is the run whose own objects (manifest, signature, custody log)
// key is, or -1.
func (cs *caseState) runOfKey(key string) int {
	for i, mf := range cs.manifests {
		if strings.HasPrefix(key, evidence.CasePrefix(cs.id)+"runs/"+mf.Run+"/") {
			return i
		}
	}
	return -1
}

// runProblems are the problems of a run's own objects.
func (cs *caseState) runProblems(i int) []string {
	var out []string
	if cs.report == nil {
		return nil
	}
	for _, p := range cs.report.Problems {
		if cs.runOfKey(p.Key) == i {
			out = append(out, path.Base(p.Key)+": "+p.What)
		}
	}
	return out
}

// result is the verification's word on a row: "" before any.
func (cs *caseState) result(r caseRow) string {
	if cs.report == nil {
		return ""
	}
	switch r.kind {
	case rowArtifact:
		if len(cs.probs[r.art.Key]) > 0 {
			return "FAIL"
		}
		if r.run < 0 {
			return "-"
		}
		return "OK"
	case rowRun:
		if len(cs.runProblems(r.run)) > 0 {
			return "FAIL"
		}
		return "OK"
	case rowProblem:
		return "FAIL"
	}
	return ""
}

// headsLine names the head of each host's custody chain: verified ones
// from the report, else as the manifests say.
func (cs *caseState) headsLine() string {
	if cs.report != nil && len(cs.report.Heads) > 0 {
		var hs []string
		for _, h := range cs.report.Heads {
			hs = append(hs, fmt.Sprintf("%s %s (%s)", Inert(h.Host), Inert(h.Head), plural(h.Runs, "run")))
		}
		return "custody heads: " + strings.Join(hs, "; ")
	}
	last := map[string]string{}
	var hosts []string
	for _, mf := range cs.manifests {
		if _, ok := last[mf.Host]; !ok {
			hosts = append(hosts, mf.Host)
		}
		last[mf.Host] = mf.CustodyHead
	}
	if len(hosts) == 0 {
		return "custody heads: none"
	}
	var hs []string
	for _, h := range hosts {
		hs = append(hs, Inert(h)+" "+Inert(last[h]))
	}
	return "custody heads (unverified): " + strings.Join(hs, "; ")
}

func (cs *caseState) runLine(i int) string {
	mf := cs.manifests[i]
	s := fmt.Sprintf("run %s · %s · %s · %s", Inert(mf.Run), Inert(mf.Host), Inert(mf.Actor), mf.Started.UTC().Format("2006-01-02 15:04:05"))
	if !mf.Finished.IsZero() && !mf.Started.IsZero() {
		s += " (" + mf.Finished.Sub(mf.Started).Round(time.Second).String() + ")"
	}
	if len(mf.Targets) > 0 {
		s += " · " + Inert(strings.Join(mf.Targets, ","))
	}
	if n := len(mf.Incomplete); n > 0 {
		s += fmt.Sprintf(" · %d incomplete", n)
	}
	return s
}

// detail is what the case says of the row under the cursor, in full.
func (cs *caseState) detail(r caseRow, w, lines int) []string {
	var parts []string
	switch r.kind {
	case rowRun:
		mf := cs.manifests[r.run]
		parts = append(parts, "run "+mf.Run, "host "+mf.Host, "actor "+mf.Actor, "tool "+mf.Tool,
			"started "+mf.Started.UTC().Format(time.RFC3339), "finished "+mf.Finished.UTC().Format(time.RFC3339))
		if len(mf.Targets) > 0 {
			parts = append(parts, "targets "+strings.Join(mf.Targets, ", "))
		}
		parts = append(parts, fmt.Sprintf("%d artifacts", len(mf.Artifacts)), "custody head "+mf.CustodyHead)
		parts = append(parts, cs.runProblems(r.run)...)
	case rowIncomplete:
		parts = append(parts, "not captured: "+r.text)
	case rowArtifact:
		parts = append(parts, r.art.Key)
		if ps := cs.probs[r.art.Key]; len(ps) > 0 {
			parts = append(parts, ps...)
		} else if cs.report != nil && r.run >= 0 {
			parts = append(parts, "digest, size and custody record as signed")
		}
		if r.art.SHA256 != "" {
			parts = append(parts, "sha256 "+r.art.SHA256)
		}
		parts = append(parts, fmt.Sprintf("%d bytes", r.art.Size))
		if r.art.Collector != "" {
			parts = append(parts, "collector "+r.art.Collector)
		}
		if _, _, ok := cs.diffOf(r.art.Key); ok {
			parts = append(parts, "enter browses the fs diff")
		} else {
			parts = append(parts, "enter previews it")
		}
	case rowProblem:
		parts = append(parts, r.key, r.text)
	}
	return wrapParts(parts, w, lines)
}
