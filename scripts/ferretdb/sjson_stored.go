package sjson

// Leadscore's install step adds this file to FerretDB's source (scripts/ferretdb.mjs, patch "schema-dict").
//
// FerretDB stores every document with its schema (the BSON type of each value, nested as the document is) in the
// field $s, and the schema is most of what is stored: half of a Leadscore lead's stored text, 60% of a ledger entry's.
// SQLite reads the whole text for every index expression it computes, and the database writes it all. Documents of a
// collection mostly share a handful of shapes, so the SQLite backend stores each distinct schema once, in a table of
// its database, and each document refers to it by a hash of the schema's text:
//
//	{"$s":{"r":"<ref>","p":{"_id":<the _id's schema element>}},"_id":…,…}
//
// The _id's element stays inline because SQL reads it (the string _id ranges). Everything after $s is exactly what
// Marshal writes after the inline schema. A document the one-pass encoder does not take is stored inline, as before,
// and documents stored inline by an earlier build read as before.

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/FerretDB/FerretDB/internal/types"
)

// storedPrefix starts every document stored with a schema reference (and no inline schema starts so: "r" is not a
// key the inline form has).
const storedPrefix = `{"$s":{"r":"`

// ErrUnknownSchema means a document refers to a schema this process has not been given (see RememberSchema).
var ErrUnknownSchema = errors.New("sjson: document refers to an unknown schema")

// storedSchema is a schema known by reference: its text and, once a document of it was read, its decoded form.
type storedSchema struct {
	text []byte
	once sync.Once
	fast *fastSchema
	err  error
}

// decoded returns the decoded schema, decoding it the first time.
func (s *storedSchema) decoded() (*fastSchema, error) {
	s.once.Do(func() {
		d := fastDecoder{data: s.text}
		if s.fast, s.err = d.schema(); s.err == nil && (d.bad || d.pos != len(d.data)) {
			s.fast, s.err = nil, errNotCanonical
		}
	})

	return s.fast, s.err
}

// schemas holds every schema this process has written or loaded, by reference. A reference is a hash of the text, so
// one table serves every database; it grows with the number of distinct document shapes, not of documents.
var schemas sync.Map // string → *storedSchema

// SchemaRef returns the reference of a schema's text.
func SchemaRef(text []byte) string {
	h := sha256.Sum256(text)

	return base64.RawURLEncoding.EncodeToString(h[:12])
}

// RememberSchema records a schema read from the database, so documents referring to it can be read. A reference
// whose text does not hash to it is refused: it would decode documents with the wrong types.
func RememberSchema(ref string, text []byte) error {
	if SchemaRef(text) != ref {
		return fmt.Errorf("sjson: stored schema %q does not match its text", ref)
	}

	schemas.LoadOrStore(ref, &storedSchema{text: append([]byte(nil), text...)})

	return nil
}

// MarshalStored encodes a document for storage: with a reference to its schema when the one-pass encoder takes it
// (then ref and schema are the reference and the schema's text, which must be stored with the document), else inline
// exactly as Marshal (ref is empty).
func MarshalStored(d *types.Document) (b []byte, ref string, schema []byte, err error) {
	if d == nil {
		panic("v is nil")
	}

	schema, ok := appendSchema(make([]byte, 0, 512), d)
	if ok {
		ref = SchemaRef(schema)
		if b, ok = marshalWithRef(d, ref); ok {
			schemas.LoadOrStore(ref, &storedSchema{text: schema})
			return b, ref, schema, nil
		}
	}

	b, err = Marshal(d)

	return b, "", nil, err
}

// marshalWithRef writes the stored form with a schema reference (see the file's comment).
func marshalWithRef(d *types.Document, ref string) ([]byte, bool) {
	b := make([]byte, 0, 256)
	b = append(b, storedPrefix...)
	b = append(b, ref...)
	b = append(b, '"')

	var ok bool

	if id, err := d.Get("_id"); err == nil {
		b = append(b, `,"p":{"_id":`...)
		if b, ok = appendElem(b, id); !ok {
			return nil, false
		}

		b = append(b, '}')
	}

	return appendTopFields(append(b, '}'), d)
}

// UnmarshalStored decodes a stored document: one with a schema reference through the schema it names (an unknown
// reference is ErrUnknownSchema), any other as Unmarshal does.
func UnmarshalStored(data []byte) (*types.Document, error) {
	if len(data) < len(storedPrefix) || string(data[:len(storedPrefix)]) != storedPrefix {
		return Unmarshal(data)
	}

	d := fastDecoder{data: data, pos: len(storedPrefix) - 1}

	ref, ok := d.str()
	if !ok {
		return nil, fmt.Errorf("sjson: malformed schema reference")
	}

	// the inline _id element is for SQL; the stored schema has it too
	if d.consume(',') {
		if !d.keyIs("p") || !d.consume('{') || !d.keyIs("_id") {
			return nil, fmt.Errorf("sjson: malformed schema reference")
		}

		if _, err := d.elem(); err != nil || !d.consume('}') {
			return nil, fmt.Errorf("sjson: malformed schema reference")
		}
	}

	if !d.consume('}') {
		return nil, fmt.Errorf("sjson: malformed schema reference")
	}

	v, found := schemas.Load(ref)
	if !found {
		return nil, fmt.Errorf("%w %q", ErrUnknownSchema, ref)
	}

	s := v.(*storedSchema)
	rest := d.pos

	if sch, err := s.decoded(); err == nil {
		if doc, err := d.fields(sch, true); err == nil && !d.bad && d.pos == len(d.data) {
			return doc, nil
		}
	}

	// what the one-pass decoder does not take, the original decodes from the inline form, errors included
	inline := make([]byte, 0, len(`{"$s":`)+len(s.text)+len(data)-rest)
	inline = append(inline, `{"$s":`...)
	inline = append(inline, s.text...)
	inline = append(inline, data[rest:]...)

	return unmarshalSlow(inline)
}
