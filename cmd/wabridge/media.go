package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wabridge/wabridge/internal/d360"
)

// MediaCmd manages uploaded media.
type MediaCmd struct {
	Upload MediaUploadCmd `cmd:"" help:"Upload a file and print its media id (checks type and size limits first)."`
	Info   MediaInfoCmd   `cmd:"" help:"Show what the API knows of a media id (type, size, sha256, short-lived URL)."`
	Delete MediaDeleteCmd `cmd:"" help:"Delete an uploaded file."`
}

// Help is shown by --help.
func (MediaCmd) Help() string {
	return `Uploads media through 360dialog (POST {base}/media) with the key in D360_API_KEY. Sending by media id rather than by link is what 360dialog advises for templates: the file is fetched once, not per message. Uploaded media stays 30 days after its last use.

Examples:

    wabridge media upload banner.jpg                 # prints the media id
    wabridge send --to 15550001111 --template promo --language en \
        --param header=$(wabridge media upload banner.jpg) --param "body.1:currency=USD 19.99"
    wabridge media upload report.bin --mime application/pdf
    id=$(wabridge media upload banner.jpg)
    wabridge media info $id -o json
    wabridge media delete $id`
}

// MediaUploadCmd uploads a file.
type MediaUploadCmd struct {
	File   string   `arg:"" type:"existingfile" help:"File to upload."`
	MIME   string   `name:"mime" placeholder:"TYPE" help:"Content type to declare instead of the one from the file name and content."`
	DryRun bool     `help:"Check type and size and print them; do not upload."`
	Output string   `short:"o" default:"text" enum:"text,json" help:"text (the media id) or json."`
	API    APIFlags `embed:""`
}

// Run uploads.
func (c *MediaUploadCmd) Run(ctx context.Context, g *Globals) error {
	f, err := os.Open(c.File)
	if err != nil {
		return usageError("%v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return usageError("%v", err)
	}
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fmt.Errorf("reading %s: %w", c.File, err)
	}
	head = head[:n]
	mimeType, kind, err := checkMediaFile(c.File, c.MIME, st.Size(), head)
	if err != nil {
		return usageError("%v", err)
	}
	if c.DryRun {
		fmt.Fprintf(g.Stdout, "%s: %s (%s), %d bytes, within the %d-byte limit\n", c.File, mimeType, kind.Kind, st.Size(), kind.MaxBytes)
		return nil
	}
	cl, err := c.API.client()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	id, err := cl.UploadMedia(ctx, d360.MediaFile{Name: filepath.Base(c.File), MIME: mimeType, Size: st.Size(), Body: f})
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return writeJSON(g.Stdout, map[string]any{"id": id, "file": c.File, "mime_type": mimeType, "kind": kind.Kind, "file_size": st.Size()})
	}
	fmt.Fprintln(g.Stdout, id)
	return nil
}

// extensionTypes maps file extensions to the MIME types the API accepts.
// Our own table rather than the system's mime.types, so a file gets the same
// type on every machine.
var extensionTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
	".mp4": "video/mp4", ".3gp": "video/3gpp", ".3gpp": "video/3gpp",
	".aac": "audio/aac", ".amr": "audio/amr", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".ogg": "audio/ogg", ".opus": "audio/ogg",
	".txt": "text/plain", ".pdf": "application/pdf",
	".doc": "application/msword", ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xls": "application/vnd.ms-excel", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".ppt": "application/vnd.ms-powerpoint", ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

// contentFits checks a file's first bytes against the magic numbers of a
// MIME type; it returns "" when they fit, else what the content looks like.
func contentFits(mimeType string, head []byte) string {
	looks := http.DetectContentType(head)
	ole := []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	isFtyp := len(head) >= 12 && string(head[4:8]) == "ftyp"
	ok := false
	switch mimeType {
	case "image/jpeg", "image/png", "image/webp", "application/pdf":
		ok = looks == mimeType
	case "video/mp4", "audio/mp4":
		ok = isFtyp && !strings.HasPrefix(string(head[8:12]), "3g")
	case "video/3gpp":
		ok = isFtyp && strings.HasPrefix(string(head[8:12]), "3g")
	case "audio/mpeg":
		ok = bytes.HasPrefix(head, []byte("ID3")) || (len(head) > 1 && head[0] == 0xFF && head[1]&0xE0 == 0xE0)
	case "audio/aac":
		ok = bytes.HasPrefix(head, []byte("ADIF")) || (len(head) > 1 && head[0] == 0xFF && head[1]&0xF6 == 0xF0)
	case "audio/amr":
		ok = bytes.HasPrefix(head, []byte("#!AMR"))
	case "audio/ogg":
		if !bytes.HasPrefix(head, []byte("OggS")) {
			break
		}
		if !bytes.Contains(head, []byte("OpusHead")) {
			return "Ogg audio without the Opus codec (WhatsApp takes Ogg with Opus only)"
		}
		ok = true
	case "text/plain":
		ok = strings.HasPrefix(looks, "text/plain")
	case "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint":
		ok = bytes.HasPrefix(head, ole)
	default: // the OOXML formats are zip files
		ok = bytes.HasPrefix(head, []byte("PK\x03\x04"))
	}
	if ok {
		return ""
	}
	if bytes.HasPrefix(head, ole) {
		return "an old Microsoft Office file"
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return "a zip archive"
	}
	return strings.Split(looks, ";")[0]
}

// checkMediaFile picks the MIME type of a file and checks it against the
// API's types and size limits (reference §13): the type comes from the
// extension (or --mime) and must agree with the file's first bytes.
func checkMediaFile(name, forced string, size int64, head []byte) (string, d360.MediaKind, error) {
	mimeType := forced
	if mimeType == "" {
		ext := strings.ToLower(filepath.Ext(name))
		var ok bool
		if mimeType, ok = extensionTypes[ext]; !ok {
			sniffed := http.DetectContentType(head)
			if _, known := d360.MediaKindOf(sniffed); known && sniffed != "text/plain; charset=utf-8" {
				mimeType = sniffed
			} else {
				exts := make([]string, 0, len(extensionTypes))
				for e := range extensionTypes {
					exts = append(exts, e)
				}
				slices.Sort(exts)
				return "", d360.MediaKind{}, fmt.Errorf("%s: cannot tell the type from the extension %q; WhatsApp takes %s (or pass --mime)", name, ext, strings.Join(exts, " "))
			}
		}
	}
	kind, ok := d360.MediaKindOf(mimeType)
	if !ok {
		types := d360.MediaTypes("")
		slices.Sort(types)
		return "", kind, fmt.Errorf("%s: WhatsApp does not take %s; it takes %s", name, mimeType, strings.Join(types, ", "))
	}
	if size == 0 {
		return "", kind, fmt.Errorf("%s: the file is empty", name)
	}
	if forced == "" {
		if looks := contentFits(mimeType, head); looks != "" {
			return "", kind, fmt.Errorf("%s: the name says %s but the content looks like %s; rename the file or pass --mime", name, mimeType, looks)
		}
	}
	limit := kind.MaxBytes
	what := kind.Kind
	if kind.Kind == "sticker" && !animatedWebP(head) {
		limit, what = kind.MaxStaticBytes, "static sticker"
	}
	if size > limit {
		return "", kind, fmt.Errorf("%s: %s is over the %s limit of %s for %s", name, humanBytes(size), what, humanBytes(limit), mimeType)
	}
	return mimeType, kind, nil
}

// animatedWebP reads the VP8X header's animation flag.
func animatedWebP(head []byte) bool {
	return len(head) >= 21 && string(head[12:16]) == "VP8X" && head[20]&0x02 != 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// MediaInfoCmd shows a media id.
type MediaInfoCmd struct {
	ID     string   `arg:"" help:"Media id."`
	Output string   `short:"o" default:"text" enum:"text,json" help:"text or json."`
	API    APIFlags `embed:""`
}

// Run shows.
func (c *MediaInfoCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := c.API.client()
	if err != nil {
		return err
	}
	mi, err := cl.Media(ctx, c.ID)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return writeJSON(g.Stdout, mi)
	}
	fmt.Fprintf(g.Stdout, "id=%s mime_type=%s file_size=%d sha256=%s\nurl=%s\n", mi.ID, mi.MIMEType, mi.FileSize, mi.SHA256, mi.URL)
	return nil
}

// MediaDeleteCmd deletes a media id.
type MediaDeleteCmd struct {
	ID  string   `arg:"" help:"Media id."`
	API APIFlags `embed:""`
}

// Run deletes.
func (c *MediaDeleteCmd) Run(ctx context.Context, g *Globals) error {
	cl, err := c.API.client()
	if err != nil {
		return err
	}
	if err := cl.DeleteMedia(ctx, c.ID); err != nil {
		return err
	}
	fmt.Fprintf(g.Stdout, "deleted %s\n", c.ID)
	return nil
}
