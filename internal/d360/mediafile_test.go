package d360

import (
	"strings"
	"testing"
)

var (
	jpegHead = []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00")
	pngHead  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	webpHead = func(animated bool) []byte {
		flags := byte(0)
		if animated {
			flags = 0x02
		}
		return append([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00"), flags, 0, 0, 0)
	}
	mp4Head = []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	gpHead  = []byte("\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00")
	oggOpus = []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead\x01")
	oggVorb = []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01vorbis")
	ole     = []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00")
	zipHead = []byte("PK\x03\x04\x14\x00")
)

func TestCheckMediaFile(t *testing.T) {
	tests := []struct {
		name, forced string
		size         int64
		head         []byte
		mime         string
		err          string
	}{
		{name: "a.jpg", size: 1000, head: jpegHead, mime: "image/jpeg"},
		{name: "A.JPEG", size: 1000, head: jpegHead, mime: "image/jpeg"},
		{name: "a.png", size: 5 << 20, head: pngHead, mime: "image/png"},
		{name: "a.png", size: 5<<20 + 1, head: pngHead, err: "5.0 MiB is over the image limit of 5.0 MiB"},
		{name: "a.jpg", size: 1000, head: pngHead, err: "the name says image/jpeg but the content looks like image/png"},
		{name: "a.jpg", forced: "image/png", size: 1000, head: pngHead, mime: "image/png"},
		{name: "s.webp", size: 100 << 10, head: webpHead(false), mime: "image/webp"},
		{name: "s.webp", size: 200 << 10, head: webpHead(false), err: "over the static sticker limit of 100.0 KiB"},
		{name: "s.webp", size: 200 << 10, head: webpHead(true), mime: "image/webp"},
		{name: "s.webp", size: 501 << 10, head: webpHead(true), err: "over the sticker limit of 500.0 KiB"},
		{name: "v.mp4", size: 16 << 20, head: mp4Head, mime: "video/mp4"},
		{name: "v.mp4", size: 16<<20 + 1, head: mp4Head, err: "over the video limit"},
		{name: "v.3gp", size: 10, head: gpHead, mime: "video/3gpp"},
		{name: "v.mp4", size: 10, head: gpHead, err: "content looks like"},
		{name: "a.m4a", size: 10, head: mp4Head, mime: "audio/mp4"},
		{name: "a.mp3", size: 10, head: []byte("ID3\x04\x00"), mime: "audio/mpeg"},
		{name: "a.mp3", size: 10, head: []byte("\xFF\xFB\x90\x00"), mime: "audio/mpeg"},
		{name: "a.aac", size: 10, head: []byte("\xFF\xF1\x50\x80"), mime: "audio/aac"},
		{name: "a.amr", size: 10, head: []byte("#!AMR\n"), mime: "audio/amr"},
		{name: "v.opus", size: 10, head: oggOpus, mime: "audio/ogg"},
		{name: "v.ogg", size: 10, head: oggVorb, err: "Ogg audio without the Opus codec"},
		{name: "r.pdf", size: 100 << 20, head: []byte("%PDF-1.7\n"), mime: "application/pdf"},
		{name: "r.pdf", size: 100<<20 + 1, head: []byte("%PDF-1.7\n"), err: "over the document limit"},
		{name: "r.txt", size: 10, head: []byte("hello\n"), mime: "text/plain"},
		{name: "r.doc", size: 10, head: ole, mime: "application/msword"},
		{name: "r.docx", size: 10, head: zipHead, mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{name: "r.docx", size: 10, head: ole, err: "content looks like an old Microsoft Office file"},
		{name: "r.xls", size: 10, head: zipHead, err: "content looks like a zip archive"},
		{name: "noext", size: 10, head: jpegHead, mime: "image/jpeg"},
		{name: "a.gif", size: 10, head: []byte("GIF89a"), err: `cannot tell the type from the extension ".gif"`},
		{name: "a.bin", forced: "image/gif", size: 10, head: []byte("GIF89a"), err: "WhatsApp does not take image/gif"},
		{name: "a.jpg", size: 0, head: nil, err: "the file is empty"},
	}
	for _, tt := range tests {
		mimeType, _, err := CheckMediaFile(tt.name, tt.forced, tt.size, tt.head)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s (%d bytes): error %v, want %q", tt.name, tt.size, err, tt.err)
			}
			continue
		}
		if err != nil || mimeType != tt.mime {
			t.Errorf("%s: %q, %v; want %q", tt.name, mimeType, err, tt.mime)
		}
	}
}
