package alerts

// tetragon — JSON lines, one GetEventsResponse per line as Tetragon's JSON
// export writes it (protojson with the proto's snake_case names; see
// api/v1/tetragon/events.proto and tetragon.proto): exactly one event key
// (process_exec, process_kprobe, ...) beside the envelope fields node_name,
// time, cluster_name, node_labels and aggregation_info. The event oneof
// grows with Tetragon releases and every kind so far is named process_*,
// so any process_* key (and test, rate_limit_info) is taken as the kind;
// any other unknown top-level key is refused. Inside the event, unknown
// fields are allowed (the proto messages gain fields every release).
// Source is the event kind; Rule is policy_name, else function_name, else
// the kind. Tetragon gives no severity: Priority is Warning, unless the
// tracing policy carries a tag "severity:WORD" or "priority:WORD" (also
// with "="), WORD a Falco priority word; such a tag whose WORD is not one
// is refused, as a policy mistake to fix. Container is
// process.pod.container.id without its "containerd://" (any "scheme://")
// prefix, else process.docker — a truncated ID — cut to the 12-character
// short ID. Tetragon never says "host": a process with neither names none.

import (
	"fmt"
	"strings"
)

var tetragonEnvelope = []string{"node_name", "time", "cluster_name", "node_labels", "aggregation_info"}

var tetragonKinds = []string{"process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_uprobe",
	"process_lsm", "process_usdt", "process_loader", "process_throttle", "rate_limit_info", "test"}

// tetragonProcessKinds are the kinds whose event has a process.
var tetragonProcessKinds = []string{"process_exec", "process_exit", "process_kprobe", "process_tracepoint",
	"process_uprobe", "process_lsm", "process_usdt", "process_loader"}

func isTetragonKind(k string) bool {
	for _, known := range tetragonKinds {
		if k == known {
			return true
		}
	}
	rest, ok := strings.CutPrefix(k, "process_")
	if !ok || rest == "" {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func tetragonEvent(r *reader, root node) (Alert, error) {
	kind := ""
	for _, m := range root.v.obj {
		envelope := false
		for _, e := range tetragonEnvelope {
			if m.key == e {
				envelope = true
				break
			}
		}
		switch {
		case envelope:
		case !isTetragonKind(m.key):
			hint := ""
			if strings.ToLower(m.key) != m.key {
				hint = "; Tetragon's JSON export uses the proto's snake_case names (process_exec, node_name)"
			}
			return Alert{}, r.errf(root.at(m.key), "unknown field: a Tetragon event line has one event (%s, ...) and %s%s",
				strings.Join(tetragonKinds[:4], ", "), strings.Join(tetragonEnvelope, ", "), hint)
		case kind != "":
			return Alert{}, r.errf(root.at(m.key), "a second event in one line (after %s): give one event per line", kind)
		default:
			kind = m.key
		}
	}
	if kind == "" {
		return Alert{}, r.errf("", "no event: a Tetragon event line has one of %s beside node_name and time", strings.Join(tetragonKinds[:4], ", "))
	}
	a := Alert{Source: kind, Priority: Warning}
	ev, _, err := r.obj(root, kind, true, "the event")
	if err != nil {
		return Alert{}, err
	}
	if a.Host, err = r.str(root, "node_name", false, "the node's name"); err != nil {
		return Alert{}, err
	}
	if _, err = r.str(root, "cluster_name", false, "the cluster's name"); err != nil {
		return Alert{}, err
	}
	if _, _, err = r.strMap(root, "node_labels", false, "node labels"); err != nil {
		return Alert{}, err
	}
	if _, _, err = r.obj(root, "aggregation_info", false, "aggregation counts"); err != nil {
		return Alert{}, err
	}
	if a.Time, _, err = r.timestamp(root, "time", true, "the event's time"); err != nil {
		return Alert{}, err
	}

	needProcess := false
	for _, k := range tetragonProcessKinds {
		if k == kind {
			needProcess = true
		}
	}
	proc, hasProc, err := r.obj(ev, "process", needProcess, "the process the event is about")
	if err != nil {
		return Alert{}, err
	}
	if hasProc {
		docker, err := r.str(proc, "docker", false, "the container ID")
		if err != nil {
			return Alert{}, err
		}
		if _, err := r.str(proc, "binary", false, "the binary's path"); err != nil {
			return Alert{}, err
		}
		pod, hasPod, err := r.obj(proc, "pod", false, "the Kubernetes pod")
		if err != nil {
			return Alert{}, err
		}
		if hasPod {
			ns, err := r.str(pod, "namespace", false, "the pod's namespace")
			if err != nil {
				return Alert{}, err
			}
			name, err := r.str(pod, "name", false, "the pod's name")
			if err != nil {
				return Alert{}, err
			}
			if ns != "" && name != "" {
				a.Pod = ns + "/" + name
			}
			c, hasC, err := r.obj(pod, "container", false, "the container")
			if err != nil {
				return Alert{}, err
			}
			if hasC {
				id, err := r.str(c, "id", false, `the container ID, like "containerd://ID"`)
				if err != nil {
					return Alert{}, err
				}
				if _, err := r.str(c, "name", false, "the container's name"); err != nil {
					return Alert{}, err
				}
				a.Container = stripScheme(id)
			}
		}
		if a.Container == "" {
			a.Container = shortID(docker)
		}
	}
	policy, err := r.str(ev, "policy_name", false, "the tracing policy's name")
	if err != nil {
		return Alert{}, err
	}
	function, err := r.str(ev, "function_name", false, "the hooked function")
	if err != nil {
		return Alert{}, err
	}
	switch {
	case policy != "":
		a.Rule = policy
	case function != "":
		a.Rule = function
	default:
		a.Rule = kind
	}
	if a.Output, err = r.str(ev, "message", false, "the policy's message"); err != nil {
		return Alert{}, err
	}
	if a.Tags, err = r.strs(ev, "tags", "the policy's tags"); err != nil {
		return Alert{}, err
	}
	for i, tag := range a.Tags {
		k, v, ok := strings.Cut(tag, ":")
		if !ok {
			k, v, ok = strings.Cut(tag, "=")
		}
		if k = strings.ToLower(strings.TrimSpace(k)); !ok || (k != "severity" && k != "priority") {
			continue
		}
		p, known := ParsePriority(v)
		if !known {
			return Alert{}, r.errf(fmt.Sprintf("%s.tags[%d]", kind, i), "%q: the tracing policy's %s tag must name a priority (%s)", tag, k, falcoPriorities)
		}
		a.Priority = p
		break
	}
	a.Fields = map[string]string{}
	flatten(a.Fields, "", root.v)
	return a, nil
}
