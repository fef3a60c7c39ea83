// Part of Leadscore's patches to FerretDB 1.24.2 (see patchInStrings in scripts/ferretdb.mjs).

package common

import (
	"strings"

	"github.com/FerretDB/FerretDB/internal/handler/handlererrors"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// inStrings tells whether the string s matches a value of an $in list, as the general loop in filterFieldExpr
// does: types.Compare finds a string equal only to an equal string, a regular expression is matched against it, and
// a listed document holding a $-prefixed key is an error when the loop reaches it before a match.
func inStrings(s string, arr *types.Array, exprKey string) (bool, error) {
	for i := 0; i < arr.Len(); i++ {
		switch v := must.NotFail(arr.Get(i)).(type) {
		case string:
			if v == s {
				return true, nil
			}
		case *types.Document:
			for _, key := range v.Keys() {
				if strings.HasPrefix(key, "$") {
					return false, handlererrors.NewCommandErrorMsgWithArgument(
						handlererrors.ErrBadValue,
						"cannot nest $ under $in",
						exprKey,
					)
				}
			}
		case types.Regex:
			match, err := filterFieldRegex(s, v)
			if err != nil {
				return false, err
			}

			if match {
				return true, nil
			}
		}
	}

	return false, nil
}
