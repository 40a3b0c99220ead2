package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var pngHead = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func TestMediaUploadInfoDelete(t *testing.T) {
	s, api := templatesEnv(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "banner.png")
	os.WriteFile(img, append(pngHead, bytes.Repeat([]byte{7}, 4096)...), 0o644)

	r := runCLI(t, ctx, append([]string{"media", "upload", img, "--dry-run"}, api...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "image/png (image)") || len(s.Uploads()) != 0 {
		t.Fatalf("dry run: exit %d err %v %q", r.code, r.err, r.stdout)
	}
	r = runCLI(t, ctx, append([]string{"media", "upload", img}, api...)...)
	id := strings.TrimSpace(r.stdout)
	ups := s.Uploads()
	if r.code != 0 || len(ups) != 1 || ups[0].ID != id || ups[0].Size != int64(len(pngHead)+4096) || ups[0].Filename != "banner.png" {
		t.Fatalf("upload: exit %d err %v id %q; stand-in has %+v", r.code, r.err, id, ups)
	}
	r = runCLI(t, ctx, append([]string{"media", "info", id, "-o", "json"}, api...)...)
	var info map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &info) != nil || info["mime_type"] != "image/png" || info["sha256"] != ups[0].SHA256 {
		t.Errorf("info: exit %d %s", r.code, r.stdout)
	}
	// The URL prints as it is: & is not escaped to \u0026.
	if !strings.Contains(r.stdout, "&ext=0&hash=") {
		t.Errorf("info -o json escapes the URL: %s", r.stdout)
	}
	r = runCLI(t, ctx, append([]string{"media", "delete", id}, api...)...)
	if r.code != 0 || len(s.Uploads()) != 0 {
		t.Errorf("delete: exit %d err %v", r.code, r.err)
	}

	// A mismatch stops before any upload.
	fake := filepath.Join(dir, "photo.jpg")
	os.WriteFile(fake, []byte("%PDF-1.4 not a photo"), 0o644)
	r = runCLI(t, ctx, append([]string{"media", "upload", fake}, api...)...)
	if r.code != 2 || !strings.Contains(r.err.Error(), "content looks like application/pdf") || len(s.Uploads()) != 0 {
		t.Errorf("mismatch: exit %d err %v", r.code, r.err)
	}
}
