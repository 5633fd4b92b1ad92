package alerts

// alertmanager — the webhook payload, version "4" (Message in
// notify/webhook/webhook.go and template.Data in prometheus/alertmanager).
// The version exists to say the shape, so it must be "4" and unknown keys
// are refused, at the top and in each alert (Grafana's webhook, which adds
// orgId, values, silenceURL..., is therefore refused). One Alert per alert
// in the group: ID = fingerprint, Rule = labels.alertname, Time = startsAt,
// Source "alertmanager", Output = annotations.description, else summary,
// Resolved when the alert's status is "resolved". Priority is
// labels.severity (critical, warning, info..., "information" as
// falcosidekick's Alertmanager output writes it, low/medium/high), else
// labels.priority (a Falco priority word, also from falcosidekick), else
// unknown: label values are free-form, so an unrecognised word is not
// refused — it is unknown, and rules can match the label in Fields.
// Container is labels.container_id (kube-state-metrics' "containerd://ID",
// falcosidekick's short ID or "host"), else the container ID at the end of
// labels.id when that is a cAdvisor cgroup path; labels.container is a
// container *name* in Prometheus, not an ID, and is not used. Pod is
// labels.namespace/pod, else falcosidekick's k8s_ns_name/k8s_pod_name. Host
// is labels.node, else labels.hostname (falcosidekick); not instance, which
// is the scrape target (host:port of an exporter), not the host. Fields:
// labels.X, annotations.X, and status, startsAt, endsAt, generatorURL,
// fingerprint, receiver, groupKey, externalURL.

import "strings"

var (
	amKeys      = []string{"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"}
	amAlertKeys = []string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
)

func decodeAlertmanager(body []byte) ([]Alert, error) {
	r := &reader{format: "alertmanager"}
	root, err := r.parse(body, "an Alertmanager webhook payload")
	if err != nil {
		return nil, err
	}
	version, err := r.str(root, "version", true, `the payload version, "4"`)
	if err != nil {
		return nil, err
	}
	if version != "4" {
		return nil, r.errf("version", "%q is not supported: firebreak reads Alertmanager's webhook payload version \"4\"", version)
	}
	if err := r.only(root, amKeys, "Alertmanager's webhook payload (version 4)"); err != nil {
		return nil, err
	}
	receiver, err := r.str(root, "receiver", true, "the receiver's name")
	if err != nil {
		return nil, err
	}
	if _, err := amStatus(r, root); err != nil {
		return nil, err
	}
	groupKey, err := r.str(root, "groupKey", true, "the group's key")
	if err != nil {
		return nil, err
	}
	externalURL, err := r.str(root, "externalURL", false, "Alertmanager's URL")
	if err != nil {
		return nil, err
	}
	if t, ok := root.field("truncatedAlerts"); ok {
		if n, isInt := integer(t.v); !isInt || n < 0 {
			return nil, r.errf(t.path, "want a count of alerts left out, got %s", jsonText(t.v))
		}
	}
	for _, k := range []string{"groupLabels", "commonLabels", "commonAnnotations"} {
		if _, _, err := r.strMap(root, k, false, "labels"); err != nil {
			return nil, err
		}
	}
	list, _, err := r.arr(root, "alerts", true, "the group's alerts")
	if err != nil {
		return nil, err
	}
	if len(list.v.arr) == 0 {
		return nil, r.errf("alerts", "empty: a notification has at least one alert")
	}
	out := make([]Alert, 0, len(list.v.arr))
	for i, e := range list.v.arr {
		n := node{v: e, path: list.index(i)}
		if e.kind != jObject {
			return nil, r.errf(n.path, "want an object (an alert), got %s", e.kind)
		}
		a, err := amAlert(r, n)
		if err != nil {
			return nil, err
		}
		a.Fields["receiver"] = receiver
		a.Fields["groupKey"] = groupKey
		if externalURL != "" {
			a.Fields["externalURL"] = externalURL
		}
		out = append(out, a)
	}
	return out, nil
}

func amStatus(r *reader, n node) (string, error) {
	s, err := r.str(n, "status", true, `"firing" or "resolved"`)
	if err != nil {
		return "", err
	}
	if s != "firing" && s != "resolved" {
		return "", r.errf(n.at("status"), "%q: want \"firing\" or \"resolved\"", s)
	}
	return s, nil
}

func amAlert(r *reader, n node) (Alert, error) {
	if err := r.only(n, amAlertKeys, "an Alertmanager alert"); err != nil {
		return Alert{}, err
	}
	a := Alert{Format: "alertmanager", Source: "alertmanager", Fields: map[string]string{}}
	status, err := amStatus(r, n)
	if err != nil {
		return Alert{}, err
	}
	a.Resolved = status == "resolved"
	a.Fields["status"] = status
	labels, _, err := r.strMap(n, "labels", true, "the alert's labels")
	if err != nil {
		return Alert{}, err
	}
	if a.Rule, err = r.str(labels, "alertname", true, "the alert's name"); err != nil {
		return Alert{}, err
	}
	annotations, hasAnn, err := r.strMap(n, "annotations", false, "the alert's annotations")
	if err != nil {
		return Alert{}, err
	}
	if a.ID, err = r.str(n, "fingerprint", true, "the alert's fingerprint"); err != nil {
		return Alert{}, err
	}
	if a.Time, _, err = r.timestamp(n, "startsAt", true, "when the alert started"); err != nil {
		return Alert{}, err
	}
	if _, _, err = r.timestamp(n, "endsAt", false, "when the alert ends"); err != nil {
		return Alert{}, err
	}
	for _, k := range []string{"startsAt", "endsAt", "generatorURL", "fingerprint"} {
		s, err := r.str(n, k, false, "text")
		if err != nil {
			return Alert{}, err
		}
		if s != "" {
			a.Fields[k] = s
		}
	}
	label := func(k string) string {
		if v := labels.v.get(k); v != nil {
			return v.s
		}
		return ""
	}
	for _, m := range labels.v.obj {
		a.Fields["labels."+m.key] = m.val.s
	}
	if hasAnn {
		for _, m := range annotations.v.obj {
			a.Fields["annotations."+m.key] = m.val.s
		}
		a.Output = annotations.v.get("description").strOr(annotations.v.get("summary"))
	}
	if p, ok := severityWord(label("severity")); ok {
		a.Priority = p
	} else if p, ok := ParsePriority(label("priority")); ok {
		a.Priority = p
	}
	for _, k := range []string{"node", "hostname"} {
		if h := label(k); h != "" {
			a.Host = h
			break
		}
	}
	a.Container = stripScheme(label("container_id"))
	if a.Container == "" {
		a.Container = cgroupContainerID(label("id"))
	}
	if ns, pod := label("namespace"), label("pod"); ns != "" && pod != "" {
		a.Pod = ns + "/" + pod
	} else if ns, pod := label("k8s_ns_name"), label("k8s_pod_name"); named(ns) && named(pod) {
		a.Pod = ns + "/" + pod
	}
	return a, nil
}

// strOr is v's string, or else's when v is absent or empty.
func (v *jvalue) strOr(alt *jvalue) string {
	if v != nil && v.s != "" {
		return v.s
	}
	if alt != nil {
		return alt.s
	}
	return ""
}

// cgroupContainerID finds the container ID that ends a cAdvisor cgroup
// path: /kubepods/burstable/podUID/ID, /system.slice/docker-ID.scope,
// .../cri-containerd-ID.scope, crio-ID.scope. "" when it names none.
func cgroupContainerID(path string) string {
	last := path[strings.LastIndexByte(path, '/')+1:]
	last = strings.TrimSuffix(last, ".scope")
	if i := strings.LastIndexByte(last, '-'); i >= 0 {
		last = last[i+1:]
	}
	if len(last) != 64 {
		return ""
	}
	for i := 0; i < len(last); i++ {
		c := last[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return last
}
