package alerts

// tracee — JSON lines, one trace.Event per line (types/trace/trace.go in
// aquasecurity/tracee): timestamp (integer nanoseconds) and eventName are
// required. Tracee's JSON has changed shape across releases (flat podName,
// containerImage and matchedScopes became kubernetes.*, container.* and
// matchedPolicies), so unknown top-level keys are allowed. The container is
// containerId or container.id (refused when they disagree); the pod is
// kubernetes.podNamespace/podName, or the older flat podNamespace/podName.
// A signature finding carries metadata (Go field names: Description, Tags,
// Properties); its severity is metadata.Properties.Severity (metadata.
// Severity is read too), 0..4 mapped as 0 → informational, 1 → notice
// (low), 2 → warning (medium), 3 → error (high), 4 → critical; a Falco
// priority word or low/medium/high/critical given as a string is read too.
// An event without metadata, or without a severity, is Warning, as for
// Tetragon: the user's policy selected it. Source is "signature" for a
// finding (metadata present), "event" otherwise. Tracee names no host
// container: an empty container ID names none. hostName is the process's
// UTS hostname — the pod's name inside a container — so it is Host only
// for an event outside any container (it is in Fields either way).

import (
	"strings"
	"time"
)

func traceeEvent(r *reader, root node) (Alert, error) {
	a := Alert{Priority: Warning, Source: "event"}
	ts, ok := root.field("timestamp")
	if !ok {
		return Alert{}, r.errf("timestamp", "missing: give the event's time in nanoseconds since the epoch")
	}
	ns, isInt := integer(ts.v)
	if !isInt || ns < 0 {
		return Alert{}, r.errf("timestamp", "want integer nanoseconds since the epoch, got %s", jsonText(ts.v))
	}
	a.Time = time.Unix(0, ns).UTC()
	var err error
	if a.Rule, err = r.str(root, "eventName", true, "the event's (or signature's) name"); err != nil {
		return Alert{}, err
	}
	hostName, err := r.str(root, "hostName", false, "the host's name")
	if err != nil {
		return Alert{}, err
	}
	if _, err = r.str(root, "processName", false, "the process's name"); err != nil {
		return Alert{}, err
	}
	if _, err = r.strs(root, "matchedPolicies", "the policies that matched"); err != nil {
		return Alert{}, err
	}
	flat, err := r.str(root, "containerId", false, "the container ID")
	if err != nil {
		return Alert{}, err
	}
	nested := ""
	if c, ok, err := r.obj(root, "container", false, "the container"); err != nil {
		return Alert{}, err
	} else if ok {
		if nested, err = r.str(c, "id", false, "the container ID"); err != nil {
			return Alert{}, err
		}
	}
	if flat != "" && nested != "" && flat != nested {
		return Alert{}, r.errf("container.id", "%q disagrees with containerId %q", nested, flat)
	}
	a.Container = flat
	if a.Container == "" {
		a.Container = nested
	}
	if a.Container == "" {
		a.Host = hostName
	}
	podNS, err := r.str(root, "podNamespace", false, "the pod's namespace")
	if err != nil {
		return Alert{}, err
	}
	podName, err := r.str(root, "podName", false, "the pod's name")
	if err != nil {
		return Alert{}, err
	}
	if k, ok, err := r.obj(root, "kubernetes", false, "the Kubernetes pod"); err != nil {
		return Alert{}, err
	} else if ok {
		ns, err := r.str(k, "podNamespace", false, "the pod's namespace")
		if err != nil {
			return Alert{}, err
		}
		name, err := r.str(k, "podName", false, "the pod's name")
		if err != nil {
			return Alert{}, err
		}
		if ns != "" && name != "" {
			podNS, podName = ns, name
		}
	}
	if podNS != "" && podName != "" {
		a.Pod = podNS + "/" + podName
	}
	md, hasMD, err := r.obj(root, "metadata", false, "the signature's metadata")
	if err != nil {
		return Alert{}, err
	}
	if hasMD {
		a.Source = "signature"
		if a.Output, err = r.str(md, "Description", false, "the signature's description"); err != nil {
			return Alert{}, err
		}
		if a.Tags, err = r.strs(md, "Tags", "the signature's tags"); err != nil {
			return Alert{}, err
		}
		sev, hasSev := md.field("Severity")
		props, hasProps, err := r.obj(md, "Properties", false, "the signature's properties")
		if err != nil {
			return Alert{}, err
		}
		if hasProps {
			if s, ok := props.field("Severity"); ok {
				sev, hasSev = s, true
			}
		}
		if hasSev && sev.v.kind != jNull {
			if a.Priority, err = traceeSeverity(r, sev); err != nil {
				return Alert{}, err
			}
		}
	}
	a.Fields = map[string]string{}
	for _, m := range root.v.obj {
		if m.key != "args" {
			flatten(a.Fields, m.key, m.val)
		}
	}
	args, hasArgs, err := r.arr(root, "args", false, "the event's arguments")
	if err != nil {
		return Alert{}, err
	}
	if hasArgs {
		for i, e := range args.v.arr {
			arg := node{v: e, path: args.index(i)}
			if e.kind != jObject {
				return Alert{}, r.errf(arg.path, "want an object (an argument: name, type, value), got %s", e.kind)
			}
			name, err := r.str(arg, "name", true, "the argument's name")
			if err != nil {
				return Alert{}, err
			}
			if _, err := r.str(arg, "type", false, "the argument's type"); err != nil {
				return Alert{}, err
			}
			val := e.get("value")
			if val == nil {
				val = &jvalue{kind: jNull}
			}
			if _, dup := a.Fields["args."+name]; !dup {
				a.Fields["args."+name] = fieldText(val)
			}
		}
	}
	return a, nil
}

var traceeLevels = []Priority{Informational, Notice, Warning, Error, Critical}

// traceeSeverity maps a signature's Severity: 0..4, or a word.
func traceeSeverity(r *reader, sev node) (Priority, error) {
	const want = "0 (info), 1 (low), 2 (medium), 3 (high) or 4 (critical)"
	switch sev.v.kind {
	case jNumber:
		n, ok := integer(sev.v)
		if !ok || n < 0 || n >= int64(len(traceeLevels)) {
			return 0, r.errf(sev.path, "%s is not a Tracee severity: want %s", sev.v.s, want)
		}
		return traceeLevels[n], nil
	case jString:
		if p, ok := severityWord(sev.v.s); ok {
			return p, nil
		}
		return 0, r.errf(sev.path, "%q is not a severity: want %s, or a priority word", sev.v.s, want)
	}
	return 0, r.errf(sev.path, "want a number (%s), got %s", want, sev.v.kind)
}

// severityWord reads a Falco priority word or a low/medium/high scale word.
func severityWord(s string) (Priority, bool) {
	if p, ok := ParsePriority(s); ok {
		return p, true
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "information":
		return Informational, true
	case "low":
		return Notice, true
	case "medium", "moderate":
		return Warning, true
	case "high":
		return Error, true
	}
	return PriorityUnknown, false
}
