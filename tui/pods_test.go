package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"firebreak/runtime"
)

// podRowOf is the pod grouping's row for the pod target, or nil.
func podRowOf(m *Model, ref string) *podRow {
	for _, r := range m.fleet.pods.visible(m.fleet) {
		if r.Ref() == ref {
			return r
		}
	}
	return nil
}

func TestPodsGroupingKeys(t *testing.T) {
	b := podFleet(4)
	m := started(b, 160, 40, Options{})
	if v := m.View(); !strings.Contains(v, "containers · sorted by") || !strings.Contains(v, "POD") || !strings.Contains(v, "shop/cart-7d9f") {
		t.Fatalf("the fleet with pod containers shows no POD column:\n%s", v)
	}
	press(m, "P")
	v := m.View()
	if !strings.Contains(v, "3 pods · sorted by risk") || !m.fleet.pods.on {
		t.Fatalf("P does not show the pods:\n%s", v)
	}
	rows := m.fleet.pods.visible(m.fleet)
	if len(rows) != 3 || rows[0].Ref() != "pod/shop/cart-7d9f" {
		t.Fatalf("pods by risk: %d rows, first %v", len(rows), rows)
	}
	cart := rows[0]
	if cart.cell("RISK") != "42" || cart.cell("FINDING") != "hostPath / mounted" || cart.cell("MEMBERS") != "2 running" || cart.cell("STATE") != "running" || cart.cell("FIREBREAK") != "-" {
		t.Fatalf("cart's cells: risk %q finding %q members %q state %q firebreak %q", cart.cell("RISK"), cart.cell("FINDING"), cart.cell("MEMBERS"), cart.cell("STATE"), cart.cell("FIREBREAK"))
	}
	// sort by the pod's target: ascending
	press(m, "s")
	if rows := m.fleet.pods.visible(m.fleet); podColumns[m.fleet.pods.sortCol] != "POD" || rows[0].Ref() != "pod/kube-system/coredns-5d78" {
		t.Fatalf("sorted by %s, first %s", podColumns[m.fleet.pods.sortCol], rows[0].Ref())
	}
	// the filter matches a member's container name and a pod's name
	press(m, "/")
	typeText(m, "sidecar")
	press(m, "enter")
	if rows := m.fleet.pods.visible(m.fleet); len(rows) != 1 || rows[0].Ref() != "pod/shop/cart-7d9f" {
		t.Fatalf("filter sidecar: %d pods", len(rows))
	}
	press(m, "esc", "/")
	typeText(m, "db-")
	press(m, "enter")
	if rows := m.fleet.pods.visible(m.fleet); len(rows) != 1 || rows[0].Ref() != "pod/shop/db-0" {
		t.Fatalf("filter db-: %d pods", len(rows))
	}
	// enter: the pod's containers, the fleet filtered on it
	press(m, "enter")
	if m.fleet.pods.on || m.fleet.filter != "shop/db-0" || len(m.fleet.visible()) != 2 {
		t.Fatalf("enter on a pod: grouped %v, filter %q, %d rows", m.fleet.pods.on, m.fleet.filter, len(m.fleet.visible()))
	}
	press(m, "esc", "P", "P")
	if v := m.View(); m.fleet.pods.on || !strings.Contains(v, "containers · sorted by") {
		t.Fatalf("P again does not return to the containers:\n%s", v)
	}
	// the help lists the grouping's keys
	press(m, "P", "?")
	if v := m.View(); !strings.Contains(v, "contain the pod as one") || !strings.Contains(v, "back to the containers") {
		t.Fatalf("help of the pods:\n%s", v)
	}
}

func TestPodsFleetFilterMatchesThePod(t *testing.T) {
	m := started(podFleet(4), 160, 40, Options{})
	press(m, "/")
	typeText(m, "cart-7d")
	press(m, "enter")
	if n := len(m.fleet.visible()); n != 3 {
		t.Fatalf("the filter on the pod's name shows %d containers, want its 3 members", n)
	}
}

func TestPodsContainAndReleaseOnAPodRow(t *testing.T) {
	b := podFleet(4)
	m := started(b, 160, 40, Options{})
	press(m, "P", "/")
	typeText(m, "cart")
	press(m, "enter", "c")
	v := m.View()
	for _, want := range []string{"Contain pod/shop/cart-7d9f?", "1. cut: drop rules in the pod's network namespace", "cutting its 2 containers", "2. freeze: web, sidecar and the sandbox", "· web (", "· sidecar (", "· sandbox (",
		"[>Cancel<]"} {
		if !strings.Contains(v, want) {
			t.Errorf("the pod's contain dialog lacks %q:\n%s", want, v)
		}
	}
	if got := m.dialog.command; got != "firebreak --runtime containerd --namespace k8s.io contain pod/shop/cart-7d9f" {
		t.Errorf("the dialog's CLI line: %q", got)
	}
	press(m, "enter") // Cancel is the default
	if len(b.podContains) != 0 || m.dialog != nil {
		t.Fatalf("enter on Cancel acted: %v", b.podContains)
	}
	press(m, "c", "tab", "enter")
	if len(b.podContains) != 1 || len(b.contains) != 0 {
		t.Fatalf("contain of the pod: pod %v, containers %v", b.podContains, b.contains)
	}
	if got := podRowOf(m, "pod/shop/cart-7d9f").firebreak(); got != "contained (held 3 of 3)" {
		t.Fatalf("the pod's row after contain says %q", got)
	}
	if got := podRowOf(m, "pod/shop/cart-7d9f").cell("MEMBERS"); got != "2 paused" {
		t.Fatalf("members after contain: %q", got)
	}
	a := b.acts[len(b.acts)-1]
	if a.Act != "contain" || a.Result != "done" || a.Command != "firebreak --runtime containerd --namespace k8s.io contain pod/shop/cart-7d9f" || strings.Count(a.Target, k8sEngine+"/") != 3 {
		t.Fatalf("journal: %+v", a)
	}
	if !strings.Contains(m.status, "contain pod/shop/cart-7d9f: done") {
		t.Fatalf("status: %q", m.status)
	}
	// the members' rows are held too
	for _, c := range b.pods[0].Members() {
		if r := m.fleet.rows[k8sEngine+"/"+c.ID]; r == nil || r.Held == nil {
			t.Fatalf("member %s not shown held", c.Name)
		}
	}

	press(m, "r")
	v = m.View()
	if !strings.HasSuffix(m.dialog.command, " release pod/shop/cart-7d9f") {
		t.Errorf("the release dialog's CLI line: %q", m.dialog.command)
	}
	for _, want := range []string{"Release pod/shop/cart-7d9f?", "· web (", "unpause"} {
		if !strings.Contains(v, want) {
			t.Errorf("the pod's release dialog lacks %q:\n%s", want, v)
		}
	}
	press(m, "tab", "enter")
	if len(b.podReleases) != 1 || podRowOf(m, "pod/shop/cart-7d9f").firebreak() != "-" {
		t.Fatalf("release: %v, row %q", b.podReleases, podRowOf(m, "pod/shop/cart-7d9f").firebreak())
	}
	if a := b.acts[len(b.acts)-1]; a.Act != "release" || !strings.HasSuffix(a.Command, "release pod/shop/cart-7d9f") {
		t.Fatalf("journal: %+v", a)
	}
	// a pod not held: release is not allowed, and says why
	press(m, "r")
	if m.dialog == nil || !strings.Contains(m.dialog.notAllowed, "not held by Firebreak") {
		t.Fatalf("release of a pod not held: %+v", m.dialog)
	}
	press(m, "esc")

	// capture: the pod's collect line, the pod not changed
	press(m, "e")
	v = m.View()
	if !strings.Contains(v, "Capture evidence of pod/shop/cart-7d9f?") || !strings.Contains(m.dialog.command, "--namespace k8s.io collect --case ") || !strings.HasSuffix(m.dialog.command, " pod/shop/cart-7d9f") {
		t.Fatalf("capture dialog:\n%s", v)
	}
	press(m, "tab", "enter")
	if len(b.podCols) != 1 || len(b.collects) != 0 {
		t.Fatalf("capture of the pod: pod %v, containers %v", b.podCols, b.collects)
	}
	if a := b.acts[len(b.acts)-1]; a.Act != "collect" || !strings.HasPrefix(a.Result, "done") || !strings.Contains(a.Command, " collect --case ") {
		t.Fatalf("journal: %+v", a)
	}
}

func TestPodsMemberRowOpensThePodsDialog(t *testing.T) {
	b := podFleet(4)
	m := started(b, 160, 40, Options{})
	press(m, "/")
	typeText(m, "cart-7d9f/sidecar")
	press(m, "enter")
	if r := m.fleet.current(); r == nil || r.Name != "shop/cart-7d9f/sidecar" {
		t.Fatalf("cursor on %v", r)
	}
	for _, k := range []struct{ key, title string }{{"c", "Contain pod/shop/cart-7d9f?"}, {"r", "Release pod/shop/cart-7d9f?"}, {"e", "Capture evidence of pod/shop/cart-7d9f?"}} {
		press(m, k.key)
		v := m.View()
		if !strings.Contains(v, k.title) || m.dialog == nil || !strings.Contains(strings.Join(m.dialog.lines, " "), "shop/cart-7d9f/sidecar is a container of pod/shop/cart-7d9f: the pod is acted on as one") {
			t.Fatalf("%s on a member:\n%s", k.key, v)
		}
		press(m, "esc")
	}
	press(m, "c", "tab", "enter")
	if len(b.podContains) != 1 || len(b.contains) != 0 {
		t.Fatalf("contain from a member's row: pod %v, containers %v", b.podContains, b.contains)
	}
	// the sandbox's row too
	press(m, "esc", "/")
	typeText(m, "db-0/POD")
	press(m, "enter", "c")
	if v := m.View(); !strings.Contains(v, "Contain pod/shop/db-0?") || !strings.Contains(strings.Join(m.dialog.lines, " "), "is the sandbox of pod/shop/db-0") {
		t.Fatalf("c on a sandbox:\n%s", v)
	}
	press(m, "esc")
	// a selection with a pod's container in it is not acted on piecemeal
	press(m, "esc", "g", "space")
	if len(m.fleet.selected) != 1 {
		t.Fatalf("selected: %v typing %v filter %q dialog %v status %q\n%s", m.fleet.selected, m.fleet.typing, m.fleet.filter, m.dialog != nil, m.status, m.View())
	}
	press(m, "/")
	typeText(m, "coredns")
	press(m, "enter", "space")
	if len(m.fleet.selected) != 2 {
		t.Fatalf("selected: %v (status %q)", m.fleet.selected, m.status)
	}
	press(m, "esc", "c") // acts take the selection shown: clear the filter
	if m.dialog != nil || !strings.Contains(m.status, "a pod is acted on as one") {
		t.Fatalf("a selection with a pod member: dialog %v, status %q", m.dialog != nil, m.status)
	}
	// a container outside pods acts as before
	press(m, "esc", "esc", "/")
	typeText(m, "svc-001")
	press(m, "enter", "c")
	if v := m.View(); !strings.Contains(v, "Contain svc-001?") {
		t.Fatalf("c on a container outside pods:\n%s", v)
	}
}

func TestPodsRowRefusesContainerActs(t *testing.T) {
	b := podFleet(4)
	m := started(b, 160, 40, Options{})
	press(m, "P")
	for _, k := range []string{"K", "x", "p", "b", "u"} {
		m.status = ""
		press(m, k)
		if m.dialog != nil || !strings.Contains(m.status, "takes a container, not a pod") {
			t.Fatalf("%s on a pod row: dialog %v, status %q", k, m.dialog != nil, m.status)
		}
	}
	if len(b.ends)+len(b.backups)+len(b.recovers)+len(b.runs) != 0 {
		t.Fatal("a container act ran on a pod row")
	}
	// read-only refuses the pod's acts as the containers'
	press(m, "R", "c")
	if m.dialog != nil || !strings.Contains(m.status, "read-only mode: contain refused") {
		t.Fatalf("c in read-only mode: dialog %v, status %q", m.dialog != nil, m.status)
	}
}

func TestPodsShowDriftOfAHeldMember(t *testing.T) {
	b := podFleet(2)
	m := started(b, 160, 40, Options{})
	press(m, "P", "/")
	typeText(m, "db-0")
	press(m, "enter", "c", "tab", "enter")
	db := b.pods[1].Containers[0]
	b.thawByHand(k8sEngine + "/" + db.ID)
	drive(m, func() tea.Msg { return engineEventMsg{EngineEvent{Engine: k8sEngine, ID: db.ID, Action: "unpause"}} })
	if got := podRowOf(m, "pod/shop/db-0").firebreak(); got != "DRIFT contained (held 2 of 2)" {
		t.Fatalf("the pod after a member was thawed by hand says %q", got)
	}
}

func TestPodsFreshOnEngineEventsOnly(t *testing.T) {
	b := podFleet(4)
	m := started(b, 160, 40, Options{})
	press(m, "P")
	lists := b.podLists
	if lists == 0 {
		t.Fatal("the pods were never read")
	}
	// nothing changes: nothing is read
	for range 3 {
		m.View()
		press(m, "down", "up")
	}
	if b.podLists != lists {
		t.Fatalf("pods read %d times with no event", b.podLists-lists)
	}
	// an event on a container outside pods reads no pod
	press(m, "esc")
	drive(m, func() tea.Msg {
		return engineEventMsg{EngineEvent{Engine: "docker", ID: b.items[0].ID, Action: "pause"}}
	})
	if b.podLists != lists {
		t.Fatalf("an event outside pods read the pods")
	}
	// a member paused from outside: its pod is read again and shows it
	web := b.pods[0].Containers[0]
	b.mu.Lock()
	b.itemOf(k8sEngine, web.ID).State = runtime.StatePaused
	b.mu.Unlock()
	drive(m, func() tea.Msg { return engineEventMsg{EngineEvent{Engine: k8sEngine, ID: web.ID, Action: "pause"}} })
	if b.podLists != lists+1 {
		t.Fatalf("a member's event read the pods %d times, want once", b.podLists-lists)
	}
	if got := podRowOf(m, "pod/shop/cart-7d9f").cell("MEMBERS"); got != "1 paused 1 running" {
		t.Fatalf("members after web paused: %q", got)
	}
	// contained, then the kubelet starts a new attempt beside the frozen one
	press(m, "/")
	typeText(m, "cart")
	press(m, "enter", "c", "tab", "enter")
	b.mu.Lock()
	next := runtime.Container{ID: fmt.Sprintf("%012x%052x", 0xdef001, 1), Name: "shop/cart-7d9f/web", State: runtime.StateRunning,
		Labels: map[string]string{podNamespaceLabel: "shop", podNameLabel: "cart-7d9f", "io.kubernetes.container.name": "web"}}
	b.items = append(b.items, Item{Engine: k8sEngine, Container: next})
	b.pods[0].Containers = append(b.pods[0].Containers, runtime.PodContainer{Container: next, ContainerName: "web", Attempt: 1})
	b.mu.Unlock()
	drive(m, func() tea.Msg { return engineEventMsg{EngineEvent{Engine: k8sEngine, ID: next.ID, Action: "start"}} })
	if got := podRowOf(m, "pod/shop/cart-7d9f").firebreak(); got != "RESTARTED contained (held 2 of 3)" {
		t.Fatalf("the pod after a new attempt says %q", got)
	}
}

func TestPodsGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		b := podFleet(20)
		m := started(b, size[0], size[1], Options{})
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("fleet-pods-%dx%d", size[0], size[1]), v)
		press(m, "P", "down")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("pods-%dx%d", size[0], size[1]), v)
		press(m, "up", "c")
		v = m.View()
		checkFrame(t, v, size[0], size[1])
		golden(t, fmt.Sprintf("pod-contain-dialog-%dx%d", size[0], size[1]), v)
	}
}

func TestPodsHostileNamesAreInert(t *testing.T) {
	b := podFleet(2)
	b.pods[1].Name = "db\x1b]0;pwned\x07\u202e0"
	b.pods[1].Labels = map[string]string{"note": "\x1b[2J"}
	for i := range b.items {
		if b.items[i].Labels[podNameLabel] == "db-0" {
			b.items[i].Labels[podNameLabel] = b.pods[1].Name
		}
	}
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		m := started(b, size[0], size[1], Options{})
		checkFrame(t, m.View(), size[0], size[1])
		press(m, "P", "s", "s")
		v := m.View()
		checkFrame(t, v, size[0], size[1])
		if !strings.Contains(v, `db\x1b]0`) {
			t.Fatalf("the hostile pod is not shown inert:\n%s", v)
		}
		press(m, "c")
		checkFrame(t, m.View(), size[0], size[1])
	}
}

// An act on a pod's container asked before the pods were read opens the
// pod's dialog once they are; one whose pod is neither ready nor held says
// so.
func TestPodsActBeforeThePodsAreRead(t *testing.T) {
	b := podFleet(2)
	m := started(b, 160, 40, Options{})
	m.fleet.pods.rows = map[string]*podRow{} // as if not read yet
	m.fleet.pods.loaded = false
	press(m, "/")
	typeText(m, "cart-7d9f/web")
	press(m, "enter", "c")
	if m.dialog == nil || !strings.Contains(m.View(), "Contain pod/shop/cart-7d9f?") {
		t.Fatalf("c before the pods were read:\n%s", m.View())
	}
	press(m, "esc")
	b.mu.Lock()
	b.pods[0].Ready = false // stopped, and not held: ps --pods leaves it out
	b.mu.Unlock()
	m.fleet.pods.rows = map[string]*podRow{}
	press(m, "c")
	if m.dialog != nil || !strings.Contains(m.status, "neither ready nor held") {
		t.Fatalf("c on a container of a pod not listed: dialog %v, status %q", m.dialog != nil, m.status)
	}
}
