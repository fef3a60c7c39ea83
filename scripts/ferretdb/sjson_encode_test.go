package sjson

// Leadscore's checks of sjson_encode.go: the one-pass encoder writes exactly the bytes FerretDB's own encoder writes,
// and fails (or panics) where it does.

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// encodeBoth returns what each encoder gives for d: its bytes, or its error or panic as text.
func encodeBoth(d *types.Document) (string, string) {
	run := func(f func(*types.Document) ([]byte, error)) (res string) {
		defer func() {
			if p := recover(); p != nil {
				res = fmt.Sprint("panic: ", p)
			}
		}()

		b, err := f(d)
		if err != nil {
			return "error"
		}

		return string(b)
	}

	return run(marshalSlow), run(Marshal)
}

func TestEncodeSameBytes(t *testing.T) {
	r := rand.New(rand.NewSource(5))

	for i := 0; i < 3000; i++ {
		doc := randomDocument(r, 0, r.Intn(12), i%3 == 0)

		want, got := encodeBoth(doc)
		if want != got {
			t.Fatalf("original %s\none-pass %s", want, got)
		}

		if _, ok := marshalFast(doc); !ok {
			t.Fatalf("%s: left to the original encoder", want)
		}
	}
}

func TestEncodeDoubles(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	doubles := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99999e-7, 1e-7, 1e20, 1e21, 123456789e13, 1.5e-300, 5e-324,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 1, 100, 1e9,
	}

	for i := 0; i < 20000; i++ {
		doubles = append(doubles, r.NormFloat64()*math.Pow(10, float64(r.Intn(640)-320)), math.Float64frombits(r.Uint64()))
	}

	for _, f := range doubles {
		want, got := encodeBoth(must.NotFail(types.NewDocument("f", f, "nested", must.NotFail(types.NewDocument("g", f)))))
		if want != got {
			t.Fatalf("%v: original %s, one-pass %s", f, want, got)
		}
	}

	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if want, got := encodeBoth(must.NotFail(types.NewDocument("f", f))); want != "error" || got != "error" {
			t.Fatalf("%v: original %s, one-pass %s", f, want, got)
		}
	}
}

func TestEncodeOddDocuments(t *testing.T) {
	repeated := must.NotFail(types.NewDocument("a", int32(1), "a", int32(2)))

	for name, doc := range map[string]*types.Document{
		"repeated key":          repeated,
		"repeated nested key":   must.NotFail(types.NewDocument("x", repeated)),
		"repeated key in array": must.NotFail(types.NewDocument("x", must.NotFail(types.NewArray(repeated)))),
		"nil binary":            must.NotFail(types.NewDocument("b", types.Binary{Subtype: types.BinaryUser})),
		"empty everything":      must.NotFail(types.NewDocument("d", types.MakeDocument(0), "a", types.MakeArray(0), "s", "")),
		"escapes in keys":       must.NotFail(types.NewDocument(`a"b`, "x", "<&>", must.NotFail(types.NewDocument(`c\d`, "\u2028")))),
		"control and DEL":       must.NotFail(types.NewDocument("s", "\x00\x1f\x7f", "k\x7f", int64(-1))),
		"invalid UTF-8":         must.NotFail(types.NewDocument("s", "\xff\xfe", "\xc3", true)),
		"empty top-level":       types.MakeDocument(0),
	} {
		want, got := encodeBoth(doc)
		if want != got {
			t.Fatalf("%s: original %s, one-pass %s", name, want, got)
		}

		// what the encoder writes, the decoder reads back as it was
		if !strings.HasPrefix(want, "panic") && want != "error" {
			sameAsOriginal(t, []byte(want))
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	r := rand.New(rand.NewSource(7))
	docs := make([]*types.Document, 100)

	for i := range docs {
		docs[i] = randomDocument(r, 0, 12, false)
	}

	b.Run("original", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := marshalSlow(docs[i%len(docs)]); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("one-pass", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Marshal(docs[i%len(docs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
