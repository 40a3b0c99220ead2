package d360

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
)

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

// CheckMediaFile picks the MIME type of a file and checks it against the
// API's types and size limits
// (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types):
// the type comes from the
// extension (or --mime) and must agree with the file's first bytes.
func CheckMediaFile(name, forced string, size int64, head []byte) (string, MediaKind, error) {
	mimeType := forced
	if mimeType == "" {
		ext := strings.ToLower(filepath.Ext(name))
		var ok bool
		if mimeType, ok = extensionTypes[ext]; !ok {
			sniffed := http.DetectContentType(head)
			if _, known := MediaKindOf(sniffed); known && sniffed != "text/plain; charset=utf-8" {
				mimeType = sniffed
			} else {
				exts := make([]string, 0, len(extensionTypes))
				for e := range extensionTypes {
					exts = append(exts, e)
				}
				slices.Sort(exts)
				return "", MediaKind{}, fmt.Errorf("%s: cannot tell the type from the extension %q; WhatsApp takes %s (or pass --mime)", name, ext, strings.Join(exts, " "))
			}
		}
	}
	kind, ok := MediaKindOf(mimeType)
	if !ok {
		types := MediaTypes("")
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
