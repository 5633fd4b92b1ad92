package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"firebreak/contain"
	"firebreak/internal/app"
	"firebreak/runtime"
	"firebreak/runtime/fake"
)

type keepOpen struct{ runtime.Runtime }

func (keepOpen) Close() error { return nil }

func session(t *testing.T, e *fake.Engine, state string) *app.Session {
	t.Helper()
	s, err := app.Open(context.Background(), app.Options{
		StateDir:    state,
		OpenRuntime: func(context.Context, app.EngineOptions) (runtime.Runtime, error) { return keepOpen{e}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func names(cs []runtime.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestResolveSelection(t *testing.T) {
	e := fake.New()
	web1 := e.Create("web-1", fake.WithLabels(map[string]string{"app": "web", "tier": "front"}))
	e.Create("web-2", fake.WithLabels(map[string]string{"app": "web"}))
	e.Create("db", fake.WithLabels(map[string]string{"app": "db"}))
	s := session(t, e, t.TempDir())
	ctx := context.Background()

	got, err := s.Resolve(ctx, app.Selection{Refs: []string{"web-1", web1.ID[:10]}, Selectors: []string{"app=web"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names(got), ",") != "web-1,web-2" {
		t.Errorf("refs then selector = %v, want web-1 once, then web-2", names(got))
	}
	got, err = s.Resolve(ctx, app.Selection{Selectors: []string{"app=web", "tier"}})
	if err != nil || strings.Join(names(got), ",") != "web-1" {
		t.Errorf("two selectors = %v (%v), want web-1 alone", names(got), err)
	}
	got, err = s.Resolve(ctx, app.Selection{All: true})
	if err != nil || len(got) != 3 {
		t.Errorf("--all = %v (%v), want all three", names(got), err)
	}
	for _, c := range got {
		d, _ := e.Details(c.ID)
		if !c.Created.Equal(d.Created) {
			t.Errorf("%s: creation time %v, want inspect's %v", c.Name, c.Created, d.Created)
		}
	}
	var input *app.InputError
	for name, sel := range map[string]app.Selection{
		"all with names":     {All: true, Refs: []string{"db"}},
		"empty reference":    {Refs: []string{" "}},
		"selector matches 0": {Selectors: []string{"app=none"}},
		"selector no key":    {Selectors: []string{"=x"}},
	} {
		if _, err := s.Resolve(ctx, sel); !errors.As(err, &input) {
			t.Errorf("%s: %v, want an InputError", name, err)
		}
	}
	var nf *runtime.NotFoundError
	if _, err := s.Resolve(ctx, app.Selection{Refs: []string{"nope"}}); !errors.As(err, &nf) {
		t.Errorf("unknown reference: %v, want NotFoundError", err)
	}
}

func TestResolveHeldFindsRecordsAndRefusesSharedPrefixes(t *testing.T) {
	e := fake.New()
	a := e.Create("a", fake.WithID("cafe01"+strings.Repeat("1", 58)))
	b := e.Create("b", fake.WithID("cafe02"+strings.Repeat("2", 58)))
	e.Start(a.ID)
	e.Start(b.ID)
	state := t.TempDir()
	s := session(t, e, state)
	ctx := context.Background()
	o := contain.DefaultOptions()
	o.Network = false
	c, err := s.Containment()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Contain(ctx, a.Container, o); err != nil {
		t.Fatal(err)
	}
	e.Remove(a.ID) // gone from the engine; its record stays
	got, err := s.ResolveHeld(ctx, "cafe01")
	if err != nil || got.ID != a.ID {
		t.Fatalf("ResolveHeld of a removed, held container = %v %v", got.ID, err)
	}
	if _, err := s.ResolveOne(ctx, "cafe01"); !runtime.IsNotFound(err) {
		t.Errorf("ResolveOne (engine only) = %v, want not found", err)
	}
	var amb *runtime.AmbiguousError
	if _, err := s.ResolveHeld(ctx, "cafe0"); !errors.As(err, &amb) || len(amb.Matches) != 2 {
		t.Fatalf("ResolveHeld of a prefix of a held and a live container = %v, want both listed", err)
	}
}

func TestSessionWithoutRecordsStillReads(t *testing.T) {
	e := fake.New()
	e.Create("x")
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := session(t, e, filepath.Join(file, "state"))
	if got, err := s.Resolve(context.Background(), app.Selection{All: true, Listed: true}); err != nil || len(got) != 1 {
		t.Errorf("Resolve without a records directory = %v %v", got, err)
	}
	if _, err := s.Containment(); err == nil {
		t.Error("Containment without a records directory: no error")
	}
}

func TestEvidenceIsRetriedAfterAFailure(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, nil, 0o600); err != nil { // a file where the key directory goes
		t.Fatal(err)
	}
	var notices []string
	s, err := app.Open(context.Background(), app.Options{
		StateDir:    t.TempDir(),
		Store:       app.StoreOptions{URL: "file://" + filepath.Join(dir, "ev"), KeyDir: keys},
		OpenRuntime: func(context.Context, app.EngineOptions) (runtime.Runtime, error) { return keepOpen{fake.New()}, nil },
		Notice:      func(m string) { notices = append(notices, m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Evidence(); err == nil {
		t.Fatal("Evidence with an unusable key directory: no error")
	}
	if err := os.Remove(keys); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Evidence()
	if err != nil || ev.Signer == nil {
		t.Fatalf("Evidence after the key directory was fixed = %v, %v", ev, err)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "created a signing key") {
		t.Errorf("notices = %q, want one about the new key", notices)
	}
	if again, _ := s.Evidence(); again != ev {
		t.Error("Evidence opened the store a second time")
	}
	if err := s.Pending(); err != nil {
		t.Errorf("Pending of a local store = %v", err)
	}
}
