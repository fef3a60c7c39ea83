package sjson

// Leadscore's checks of sjson_stored.go: a document stored with a schema reference reads back exactly as the same
// document stored inline does, its bytes after $s are the inline form's, and its inline _id element is the schema's.

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"testing"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// idSchema returns the $s.p._id element of a stored document, as JSON (nil when it has none).
func idSchema(t *testing.T, data []byte) json.RawMessage {
	t.Helper()

	var v struct {
		S struct {
			P map[string]json.RawMessage `json:"p"`
		} `json:"$s"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%q: %v", data, err)
	}

	return v.S.P["_id"]
}

// afterSchema returns what follows the $s value of a stored document.
func afterSchema(t *testing.T, data []byte) []byte {
	t.Helper()

	d := fastDecoder{data: data}
	if !d.consume('{') || !d.keyIs("$s") {
		t.Fatalf("%q: no $s first", data)
	}

	var raw json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data[d.pos:]))
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("%q: %v", data, err)
	}

	return data[d.pos+int(dec.InputOffset()):]
}

func TestStoredRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	ids := []any{"lead|42", types.NewObjectID(), int32(7), int64(-1), 2.5, must.NotFail(types.NewDocument("a", "b"))}
	byRef := 0

	for i := 0; i < 3000; i++ {
		odd := i%3 == 0
		doc := randomDocument(r, 0, r.Intn(12), odd)

		if i%4 != 0 {
			doc.Remove("_id")
			doc = must.NotFail(types.NewDocument(append([]any{"_id", ids[r.Intn(len(ids))]}, docPairs(doc)...)...))
		}

		inline, inlineErr := Marshal(doc)
		stored, ref, text, err := MarshalStored(doc)

		if (inlineErr == nil) != (err == nil) {
			t.Fatalf("inline error %v, stored error %v", inlineErr, err)
		}

		if err != nil {
			continue
		}

		if ref == "" {
			if !bytes.Equal(stored, inline) {
				t.Fatalf("a document without a reference is not stored inline:\n%s\n%s", stored, inline)
			}

			continue
		}

		byRef++

		if ref != SchemaRef(text) || !bytes.HasPrefix(stored, []byte(storedPrefix+ref+`"`)) {
			t.Fatalf("%s: does not refer to its schema %q", stored, ref)
		}

		if !bytes.Equal(afterSchema(t, stored), afterSchema(t, inline)) {
			t.Fatalf("the fields differ from the inline form's:\n%s\n%s", stored, inline)
		}

		// (a top-level key is written unescaped, so an odd key makes the whole text invalid JSON)
		if json.Valid(inline) && !bytes.Equal(idSchema(t, stored), idSchema(t, inline)) {
			t.Fatalf("the inline _id element differs from the schema's:\n%s\n%s", stored, inline)
		}

		// what the inline form reads as, or fails as (FerretDB cannot read back some documents it writes)
		want, wantErr := unmarshalSlow(inline)

		got, err := UnmarshalStored(stored)
		if (wantErr == nil) != (err == nil) || !reflect.DeepEqual(want, got) {
			t.Fatalf("%s: read back %v (%v), want %v (%v)", stored, got, err, want, wantErr)
		}
	}

	if byRef < 2000 {
		t.Fatalf("only %d of 3000 documents were stored with a reference", byRef)
	}
}

func TestStoredInlineStillReads(t *testing.T) {
	r := rand.New(rand.NewSource(8))

	for i := 0; i < 500; i++ {
		data, err := Marshal(randomDocument(r, 0, r.Intn(10), i%2 == 0))
		if err != nil {
			t.Fatal(err)
		}

		want, wantErr := Unmarshal(data)
		got, gotErr := UnmarshalStored(data)

		if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(want, got) {
			t.Fatalf("%s: inline form read differently: %v (%v), want %v (%v)", data, got, gotErr, want, wantErr)
		}
	}
}

func TestStoredUnknownAndForgedSchemas(t *testing.T) {
	doc := must.NotFail(types.NewDocument("_id", "x", "v", int32(1)))
	stored, ref, text, err := MarshalStored(doc)
	if err != nil || ref == "" {
		t.Fatalf("not stored by reference: %v", err)
	}

	unknown := bytes.Replace(stored, []byte(ref), []byte("AAAAAAAAAAAAAAAA"), 1)
	if _, err = UnmarshalStored(unknown); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("an unknown reference gave %v", err)
	}

	if err = RememberSchema("AAAAAAAAAAAAAAAA", text); err == nil {
		t.Fatal("a schema was remembered under a reference that is not its hash")
	}

	if err = RememberSchema(ref, text); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []string{storedPrefix, storedPrefix + ref + `"`, storedPrefix + ref + `","p":{"_id":}},"_id":"x","v":1}`} {
		if _, err = UnmarshalStored([]byte(bad)); err == nil {
			t.Fatalf("%s: malformed input decoded", bad)
		}
	}
}

// docPairs returns a document's keys and values as NewDocument takes them.
func docPairs(d *types.Document) []any {
	var pairs []any

	keys := d.Keys()
	for i, v := range d.Values() {
		pairs = append(pairs, keys[i], v)
	}

	return pairs
}
