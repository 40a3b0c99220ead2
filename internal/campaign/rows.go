package campaign

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// Columns reads the header row of a CSV file (nil for JSONL).
func Columns(path, format string, delim rune) ([]string, error) {
	if format != "csv" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("%v", err)
	}
	defer f.Close()
	rr, err := newRowReader(f, format, delim)
	if err != nil {
		return nil, usageError("%s: %v", path, err)
	}
	return rr.header, nil
}

// row is one data row: its fields by column (CSV) or its object (JSONL).
type row struct {
	line   int      // line the row starts on
	fields []string // CSV fields; for JSONL the values of the plan's columns
	raw    []byte   // JSONL: the line
	err    error    // the row cannot be read
}

// rowReader streams rows of a CSV or JSONL file.
type rowReader struct {
	format string
	header []string // CSV
	csv    *csv.Reader
	lines  *bufio.Scanner
	line   int // JSONL: current line
	read   *countingReader
	blank  int // blank rows skipped
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

const maxLine = 1 << 20

// newRowReader starts reading r; for CSV it reads the header row. A UTF-8
// byte-order mark is skipped; UTF-16 files are refused.
func newRowReader(r io.Reader, format string, delim rune) (*rowReader, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	if bom, _ := br.Peek(3); bytes.HasPrefix(bom, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	} else if bytes.HasPrefix(bom, []byte("\xFF\xFE")) || bytes.HasPrefix(bom, []byte("\xFE\xFF")) {
		return nil, errors.New("the file is UTF-16; save it as UTF-8 (CSV UTF-8 in Excel)")
	}
	rr := &rowReader{format: format, read: cr}
	if format == "jsonl" {
		rr.lines = bufio.NewScanner(br)
		rr.lines.Buffer(make([]byte, 64<<10), maxLine)
		return rr, nil
	}
	rr.csv = csv.NewReader(br)
	rr.csv.Comma = delim
	rr.csv.FieldsPerRecord = -1 // checked per row, so one bad row is one rejected row
	rr.csv.ReuseRecord = true
	for {
		rec, err := rr.csv.Read()
		if err == io.EOF {
			return nil, errors.New("the file is empty: want a header row naming the columns, e.g. phone,first_name")
		}
		if err != nil {
			return nil, fmt.Errorf("header row: %v", csvError(err))
		}
		if blankRecord(rec) {
			continue
		}
		rr.header = make([]string, len(rec))
		for i, h := range rec {
			rr.header[i] = strings.TrimSpace(h)
			if !utf8.ValidString(h) {
				return nil, errors.New("header row is not valid UTF-8; save the file as UTF-8")
			}
		}
		return rr, nil
	}
}

// next returns the next row; io.EOF at the end. Errors of one row come in
// row.err; a returned error ends the file (an over-long JSONL line).
func (rr *rowReader) next() (row, error) {
	if rr.format == "jsonl" {
		for rr.lines.Scan() {
			rr.line++
			b := rr.lines.Bytes()
			if len(bytes.TrimSpace(b)) == 0 {
				rr.blank++
				continue
			}
			return row{line: rr.line, raw: b}, nil
		}
		if err := rr.lines.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return row{}, fmt.Errorf("line %d is longer than %d bytes", rr.line+1, maxLine)
			}
			return row{}, err
		}
		return row{}, io.EOF
	}
	for {
		rec, err := rr.csv.Read()
		if err == io.EOF {
			return row{}, io.EOF
		}
		if err != nil {
			// FieldPos is only valid for a record read without error.
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			return row{line: line, fields: slices.Clone(rec), err: csvError(err)}, nil
		}
		line, _ := rr.csv.FieldPos(0)
		if blankRecord(rec) {
			rr.blank++
			continue
		}
		r := row{line: line, fields: slices.Clone(rec)}
		if len(rec) != len(rr.header) {
			r.err = fmt.Errorf("%d fields, the header has %d (a comma inside a value needs quotes: \"Smith, Jane\")", len(rec), len(rr.header))
		}
		return r, nil
	}
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// csvError words encoding/csv's errors for people.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Errorf(`a " inside an unquoted value (at character %d): quote the whole value and double the quote, e.g. "say ""hi"""`, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Errorf(`a quoted value is not closed, or a " is followed by text (at character %d); the quote opened on line %d`, pe.Column, pe.StartLine)
	}
	return pe.Err
}
