package jsonc

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{` { "z" : [ 3 , {"y":true,"x":null} ] , "a" : "s" } `, `{"a":"s","z":[3,{"x":null,"y":true}]}`},
		{`{}`, `{}`},
		{`[]`, `[]`},
		{`"x"`, `"x"`},
		{`-1.5e+3`, `-1.5e+3`},
		{`{"\u0062":1,"a":2}`, `{"a":2,"\u0062":1}`},
		{`{"aa":1,"a":2,"b":{"d":1,"c":2}}`, `{"a":2,"aa":1,"b":{"c":2,"d":1}}`},
	}
	for _, c := range cases {
		got, err := Canonical(nil, []byte(c.in))
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, string(got), c.in)
		require.True(t, json.Valid(got))
	}
}

func TestCanonicalRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `1e`, `tru`, `"\x"`, "\"a\x01\"", `{"a":1,"a":2}`, `{"b":1,"a":2,"b":3}`, `{} x`, `{1:2}`, "\"\xff\""} {
		_, err := Canonical(nil, []byte(in))
		var se *SyntaxError
		require.ErrorAs(t, err, &se, "input %q", in)
	}
}

func TestRecordID(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		`{"id":"abc","x":1}`: "abc",
		`{"x":1,"id":42}`:    "42",
		`{"id":-7}`:          "-7",
		`{"id":1e3}`:         "1000",
		`{"id":"a\"b"}`:      `a"b`,
	}
	for in, want := range ok {
		_, id, err := Record(nil, []byte(in))
		require.NoError(t, err, in)
		require.Equal(t, want, id, in)
	}
	bad := []string{`{"x":1}`, `{"id":null}`, `{"id":1.5}`, `{"id":true}`, `{"id":{}}`, `{"id":[1]}`}
	for _, in := range bad {
		_, _, err := Record(nil, []byte(in))
		var ie *IDError
		require.ErrorAs(t, err, &ie, in)
	}
	_, _, err := Record(nil, []byte(`[1]`))
	require.True(t, errors.Is(err, ErrNotObject))
}

func TestMerge(t *testing.T) {
	t.Parallel()
	base := `{"a":1,"arr":[1,2],"id":"1","o":{"x":1,"y":{"p":1}}}`
	patch := `{"arr":[3],"b":2,"o":{"y":{"q":2},"z":null}}`
	got, err := Merge(nil, []byte(base), []byte(patch))
	require.NoError(t, err)
	require.Equal(t, `{"a":1,"arr":[3],"b":2,"id":"1","o":{"x":1,"y":{"p":1,"q":2},"z":null}}`, string(got))
	got, err = Merge(nil, []byte(`{"a":{"b":1}}`), []byte(`{"a":5}`))
	require.NoError(t, err)
	require.Equal(t, `{"a":5}`, string(got))
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[{"d":2,"c":"x"}]}`, `[1,2]`, `"s"`, `{"a":{"b":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonical(nil, in)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("canonical output is not valid JSON: %q -> %q", in, out)
		}
		again, err := Canonical(nil, out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("canonical form is not a fixed point: %q -> %q (%v)", out, again, err)
		}
		var a, b any
		if json.Unmarshal(in, &a) == nil {
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatal(err)
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Fatalf("value changed: %s vs %s", ja, jb)
			}
		}
	})
}
