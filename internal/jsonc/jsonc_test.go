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
		`{"id":"abc","x":1}`:    "abc",
		`{"x":1,"id":42}`:       "42",
		`{"id":-7}`:             "-7",
		`{"id":1e3}`:            "1000",
		`{"id":"a\"b"}`:         `a"b`,
		`{"id":"a\/b"}`:         "a/b",
		`{"id":"\ud83d\ude00"}`: "\U0001F600",
		`{"id":"\ud83d"}`:       "\uFFFD",
		`{"id":-0}`:             "0",
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

func TestEscapedKeys(t *testing.T) {
	t.Parallel()
	// Keys compare by their decoded text, whatever escapes the encoder used.
	got, err := Canonical(nil, []byte(`{"c\/d":2,"a\/b":1,"id":1}`))
	require.NoError(t, err)
	require.Equal(t, `{"a\/b":1,"c\/d":2,"id":1}`, string(got))
	_, err = Canonical(nil, []byte(`{"a/b":1,"a\/b":2}`))
	require.ErrorContains(t, err, "duplicate key")
	merged, err := Merge(nil, []byte(`{"a\/b":1,"id":1}`), []byte(`{"c\/d":2}`))
	require.NoError(t, err)
	require.Equal(t, `{"a\/b":1,"c\/d":2,"id":1}`, string(merged), "no member is lost")
	merged, err = Merge(nil, []byte(`{"a\/b":1,"id":1}`), []byte(`{"a/b":3}`))
	require.NoError(t, err)
	require.Equal(t, `{"a/b":3,"id":1}`, string(merged), "the same key however escaped")
	v, ok := Member([]byte(`{"\u0069d":"x"}`), "id")
	require.True(t, ok)
	require.Equal(t, `"x"`, string(v))
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
	for _, s := range []string{`{"b":1,"a":[{"d":2,"c":"x"}]}`, `[1,2]`, `"s"`, `{"a":{"b":{}}}`, `{"c\/d":1,"a\u0062":2,"\ud83d\ude00":3}`} {
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

func FuzzMerge(f *testing.F) {
	f.Add([]byte(`{"a":1,"o":{"x":1}}`), []byte(`{"o":{"y":2},"b":[1]}`))
	f.Add([]byte(`{"a\/b":1,"id":1}`), []byte(`{"c\/d":2,"a/b":3}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ca, err := Canonical(nil, a)
		if err != nil || len(ca) == 0 || ca[0] != '{' {
			return
		}
		cb, err := Canonical(nil, b)
		if err != nil || len(cb) == 0 || cb[0] != '{' {
			return
		}
		m, err := Merge(nil, ca, cb)
		if err != nil {
			t.Fatalf("merge of two objects failed: %v", err)
		}
		again, err := Canonical(nil, m)
		if err != nil || string(again) != string(m) {
			t.Fatalf("merge output is not canonical: %s (%v)", m, err)
		}
		self, err := Merge(nil, ca, ca)
		if err != nil || string(self) != string(ca) {
			t.Fatalf("merging an object into itself changed it: %s -> %s", ca, self)
		}
		var want, got map[string]any
		_ = json.Unmarshal(cb, &want)
		_ = json.Unmarshal(m, &got)
		for k, v := range want {
			if _, isObj := v.(map[string]any); isObj {
				continue
			}
			gj, _ := json.Marshal(got[k])
			wj, _ := json.Marshal(v)
			if string(gj) != string(wj) {
				t.Fatalf("key %q: patch value %s, merged %s", k, wj, gj)
			}
		}
	})
}
