package d360

// Media (reference §13): POST {base}/media (multipart) returns a media id;
// GET {base}/{media-id} describes it; DELETE {base}/{media-id} deletes it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
)

// MediaKind is the message type a media file can be sent as, with its
// limits.
type MediaKind struct {
	// Kind is audio, document, image, video or sticker.
	Kind string
	// MaxBytes is the largest file the API takes (reference §13). "MB" of
	// the reference is read as MiB; for stickers it is the animated limit,
	// MaxStaticBytes the static one.
	MaxBytes       int64
	MaxStaticBytes int64
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// mediaKinds maps each MIME type the API accepts to its kind (reference §13).
var mediaKinds = map[string]MediaKind{
	"audio/aac":  {Kind: "audio", MaxBytes: 16 * mib},
	"audio/amr":  {Kind: "audio", MaxBytes: 16 * mib},
	"audio/mpeg": {Kind: "audio", MaxBytes: 16 * mib},
	"audio/mp4":  {Kind: "audio", MaxBytes: 16 * mib},
	"audio/ogg":  {Kind: "audio", MaxBytes: 16 * mib},

	"text/plain":         {Kind: "document", MaxBytes: 100 * mib},
	"application/pdf":    {Kind: "document", MaxBytes: 100 * mib},
	"application/msword": {Kind: "document", MaxBytes: 100 * mib},
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": {Kind: "document", MaxBytes: 100 * mib},
	"application/vnd.ms-excel": {Kind: "document", MaxBytes: 100 * mib},
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         {Kind: "document", MaxBytes: 100 * mib},
	"application/vnd.ms-powerpoint":                                             {Kind: "document", MaxBytes: 100 * mib},
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": {Kind: "document", MaxBytes: 100 * mib},

	"image/jpeg": {Kind: "image", MaxBytes: 5 * mib},
	"image/png":  {Kind: "image", MaxBytes: 5 * mib},

	"video/mp4":  {Kind: "video", MaxBytes: 16 * mib},
	"video/3gpp": {Kind: "video", MaxBytes: 16 * mib},

	"image/webp": {Kind: "sticker", MaxBytes: 500 * kib, MaxStaticBytes: 100 * kib},
}

// MediaKindOf returns the kind and limits of a MIME type (parameters such as
// "; codecs=opus" are ignored); false when the API does not take it.
func MediaKindOf(mimeType string) (MediaKind, bool) {
	base, _, _ := strings.Cut(mimeType, ";")
	k, ok := mediaKinds[strings.ToLower(strings.TrimSpace(base))]
	return k, ok
}

// MediaTypes lists the accepted MIME types of a kind ("" for all).
func MediaTypes(kind string) []string {
	var out []string
	for m, k := range mediaKinds {
		if kind == "" || k.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// MediaFile is a file to upload.
type MediaFile struct {
	// Name is the file name sent in the multipart part.
	Name string
	// MIME is its content type; it must be one MediaKindOf knows.
	MIME string
	// Size is the exact length of Body.
	Size int64
	Body io.Reader
}

// UploadMedia uploads f (POST {base}/media, multipart with messaging_product,
// type and file) and returns the media id. The file is streamed, not held in
// memory.
func (c *Client) UploadMedia(ctx context.Context, f MediaFile) (string, error) {
	if _, ok := MediaKindOf(f.MIME); !ok {
		return "", fmt.Errorf("uploading %s: the API does not take %q", f.Name, f.MIME)
	}
	// Render the parts around the file so the request has a length: some
	// proxies refuse chunked uploads.
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("messaging_product", "whatsapp")
	_ = mw.WriteField("type", f.MIME)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+sanitizeFilename(f.Name)+`"`)
	h.Set("Content-Type", f.MIME)
	if _, err := mw.CreatePart(h); err != nil {
		return "", fmt.Errorf("uploading %s: %w", f.Name, err)
	}
	headLen := head.Len()
	_ = mw.Close()
	tail := append([]byte(nil), head.Bytes()[headLen:]...) // "\r\n--boundary--\r\n"
	head.Truncate(headLen)

	body := io.MultiReader(&head, io.LimitReader(f.Body, f.Size), bytes.NewReader(tail))
	cl, err := c.request(ctx, http.MethodPost, c.baseURL().JoinPath("media").String(), body, mw.FormDataContentType())
	if err != nil {
		return "", err
	}
	cl.req.ContentLength = int64(head.Len()) + f.Size + int64(len(tail))
	status, raw, err := c.exchange(cl, nil, 1<<20)
	if err != nil {
		return "", err
	}
	var ans struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.ID == "" {
		return "", &APIError{StatusCode: status, Title: "upload answer carries no media id", Body: truncate(raw)}
	}
	return ans.ID, nil
}

func sanitizeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

// MediaInfo describes an uploaded file (GET {base}/{media-id}). URL is
// short-lived and points at Meta's host; 360dialog serves the same path and
// query on its own host (reference §13).
type MediaInfo struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	MIMEType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	FileSize int64  `json:"file_size"`
}

// Media returns what the API knows of media id.
func (c *Client) Media(ctx context.Context, id string) (MediaInfo, error) {
	if err := checkMediaID(id); err != nil {
		return MediaInfo{}, err
	}
	raw, err := c.call(ctx, http.MethodGet, c.baseURL().JoinPath(id).String(), nil, "")
	if err != nil {
		return MediaInfo{}, fmt.Errorf("looking up media %s: %w", id, err)
	}
	var mi MediaInfo
	if err := json.Unmarshal(raw, &mi); err != nil {
		return MediaInfo{}, fmt.Errorf("looking up media %s: unreadable answer: %w", id, err)
	}
	// file_size arrives as a number or a string depending on the version.
	if mi.FileSize == 0 {
		var s struct {
			FileSize json.Number `json:"file_size"`
		}
		if json.Unmarshal(raw, &s) == nil {
			mi.FileSize, _ = s.FileSize.Int64()
		}
	}
	return mi, nil
}

// DeleteMedia deletes media id.
func (c *Client) DeleteMedia(ctx context.Context, id string) error {
	if err := checkMediaID(id); err != nil {
		return err
	}
	if _, err := c.call(ctx, http.MethodDelete, c.baseURL().JoinPath(id).String(), nil, ""); err != nil {
		return fmt.Errorf("deleting media %s: %w", id, err)
	}
	return nil
}

// checkMediaID refuses ids that would address another endpoint
// (GET {base}/messages, /v1/...): media ids are digits and letters.
func checkMediaID(id string) error {
	if id == "" || strings.IndexFunc(id, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && r != '-' && r != '_'
	}) >= 0 || id == "messages" || id == "media" || id == "v1" {
		return fmt.Errorf("media id %q: want the id an upload returned (letters and digits)", id)
	}
	return nil
}
