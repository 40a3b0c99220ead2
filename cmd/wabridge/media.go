package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	mimeType, kind, err := d360.CheckMediaFile(c.File, c.MIME, st.Size(), head)
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
