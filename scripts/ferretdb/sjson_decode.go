package sjson

// Leadscore's install step adds this file to FerretDB's source (scripts/ferretdb.mjs, patch "sjson-decode").
//
// FerretDB's own decoder (unmarshalSlow, the original Unmarshal) reads a stored document with encoding/json one
// nesting level at a time: it splits an object into raw messages, then decodes each again with a new decoder, so a
// value at depth d is scanned d+1 times and every scalar gets a decoder of its own. Under Leadscore's scoring that
// was a third of the database's CPU. This decoder reads the document once, guided by its schema. It only accepts
// what FerretDB's encoder writes (the schema first, fields in the schema's order, no duplicate keys); anything else,
// including every malformed input, is left to the original decoder, so results and errors stay FerretDB's own.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/FerretDB/FerretDB/internal/types"
)

// errNotCanonical means "not in the encoder's form": the original decoder decides what the input is.
var errNotCanonical = errors.New("sjson: not in the encoder's form")

// Unmarshal decodes the top-level document: in one pass when it is in the encoder's form, else by the original decoder.
func Unmarshal(data []byte) (*types.Document, error) {
	if doc, err := unmarshalFast(data); err == nil {
		return doc, nil
	}

	return unmarshalSlow(data)
}

// fastElem is a decoded schema element (see elem).
type fastElem struct {
	typ     elemType
	schema  *fastSchema         // objects
	items   []*fastElem         // arrays: nil when absent, empty when "i":[]
	subtype types.BinarySubtype // binData
	options string              // regex
	hasSub  bool
	hasOpts bool
	hasI    bool
}

// fastSchema is a decoded document schema: its keys in order and each key's element (nil when the schema lacks it).
type fastSchema struct {
	keys  []string
	props []*fastElem
}

// fastDecoder walks data once; pos is the next byte to read.
type fastDecoder struct {
	data []byte
	pos  int
	bad  bool // a list was malformed (see next)
}

// fieldList lets types.ConvertDocument build a document from the decoded keys and values in one step (no Set per
// field, which searches the fields set before it).
type fieldList struct {
	keys   []string
	values []any
}

func (f *fieldList) Keys() []string { return f.keys }
func (f *fieldList) Values() []any  { return f.values }

func unmarshalFast(data []byte) (*types.Document, error) {
	d := fastDecoder{data: data}

	if !d.consume('{') {
		return nil, errNotCanonical
	}

	key, ok := d.key()
	if !ok || key != "$s" {
		return nil, errNotCanonical
	}

	sch, err := d.schema()
	if err != nil {
		return nil, err
	}

	doc, err := d.fields(sch, true)
	if err != nil {
		return nil, err
	}

	// nothing may follow, not even whitespace: the original decoder refuses bytes left in its buffer
	if d.bad || d.pos != len(d.data) {
		return nil, errNotCanonical
	}

	return doc, nil
}

// space skips JSON whitespace.
func (d *fastDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// consume skips whitespace and the byte c, reporting whether c was there.
func (d *fastDecoder) consume(c byte) bool {
	d.space()

	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}

	return false
}

// peek skips whitespace and returns the next byte (0 at the end).
func (d *fastDecoder) peek() byte {
	d.space()

	if d.pos < len(d.data) {
		return d.data[d.pos]
	}

	return 0
}

// key reads an object key and its colon.
func (d *fastDecoder) key() (string, bool) {
	s, ok := d.str()
	if !ok || !d.consume(':') {
		return "", false
	}

	return s, true
}

// keyIs reads an object key and its colon, reporting whether the key is k.
func (d *fastDecoder) keyIs(k string) bool {
	b, plain, ok := d.rawStr()
	if !ok || !d.consume(':') {
		return false
	}

	if plain {
		return string(b[1:len(b)-1]) == k
	}

	var s string

	return json.Unmarshal(b, &s) == nil && s == k
}

// rawStr returns the bytes of the next JSON string (quotes included) and whether they hold only plain characters:
// printable ASCII or valid UTF-8, no escapes.
func (d *fastDecoder) rawStr() ([]byte, bool, bool) {
	if d.peek() != '"' {
		return nil, false, false
	}

	start := d.pos
	plain := true
	ascii := true

	for i := start + 1; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			b := d.data[start:d.pos]

			if plain && !ascii && !utf8.Valid(b) {
				plain = false
			}

			return b, plain, true
		case c == '\\':
			plain = false
			i++
		case c < 0x20:
			return nil, false, false // not JSON
		case c >= 0x80:
			ascii = false
		}
	}

	return nil, false, false
}

// str reads a JSON string: plain ones directly, the rest through encoding/json for its exact unescaping.
func (d *fastDecoder) str() (string, bool) {
	b, plain, ok := d.rawStr()
	if !ok {
		return "", false
	}

	if plain {
		return string(b[1 : len(b)-1]), true
	}

	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", false
	}

	return s, true
}

// number returns the next JSON number's text, checked against JSON's grammar (strconv alone accepts more).
func (d *fastDecoder) number() ([]byte, bool) {
	d.space()

	start, i, n := d.pos, d.pos, len(d.data)
	digits := func() bool {
		from := i
		for i < n && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}

		return i > from
	}

	if i < n && d.data[i] == '-' {
		i++
	}

	switch {
	case i < n && d.data[i] == '0':
		i++
	case !digits():
		return nil, false
	}

	if i < n && d.data[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}

	if i < n && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < n && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}

		if !digits() {
			return nil, false
		}
	}

	d.pos = i

	return d.data[start:i], true
}

// next reports whether the object or array being read has another item: it reads the closing byte at the end, or
// the comma before an item but the first (i counts from 0). A malformed list ends there and marks the decoder bad.
func (d *fastDecoder) next(closing byte, i int) bool {
	if d.consume(closing) {
		return false
	}

	if i > 0 && !d.consume(',') {
		d.bad = true
		return false
	}

	return true
}

// literal reads the exact word w (true, false, null).
func (d *fastDecoder) literal(w string) bool {
	d.space()

	if len(d.data)-d.pos >= len(w) && string(d.data[d.pos:d.pos+len(w)]) == w {
		d.pos += len(w)
		return true
	}

	return false
}

// schema reads a document schema: {"p":{…},"$k":[…]} in either order, or {} for an empty document.
func (d *fastDecoder) schema() (*fastSchema, error) {
	if !d.consume('{') {
		return nil, errNotCanonical
	}

	var names [][]byte // property names, as plain strings inside data (no copy)
	var elems []*fastElem
	var keys []string
	var seenP, seenK bool

	for i := 0; d.next('}', i); i++ {
		k, ok := d.key()
		if !ok {
			return nil, errNotCanonical
		}

		switch {
		case k == "p" && !seenP:
			seenP = true

			if !d.consume('{') {
				return nil, errNotCanonical
			}

			for j := 0; d.next('}', j); j++ {
				name, plain, ok := d.rawStr()
				if !ok || !plain || !d.consume(':') {
					return nil, errNotCanonical
				}

				e, err := d.elem()
				if err != nil {
					return nil, err
				}

				names = append(names, name[1:len(name)-1])
				elems = append(elems, e)
			}

		case k == "$k" && !seenK:
			seenK = true

			if !d.consume('[') {
				return nil, errNotCanonical
			}

			keys = []string{}

			for j := 0; d.next(']', j); j++ {
				s, ok := d.str()
				if !ok {
					return nil, errNotCanonical
				}

				keys = append(keys, s)
			}

		default:
			return nil, errNotCanonical
		}
	}

	if d.bad || len(names) != len(keys) {
		return nil, errNotCanonical
	}

	// the encoder writes properties in the keys' order; any other order is matched by a search
	props := make([]*fastElem, len(keys))

	for i, k := range keys {
		if string(names[i]) == k {
			props[i] = elems[i]
			continue
		}

		for j, name := range names {
			if string(name) == k {
				props[i] = elems[j]
				break
			}
		}

		if props[i] == nil {
			return nil, errNotCanonical
		}
	}

	if hasDuplicate(keys) {
		return nil, errNotCanonical
	}

	return &fastSchema{keys: keys, props: props}, nil
}

// hasDuplicate reports whether a key occurs twice (encoding/json would have kept one of their values).
func hasDuplicate(keys []string) bool {
	if len(keys) <= 16 {
		for i := 1; i < len(keys); i++ {
			for _, k := range keys[:i] {
				if k == keys[i] {
					return true
				}
			}
		}

		return false
	}

	seen := make(map[string]struct{}, len(keys))

	for _, k := range keys {
		if _, ok := seen[k]; ok {
			return true
		}

		seen[k] = struct{}{}
	}

	return false
}

// elem reads a schema element: {"t":…} with "$s", "i", "s" or "o" as its type needs.
func (d *fastDecoder) elem() (*fastElem, error) {
	if !d.consume('{') {
		return nil, errNotCanonical
	}

	e := new(fastElem)

	var hasT, hasS bool

	for i := 0; d.next('}', i); i++ {
		k, ok := d.key()
		if !ok {
			return nil, errNotCanonical
		}

		// each of these once: encoding/json would keep the last of repeated keys
		switch {
		case k == "t" && !hasT:
			s, ok := d.str()
			if !ok {
				return nil, errNotCanonical
			}

			e.typ, hasT = elemType(s), true

		case k == "$s" && !hasS:
			hasS = true

			sch, err := d.schema()
			if err != nil {
				return nil, err
			}

			e.schema = sch

		case k == "i" && !e.hasI:
			if !d.consume('[') {
				return nil, errNotCanonical
			}

			e.hasI = true
			e.items = []*fastElem{}

			for j := 0; d.next(']', j); j++ {
				item, err := d.elem()
				if err != nil {
					return nil, err
				}

				e.items = append(e.items, item)
			}

		case k == "s" && !e.hasSub:
			b, ok := d.number()
			if !ok {
				return nil, errNotCanonical
			}

			v, err := strconv.ParseUint(string(b), 10, 8)
			if err != nil {
				return nil, errNotCanonical
			}

			e.subtype, e.hasSub = types.BinarySubtype(v), true

		case k == "o" && !e.hasOpts:
			s, ok := d.str()
			if !ok {
				return nil, errNotCanonical
			}

			e.options, e.hasOpts = s, true

		default:
			return nil, errNotCanonical
		}
	}

	if d.bad || !hasT {
		return nil, errNotCanonical
	}

	return e, nil
}

// fields reads the fields of a document (after its opening brace, and after "$s" at the top level) in its schema's
// order, up to and including its closing brace.
func (d *fastDecoder) fields(sch *fastSchema, top bool) (*types.Document, error) {
	if !top && d.consume('}') {
		return new(types.Document), nil // an empty object is an empty document, whatever its schema says
	}

	list := fieldList{keys: sch.keys, values: make([]any, len(sch.keys))}

	for i, k := range sch.keys {
		if (top || i > 0) && !d.consume(',') {
			return nil, errNotCanonical
		}

		// "$s" names the schema at the top level only; encoding/json would have kept one of the two
		if top && k == "$s" || !d.keyIs(k) {
			return nil, errNotCanonical
		}

		v, err := d.value(sch.props[i])
		if err != nil {
			return nil, err
		}

		list.values[i] = v
	}

	if !d.consume('}') {
		return nil, errNotCanonical
	}

	// with no keys it gives new(types.Document), as the original decoder does
	return types.ConvertDocument(&list)
}

// value reads one value of schema element e.
func (d *fastDecoder) value(e *fastElem) (any, error) {
	if d.literal("null") {
		return types.Null, nil
	}

	if e == nil {
		return nil, errNotCanonical
	}

	switch e.typ {
	case elemTypeObject:
		if e.schema == nil || !d.consume('{') {
			return nil, errNotCanonical
		}

		return d.fields(e.schema, false)

	case elemTypeArray:
		if !e.hasI || !d.consume('[') {
			return nil, errNotCanonical
		}

		arr := types.MakeArray(len(e.items))

		for i, item := range e.items {
			if i > 0 && !d.consume(',') {
				return nil, errNotCanonical
			}

			v, err := d.value(item)
			if err != nil {
				return nil, err
			}

			arr.Append(v)
		}

		if !d.consume(']') {
			return nil, errNotCanonical
		}

		return arr, nil

	case elemTypeDouble:
		b, ok := d.number()
		if !ok {
			return nil, errNotCanonical
		}

		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return nil, errNotCanonical
		}

		return f, nil

	case elemTypeString:
		s, ok := d.str()
		if !ok {
			return nil, errNotCanonical
		}

		return s, nil

	case elemTypeBinData:
		b, _, ok := d.rawStr()
		if !ok || !e.hasSub {
			return nil, errNotCanonical
		}

		var bin []byte
		if err := json.Unmarshal(b, &bin); err != nil {
			return nil, errNotCanonical
		}

		return types.Binary{B: bin, Subtype: e.subtype}, nil

	case elemTypeObjectID:
		b, plain, ok := d.rawStr()
		if !ok || !plain || len(b) != 2+2*types.ObjectIDLen {
			return nil, errNotCanonical
		}

		var id types.ObjectID
		if _, err := hex.Decode(id[:], b[1:len(b)-1]); err != nil {
			return nil, errNotCanonical
		}

		return id, nil

	case elemTypeBool:
		switch {
		case d.literal("true"):
			return true, nil
		case d.literal("false"):
			return false, nil
		}

		return nil, errNotCanonical

	case elemTypeDate:
		ms, err := d.integer(64)
		if err != nil {
			return nil, err
		}

		return time.UnixMilli(ms), nil

	case elemTypeRegex:
		s, ok := d.str()
		if !ok || !e.hasOpts {
			return nil, errNotCanonical
		}

		return types.Regex{Pattern: s, Options: e.options}, nil

	case elemTypeInt:
		i, err := d.integer(32)
		if err != nil {
			return nil, err
		}

		return int32(i), nil

	case elemTypeTimestamp:
		b, ok := d.number()
		if !ok {
			return nil, errNotCanonical
		}

		u, err := strconv.ParseUint(string(b), 10, 64)
		if err != nil {
			return nil, errNotCanonical
		}

		return types.Timestamp(u), nil

	case elemTypeLong:
		return d.integer(64)
	}

	return nil, errNotCanonical
}

// integer reads a JSON number that is an integer fitting in bits (as encoding/json decodes into intN).
func (d *fastDecoder) integer(bits int) (int64, error) {
	b, ok := d.number()
	if !ok {
		return 0, errNotCanonical
	}

	i, err := strconv.ParseInt(string(b), 10, bits)
	if err != nil {
		return 0, errNotCanonical
	}

	return i, nil
}
