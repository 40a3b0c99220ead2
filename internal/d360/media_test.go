package d360_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wabridge/wabridge/internal/d360"
	"github.com/wabridge/wabridge/internal/d360/d360test"
)

func TestUploadMediaRoundTrip(t *testing.T) {
	s, c, _ := templatesStandIn(t, d360test.Config{})
	ctx := context.Background()
	data := append([]byte("\xFF\xD8\xFF\xE0"), bytes.Repeat([]byte("jpeg"), 50_000)...)
	id, err := c.UploadMedia(ctx, d360.MediaFile{Name: `ban"ner.jpg`, MIME: "image/jpeg", Size: int64(len(data)), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	ups := s.Uploads()
	if len(ups) != 1 || ups[0].ID != id || ups[0].Size != int64(len(data)) || ups[0].SHA256 != hex.EncodeToString(sum[:]) || ups[0].MIME != "image/jpeg" || ups[0].Filename != "ban_ner.jpg" {
		t.Fatalf("stand-in recorded %+v", ups)
	}
	info, err := c.Media(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || info.FileSize != int64(len(data)) || info.MIMEType != "image/jpeg" || !strings.HasPrefix(info.URL, "https://lookaside.fbsbx.com/") {
		t.Errorf("info = %+v", info)
	}
	if err := c.DeleteMedia(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = c.Media(ctx, id)
	var apiErr *d360.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("after delete: %v", err)
	}
}

func TestUploadMediaSendsAMultipartBodyWithLength(t *testing.T) {
	var got struct {
		length   int64
		product  string
		typ      string
		partType string
		content  []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.length = r.ContentLength
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch p.FormName() {
			case "messaging_product":
				got.product = string(b)
			case "type":
				got.typ = string(b)
			case "file":
				got.partType, got.content = p.Header.Get("Content-Type"), b
			}
		}
		w.Write([]byte(`{"id":"4490709327384033"}`))
	}))
	defer srv.Close()
	c, _ := d360.New(d360.Config{BaseURL: srv.URL, APIKey: "k"})
	id, err := c.UploadMedia(context.Background(), d360.MediaFile{Name: "a.pdf", MIME: "application/pdf", Size: 9, Body: strings.NewReader("%PDF-1.7\n")})
	if err != nil || id != "4490709327384033" {
		t.Fatalf("id %q err %v", id, err)
	}
	if got.length <= 9 || got.product != "whatsapp" || got.typ != "application/pdf" || got.partType != "application/pdf" || string(got.content) != "%PDF-1.7\n" {
		t.Errorf("server saw %+v", got)
	}
}

func TestUploadMediaRefusals(t *testing.T) {
	_, c, _ := templatesStandIn(t, d360test.Config{})
	ctx := context.Background()
	if _, err := c.UploadMedia(ctx, d360.MediaFile{Name: "a.gif", MIME: "image/gif", Size: 1, Body: strings.NewReader("G")}); err == nil || !strings.Contains(err.Error(), "does not take") {
		t.Errorf("gif: %v", err)
	}
	// The stand-in refuses sizes over the limit, like the API.
	big := int64(5<<20 + 1)
	_, err := c.UploadMedia(ctx, d360.MediaFile{Name: "big.png", MIME: "image/png", Size: big, Body: io.LimitReader(zeros{}, big)})
	var apiErr *d360.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 131053 {
		t.Errorf("oversized: %v", err)
	}
	for _, id := range []string{"", "messages", "../x", "a/b", "v1"} {
		if _, err := c.Media(ctx, id); err == nil || !strings.Contains(err.Error(), "media id") {
			t.Errorf("Media(%q) = %v", id, err)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestMediaKindOf(t *testing.T) {
	tests := []struct {
		mime, kind string
		max        int64
	}{
		{"image/jpeg", "image", 5 << 20},
		{"IMAGE/PNG", "image", 5 << 20},
		{"audio/ogg; codecs=opus", "audio", 16 << 20},
		{"video/mp4", "video", 16 << 20},
		{"application/pdf", "document", 100 << 20},
		{"image/webp", "sticker", 500 << 10},
		{"image/gif", "", 0},
	}
	for _, tt := range tests {
		k, ok := d360.MediaKindOf(tt.mime)
		if ok != (tt.kind != "") || k.Kind != tt.kind || k.MaxBytes != tt.max {
			t.Errorf("MediaKindOf(%q) = %+v, %v", tt.mime, k, ok)
		}
	}
	if k, _ := d360.MediaKindOf("image/webp"); k.MaxStaticBytes != 100<<10 {
		t.Errorf("static sticker limit = %d", k.MaxStaticBytes)
	}
	if n := len(d360.MediaTypes("document")); n != 8 {
		t.Errorf("%d document types, want 8", n)
	}
}
