package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The unit runs serve with the hardening the README promises, and systemd
// itself accepts it (systemd-analyze verify, with ExecStart pointed at a
// binary that exists here).
func TestServeUnit(t *testing.T) {
	b, err := os.ReadFile("firebreak-serve.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	keys := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"ProtectKernelModules": "yes", "RestrictSUIDSGID": "yes", "UMask": "0077", "RuntimeDirectoryMode": "0700",
		"KillSignal": "SIGTERM", "Restart": "on-failure",
	} {
		if keys[k] != want {
			t.Errorf("%s=%q, want %q", k, keys[k], want)
		}
	}
	if !strings.Contains(keys["ExecStart"], " serve --rules ") {
		t.Errorf("ExecStart %q does not run serve with rules", keys["ExecStart"])
	}
	if strings.Contains(keys["CapabilityBoundingSet"], "CAP_SYS_MODULE") || keys["CapabilityBoundingSet"] == "" {
		t.Errorf("CapabilityBoundingSet %q", keys["CapabilityBoundingSet"])
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit's syntax is not checked by systemd here")
	}
	dir := t.TempDir()
	copyUnit := strings.ReplaceAll(unit, "/usr/local/bin/firebreak", "/bin/true")
	path := filepath.Join(dir, "firebreak-serve.service")
	if err := os.WriteFile(path, []byte(copyUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "firebreak-serve.service:") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
