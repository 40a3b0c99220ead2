package main

import (
	"io"

	"github.com/wabridge/wabridge/internal/render"
	"github.com/wabridge/wabridge/schemas"
)

// outputFlags choose how JSON output is printed (internal/render), the same
// for every tool that prints records or events.
type outputFlags struct {
	Pretty bool   `help:"Indent JSON output over several lines."`
	Fields string `placeholder:"F1,F2" help:"Print only these fields of each JSON line, in this order: names or dotted paths (event_id,status,error.reason); a name not at the top is looked up in the record's value."`
}

// printer returns the JSON printer the flags describe.
func (o outputFlags) printer(w io.Writer) (*render.Printer, error) {
	fields, err := render.ParseFields(o.Fields)
	if err != nil {
		return nil, usageError("--fields: %v", err)
	}
	return render.NewPrinter(w, render.Options{Pretty: o.Pretty, Fields: fields}), nil
}

// decoder renders Avro values read through the registry.
func (r registryFlags) decoder() (*render.Decoder, error) {
	reg, err := r.client()
	if err != nil {
		return nil, err
	}
	return render.NewDecoder(schemas.NewDecoder(reg)), nil
}

// writeJSON prints v indented, through the one renderer (a URL's & stays &).
func writeJSON(w io.Writer, v any) error {
	return render.NewPrinter(w, render.Options{Pretty: true}).Print(v)
}
