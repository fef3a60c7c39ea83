package sjson

// Leadscore's checks of sjson_decode.go: the one-pass decoder gives exactly what FerretDB's own decoder gives, for
// documents as the encoder writes them (and it must not fall back for them), and for every altered input (both fail,
// or both give the same document).

import (
	"bytes"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

var keyWords = []string{"_id", "a", "score", "état", "lastBatch", "ledger", "x.y", "", "clé ünï", "k9"}

// odd keys need escaping when encoded, so the one-pass decoder may leave their documents to the original decoder
var oddKeys = []string{`q"uote`, `back\slash`, "tab\tkey", "$s", "\u2028"}

var stringWords = []string{
	"", "plain", "émoji 🚀", `quote " and \ backslash`, "line\nbreak\ttab", "ctl \x01\x1f", "<html>&amp;",
	"\u2028\u2029", "invalid \xff utf-8", strings.Repeat("long ", 50),
}

func randomValue(r *rand.Rand, depth int, odd bool) any {
	n := 13
	if depth > 3 {
		n = 11 // no more nesting
	}

	switch r.Intn(n) {
	case 0:
		return []float64{0, math.Copysign(0, -1), 1.5, -2, 1e21, 1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64, 3}[r.Intn(9)] * float64(1-2*r.Intn(2))
	case 1:
		return stringWords[r.Intn(len(stringWords))]
	case 2:
		b := make([]byte, r.Intn(20))
		r.Read(b)

		return types.Binary{B: b, Subtype: types.BinarySubtype([]byte{0, 4, 128}[r.Intn(3)])}
	case 3:
		var id types.ObjectID
		r.Read(id[:])

		return id
	case 4:
		return r.Intn(2) == 0
	case 5:
		return time.UnixMilli(r.Int63n(1<<44) - 1<<43)
	case 6:
		return types.Null
	case 7:
		return types.Regex{Pattern: stringWords[r.Intn(len(stringWords))], Options: []string{"", "i", "msx"}[r.Intn(3)]}
	case 8:
		return []int32{0, -1, math.MaxInt32, math.MinInt32, 42}[r.Intn(5)]
	case 9:
		return types.Timestamp(r.Uint64())
	case 10:
		return []int64{0, -1, math.MaxInt64, math.MinInt64, 1 << 53}[r.Intn(5)]
	case 11:
		return randomDocument(r, depth+1, r.Intn(6), odd)
	default:
		arr := types.MakeArray(0)
		for i := r.Intn(5); i > 0; i-- {
			arr.Append(randomValue(r, depth+1, odd))
		}

		return arr
	}
}

func randomDocument(r *rand.Rand, depth, size int, odd bool) *types.Document {
	doc := types.MakeDocument(size)

	for i := 0; i < size; i++ {
		k := keyWords[r.Intn(len(keyWords))]
		if odd && r.Intn(4) == 0 {
			k = oddKeys[r.Intn(len(oddKeys))]
			if depth == 0 && k == "$s" {
				continue // the encoder's own field name at the top level
			}
		}

		if doc.Has(k) {
			k += string(rune('a' + i))
		}

		doc.Set(k, randomValue(r, depth, odd))
	}

	return doc
}

// sameAsOriginal checks that Unmarshal gives what the original decoder gives for data: the same document, or an error.
func sameAsOriginal(t *testing.T, data []byte) {
	t.Helper()

	want, wantErr := unmarshalSlow(data)
	got, gotErr := Unmarshal(data)

	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%q: original error %v, one-pass error %v", data, wantErr, gotErr)
	}

	if wantErr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("%q: original %v, one-pass %v", data, want, got)
	}
}

func TestDecodeEncoderForm(t *testing.T) {
	r := rand.New(rand.NewSource(1))

	for i := 0; i < 3000; i++ {
		odd := i%3 == 0
		doc := randomDocument(r, 0, r.Intn(12), odd)

		data, err := Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}

		sameAsOriginal(t, data)

		fast, err := unmarshalFast(data)
		if !odd && err != nil {
			t.Fatalf("%q: the encoder's form was left to the original decoder: %v", data, err)
		}

		if err == nil && !reflect.DeepEqual(fast, must.NotFail(unmarshalSlow(data))) {
			t.Fatalf("%q: one-pass result differs", data)
		}
	}
}

func TestDecodeAlteredInput(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	alterations := 0

	for i := 0; i < 300; i++ {
		data, err := Marshal(randomDocument(r, 0, r.Intn(8)+1, i%2 == 0))
		if err != nil {
			t.Fatal(err)
		}

		// every truncation
		for n := 0; n < len(data); n++ {
			sameAsOriginal(t, data[:n])
			alterations++
		}

		// one byte changed, inserted or removed, at random places
		for j := 0; j < 60; j++ {
			p := r.Intn(len(data))
			b := []byte(" \n,:{}[]\"\\0-1eE.ntfx$")[r.Intn(21)]
			altered := [][]byte{
				append(append(append([]byte{}, data[:p]...), b), data[p+1:]...),
				append(append(append([]byte{}, data[:p]...), b), data[p:]...),
				append(append([]byte{}, data[:p]...), data[p+1:]...),
			}

			for _, a := range altered {
				sameAsOriginal(t, a)
				alterations++
			}
		}

		// whitespace everywhere, and trailing data
		sameAsOriginal(t, bytes.ReplaceAll(data, []byte(","), []byte(" ,\n\t")))
		sameAsOriginal(t, bytes.ReplaceAll(data, []byte(":"), []byte(" : ")))
		sameAsOriginal(t, append(append([]byte{}, data...), []byte(" {}")...))
	}

	// the schema after the fields, properties out of the keys' order, repeated keys
	for _, s := range []string{
		`{"a":1,"$s":{"p":{"a":{"t":"int"}},"$k":["a"]}}`,
		`{"$s":{"$k":["a","b"],"p":{"b":{"t":"string"},"a":{"t":"int"}}},"a":1,"b":"x"}`,
		`{"$s":{"p":{"a":{"t":"int"}},"$k":["a"]},"a":1,"a":2}`,
		`{"$s":{"p":{"a":{"t":"int"},"a":{"t":"long"}},"$k":["a","a"]},"a":1,"a":2}`,
		`{"$s":{"p":{"$s":{"t":"string"}},"$k":["$s"]},"$s":"x"}`,
		`{"$s":{"p":{"a":{"t":"int","t":"long"}},"$k":["a"]},"a":1}`,
		`{"$s":{"p":{"a":{"t":"object","$s":{"p":{"b":{"t":"int"}},"$k":["b"]}}},"$k":["a"]},"a":{}}`,
		`{"$s":{"p":{"a":{"t":"array"}},"$k":["a"]},"a":[]}`,
		`{"$s":{"p":{"a":{"t":"int"}},"$k":["a"]},"a":2147483648}`,
		`{"$s":{"p":{"a":{"t":"double"}},"$k":["a"]},"a":1e400}`,
		`{"$s":{"p":{"a":{"t":"date"}},"$k":["a"]},"a":1.0}`,
		`{"$s":{"p":{"a":{"t":"objectId"}},"$k":["a"]},"a":"0123456789abcdefABCDEF01"}`,
		`{"$s":{"p":{"a":{"t":"objectId"}},"$k":["a"]},"a":"0123456789abcdefABCDEF"}`,
		`{"$s":{"p":{"a":{"t":"objectId"}},"$k":["a"]},"a":"0123456789abcdefABCDEF0123"}`,
		`{"$s":{"p":{"a":{"t":"string"}},"$k":["a"]},"\u0061":"\u00e9\ud83d\ude80"}`,
		`{"$s":{"p":{"a":{"t":"null"}},"$k":["a"]},"a":null}`,
		`{"$s":{"p":{"a":{"t":"mystery"}},"$k":["a"]},"a":1}`,
		`{"$s":{}}`, `{"$s":{"p":{},"$k":[]}}`, `{"$s":{}} `, "{\"$s\":{}}\n", ` {"$s":{}}`, `null`, `{}`, ``,
	} {
		sameAsOriginal(t, []byte(s))
	}

	t.Logf("%d altered inputs decoded alike", alterations)
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 20; i++ {
		data, err := Marshal(randomDocument(r, 0, r.Intn(6), i%2 == 0))
		if err != nil {
			f.Fatal(err)
		}

		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsOriginal(t, data)
	})
}

func BenchmarkDecode(b *testing.B) {
	r := rand.New(rand.NewSource(4))
	docs := make([][]byte, 100)

	for i := range docs {
		docs[i] = must.NotFail(Marshal(randomDocument(r, 0, 12, false)))
	}

	b.Run("original", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := unmarshalSlow(docs[i%len(docs)]); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("one-pass", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Unmarshal(docs[i%len(docs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
