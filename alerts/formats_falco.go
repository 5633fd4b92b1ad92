package alerts

// falco — one JSON object: Falco's json_output (falco_formats::format_event
// in falcosecurity/falco userspace/engine/formats.cpp: time, rule, priority,
// source, hostname, and output, tags, message, output_fields as
// json_include_output_property, json_include_tags_property,
// json_include_message_property and json_include_output_fields_property
// say), or falcosidekick's re-post of it (types.FalcoPayload: the same plus
// uuid). That key set is fixed and documented, so an unknown top-level key
// is refused (a new Falco key fails loudly and is added here); the keys
// inside output_fields are whatever the rule's output names, all kept.
// rule, priority (a Falco priority word) and time (RFC 3339) are required;
// when time is absent, output_fields["evt.time"] — integer nanoseconds in
// Falco's JSON — is used instead. container.id is the 12-character short ID
// or "host"; "", null and "<NA>" name no container. k8s.ns.name and
// k8s.pod.name give Pod.

import "time"

var falcoKeys = []string{"uuid", "output", "priority", "rule", "time", "output_fields", "source", "tags", "hostname", "message"}

const falcoPriorities = "emergency, alert, critical, error, warning, notice, informational, debug"

func decodeFalco(body []byte) ([]Alert, error) {
	r := &reader{format: "falco"}
	root, err := r.parse(body, "one Falco event")
	if err != nil {
		return nil, err
	}
	if err := r.only(root, falcoKeys, "Falco's JSON output"); err != nil {
		return nil, err
	}
	a := Alert{Format: "falco"}
	if a.Rule, err = r.str(root, "rule", true, "the name of the rule that fired"); err != nil {
		return nil, err
	}
	prio, err := r.str(root, "priority", true, "the rule's priority ("+falcoPriorities+")")
	if err != nil {
		return nil, err
	}
	var ok bool
	if a.Priority, ok = ParsePriority(prio); !ok {
		return nil, r.errf("priority", "%q is not a Falco priority (%s)", prio, falcoPriorities)
	}
	for _, s := range []struct {
		key  string
		dst  *string
		what string
	}{
		{"uuid", &a.ID, "the event's UUID"},
		{"source", &a.Source, "the event source, like syscall"},
		{"hostname", &a.Host, "the host's name"},
		{"output", &a.Output, "the rule's formatted output"},
	} {
		if *s.dst, err = r.str(root, s.key, false, s.what); err != nil {
			return nil, err
		}
	}
	msg, err := r.str(root, "message", false, "the rule's message")
	if err != nil {
		return nil, err
	}
	if a.Output == "" {
		a.Output = msg
	}
	if a.Tags, err = r.strs(root, "tags", "the rule's tags"); err != nil {
		return nil, err
	}
	of, hasFields, err := r.obj(root, "output_fields", false, "the fields the rule's output names")
	if err != nil {
		return nil, err
	}
	var evtTime *jvalue
	if hasFields && len(of.v.obj) > 0 {
		a.Fields = make(map[string]string, len(of.v.obj))
		for _, m := range of.v.obj {
			a.Fields[m.key] = fieldText(m.val)
		}
		evtTime = of.v.get("evt.time")
		var cid, ns, pod string
		for _, s := range []struct {
			key string
			dst *string
		}{{"container.id", &cid}, {"k8s.ns.name", &ns}, {"k8s.pod.name", &pod}} {
			if *s.dst, err = r.str(of, s.key, false, "a string"); err != nil {
				return nil, err
			}
		}
		if named(cid) {
			a.Container = cid
		}
		if named(ns) && named(pod) {
			a.Pod = ns + "/" + pod
		}
	}
	t, hasTime, err := r.timestamp(root, "time", false, "the event's time")
	if err != nil {
		return nil, err
	}
	switch {
	case hasTime:
		a.Time = t
	case evtTime != nil:
		ns, ok := integer(evtTime)
		if !ok {
			return nil, r.errf("time", "missing, and output_fields[\"evt.time\"] is %s, not integer nanoseconds: give time (RFC 3339)", jsonText(evtTime))
		}
		a.Time = time.Unix(0, ns).UTC()
	default:
		return nil, r.errf("time", "missing: give the event's time (RFC 3339, like 2024-11-28T00:00:00.123456789Z)")
	}
	return []Alert{a}, nil
}
