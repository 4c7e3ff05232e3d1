package jsonc

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
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
		{`-1.5e+3`, `-1500`},
		{`{"a":1.0,"b":[1e0,10e-1,0.1e1]}`, `{"a":1,"b":[1,1,1]}`},
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

// Numbers compare by value: every spelling of a value gives the same bytes, exactly, with
// JavaScript's way of writing the digits.
func TestCanonicalNumbers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "0.0": "0", "-0.000e5": "0", "0e99999999999999999999": "0",
		"1": "1", "1.0": "1", "1e0": "1", "10e-1": "1", "0.1e1": "1", "1.000": "1", "100e-2": "1",
		"-1.50": "-1.5", "1.5": "1.5", "15e-1": "1.5", "0.5": "0.5", "5e-1": "0.5", "-0.5": "-0.5",
		"1e2": "100", "1E+2": "100", "12.34e1": "123.4", "0.000001": "0.000001", "1e-6": "0.000001",
		"0.0000001": "1e-7", "1e-7": "1e-7", "12e-8": "1.2e-7", "123456789012345678901": "123456789012345678901",
		"1e20": "100000000000000000000", "1e21": "1e+21", "1000000000000000000000": "1e+21", "1.5e21": "1.5e+21",
		"9007199254740993": "9007199254740993", "9007199254740993.0": "9007199254740993",
		"90071992547409930e-1": "9007199254740993", "0.30000000000000000001": "0.30000000000000000001",
		"123456789012345678901234567890": "1.2345678901234567890123456789e+29",
		"1e1000":                         "1e+1000", "10e999": "1e+1000", "-2.5E-400": "-2.5e-400",
		"1e0000000000000000000000001": "10", "1e1234567890123456": "1e1234567890123456",
	} {
		got, err := Canonical(nil, []byte(in))
		require.NoError(t, err, in)
		require.Equal(t, want, string(got), in)
		again, err := Canonical(nil, got)
		require.NoError(t, err)
		require.Equal(t, string(got), string(again), "a fixed point: %s", in)
	}
	a, _, err := Record(nil, []byte(`{"id":"x","n":1,"m":{"v":2.50}}`))
	require.NoError(t, err)
	b, _, err := Record(nil, []byte(`{"m":{"v":25e-1},"n":1.0,"id":"x"}`))
	require.NoError(t, err)
	require.Equal(t, string(a), string(b))
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
			// The canonical form writes -0 as 0, as JavaScript does.
			ja, _ := json.Marshal(positiveZero(a))
			jb, _ := json.Marshal(positiveZero(b))
			if string(ja) != string(jb) {
				t.Fatalf("value changed: %s vs %s", ja, jb)
			}
		}
	})
}

// positiveZero replaces -0 with 0 in a decoded JSON value.
func positiveZero(v any) any {
	switch x := v.(type) {
	case float64:
		if x == 0 {
			return 0.0
		}
	case []any:
		for i := range x {
			x[i] = positiveZero(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = positiveZero(x[k])
		}
	}
	return v
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

// FuzzNumber checks the canonical form of numbers: it is a JSON number of the same exact value,
// a fixed point, the same for another spelling of the value, and JavaScript's (and
// encoding/json's) text for values a float64 holds exactly.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1.0", "1e0", "-1.5e+3", "0.0000001", "1e21", "9007199254740993", "123.4500e-7", "0.1"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, in string, shift int) {
		if len(in) > 200 || strings.TrimSpace(in) != in || !json.Valid([]byte(in)) || (in[0] != '-' && (in[0] < '0' || in[0] > '9')) {
			return
		}
		if i := strings.IndexAny(in, "eE"); i >= 0 && len(strings.TrimLeft(strings.TrimLeft(in[i+1:], "+-"), "0")) > 4 {
			return // exponents beyond 9999 make exact arithmetic slow; appendNumber's own tests cover them
		}
		out, err := Canonical(nil, []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%q -> %q is not JSON", in, out)
		}
		if again, _ := Canonical(nil, out); string(again) != string(out) {
			t.Fatalf("%q -> %q -> %q: not a fixed point", in, out, again)
		}
		want, ok1 := new(big.Rat).SetString(in)
		got, ok2 := new(big.Rat).SetString(string(out))
		if !ok1 || !ok2 || want.Cmp(got) != 0 {
			t.Fatalf("%q -> %q: the value changed", in, out)
		}
		// The same value spelt another way: the digits with the point moved by shift and the
		// exponent making up for it.
		shift = shift%30 - 15
		if other, ok := respell(in, shift); ok {
			if o, err := Canonical(nil, []byte(other)); err != nil || string(o) != string(out) {
				t.Fatalf("%q -> %q but %q -> %q (%v)", in, out, other, o, err)
			}
		}
		// Few significant digits: a float64 holds the value exactly enough that JavaScript
		// writes it with these digits, as encoding/json does.
		if sig := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(strings.SplitN(strings.ToLower(in), "e", 2)[0]), "0"); len(sig) <= 15 {
			if fv, err := strconv.ParseFloat(in, 64); err == nil && fv != 0 && !math.IsInf(fv, 0) && math.Abs(fv) > 1e-300 {
				js, _ := json.Marshal(fv)
				if string(js) != string(out) {
					t.Fatalf("%q -> %q; JavaScript writes %s", in, out, js)
				}
			}
		}
	})
}

// respell writes the number in as digits with no point and an exponent, moved by shift.
func respell(in string, shift int) (string, bool) {
	mant, exp, _ := strings.Cut(strings.ToLower(in), "e")
	e := 0
	if exp != "" {
		v, err := strconv.Atoi(exp)
		if err != nil {
			return "", false
		}
		e = v
	}
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0.000e" + strconv.Itoa(shift), true
	}
	e -= len(frac)
	// Move the point: shift > 0 appends zeros to the digits, shift < 0 adds them before the
	// point of a fraction "0.000ddd".
	var s string
	if shift >= 0 {
		s = digits + strings.Repeat("0", shift) + "e" + strconv.Itoa(e-shift)
	} else {
		s = "0." + strings.Repeat("0", -shift) + digits + "e" + strconv.Itoa(e+len(digits)-shift)
	}
	if neg {
		s = "-" + s
	}
	return s, true
}
