package collect_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"firebreak/runtime/runtimetest"
)

// checkWithUmoci builds an OCI image layout out of two layers, the image's
// root filesystem (`docker export` of a fresh container of it) and the
// captured layer, and has umoci unpack it: umoci applies the layers by the
// OCI image-spec's rules (whiteouts, opaque directories) with code of its
// own, so a layer that only containerd's archive.Apply reads as meant
// fails here. The unpacked tree must equal want, the export of the
// captured container, path by path.
func checkWithUmoci(t *testing.T, h *runtimetest.DockerHarness, freshID string, zst []byte, want map[string]entryInfo) {
	t.Helper()
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		runtimetest.SkipOrFail(t, "umoci (Debian's umoci; scripts/testenv.sh up installs it): %v", err)
	}
	rc, err := h.Docker().API().ContainerExport(runtimetest.Context(t), freshID)
	if err != nil {
		t.Fatal(err)
	}
	base, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(bytes.NewReader(zst))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	zr.Close()
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	layout := filepath.Join(dir, "image")
	blob := func(b []byte) map[string]any {
		sum := sha256.Sum256(b)
		d := hex.EncodeToString(sum[:])
		p := filepath.Join(layout, "blobs", "sha256", d)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"digest": "sha256:" + d, "size": len(b)}
	}
	with := func(desc map[string]any, mediaType string) map[string]any {
		desc["mediaType"] = mediaType
		return desc
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const tarLayer = "application/vnd.oci.image.layer.v1.tar"
	baseDesc, layerDesc := with(blob(base), tarLayer), with(blob(layer), tarLayer)
	config := with(blob(mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []any{baseDesc["digest"], layerDesc["digest"]}},
	})), "application/vnd.oci.image.config.v1+json")
	manifest := with(blob(mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": config, "layers": []any{baseDesc, layerDesc},
	})), "application/vnd.oci.image.manifest.v1+json")
	manifest["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "case"}
	if err := os.WriteFile(filepath.Join(layout, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layout, "index.json"), mustJSON(map[string]any{"schemaVersion": 2, "manifests": []any{manifest}}), 0o644); err != nil {
		t.Fatal(err)
	}

	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command(umoci, "raw", "unpack", "--image", layout+":case", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("umoci raw unpack of the image with the captured layer: %v\n%s", err, out)
	}
	sameTrees(t, "umoci unpack", treeInfo(t, rootfs), want)
}
