package playbooks_test

import (
	"testing"

	"firebreak/playbooks"
)

func TestBuiltinPlaybooksValidate(t *testing.T) {
	reg := playbooks.NewRegistry()
	playbooks.RegisterBuiltins(reg)
	lib := playbooks.Library{}
	entries, err := lib.List()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"escape-suspected": false, "evidence-only": false, "cryptominer": false, "release": false, "restore-clean": false}
	for _, e := range entries {
		pb, err := lib.Load(e.Name)
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if err := playbooks.Validate(pb, reg); err != nil {
			t.Errorf("%s does not validate:\n%v", e.Name, err)
		}
		if pb.Name != e.Name {
			t.Errorf("%s names itself %q", e.Name, pb.Name)
		}
		want[e.Name] = true
	}
	for n, found := range want {
		if !found {
			t.Errorf("built-in %s missing", n)
		}
	}
}
