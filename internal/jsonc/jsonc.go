// Package jsonc encodes JSON in the canonical form the record store hashes and keeps: no
// insignificant whitespace, the members of every object sorted by key, and every number in one
// spelling of its exact value (see Canonical), so that the same data gives the same bytes
// whatever order its keys arrived in and however its numbers were written. Strings are kept as
// written. It imports only the standard library.
package jsonc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 512

// SyntaxError reports malformed JSON and the byte offset where it was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// ErrNotObject is returned by Record when the value is not a JSON object.
var ErrNotObject = errors.New("record is not a JSON object")

// Canonical appends the canonical form of the single JSON value in src to dst.
//
// Numbers compare by value, as JavaScript's JSON.stringify(JSON.parse(...)) makes them
// compare, but exactly: 1, 1.0, 1e0 and 10e-1 are all written 1, and no digit is lost beyond
// what a float64 holds (9007199254740993 stays itself). The form is JavaScript's for the
// digits: plain from 1e-7 to 1e21 ("0.000001", "123.45"), exponent notation outside ("1e-7",
// "1.5e+21"), no trailing zeros in a fraction, and 0 for -0. A number whose exponent has more
// than 15 digits is kept as written.
func Canonical(dst, src []byte) ([]byte, error) {
	p := parser{src: src}
	p.skipSpace()
	out, err := p.value(dst, 0)
	if err != nil {
		return dst, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return dst, p.errorf("unexpected data after the value")
	}
	return out, nil
}

// IDError says why a record's id is unusable.
type IDError struct{ Reason string }

// Error implements error.
func (e *IDError) Error() string { return e.Reason }

// Record appends the canonical form of the JSON object in src to dst and returns the record's id:
// the "id" member as a string, or an integer as its decimal text.
func Record(dst, src []byte) (out []byte, id string, err error) {
	return record(dst, src, nil)
}

// Shapes canonicalises a run of records faster when they share a shape: the same member keys in
// the same order, as an encoder writes a Go struct. It remembers how to reorder the members of
// the last top-level object that was not sorted, and reuses that order when the next record has
// exactly the same keys, instead of sorting them again. The output is the same as Record's. The
// zero value is ready to use; a Shapes is not safe for concurrent use.
type Shapes struct {
	keys []byte // the quoted keys of the remembered shape, in input order, concatenated
	ends []int  // the end of each key in keys
	perm []int  // perm[j] is the input position of the j-th member in sorted order
}

// Record is like the function Record.
func (sh *Shapes) Record(dst, src []byte) (out []byte, id string, err error) {
	return record(dst, src, sh)
}

// match reports whether the members of the object in buf have the remembered keys.
func (sh *Shapes) match(buf []byte, spans []span) bool {
	if len(sh.perm) != len(spans) {
		return false
	}
	start := 0
	for i, s := range spans {
		if !bytes.Equal(buf[s.k0:s.k1], sh.keys[start:sh.ends[i]]) {
			return false
		}
		start = sh.ends[i]
	}
	return true
}

// remember records the keys of spans, in input order, and the order that sorts them.
func (sh *Shapes) remember(buf []byte, spans []span) {
	sh.keys, sh.ends, sh.perm = sh.keys[:0], sh.ends[:0], sh.perm[:0]
	for _, s := range spans {
		sh.keys = append(sh.keys, buf[s.k0:s.k1]...)
		sh.ends = append(sh.ends, len(sh.keys))
	}
}

func record(dst, src []byte, shapes *Shapes) (out []byte, id string, err error) {
	p := parser{src: src, shapes: shapes}
	p.skipSpace()
	if p.pos >= len(src) || src[p.pos] != '{' {
		return dst, "", ErrNotObject
	}
	// The top-level object notes where its "id" member's value is in src: ids are strings or
	// numbers, whose canonical form is their text as written.
	p.findID = true
	out, err = p.value(dst, 0)
	if err != nil {
		return dst, "", err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return dst, "", p.errorf("unexpected data after the value")
	}
	if !p.hasID {
		return dst, "", &IDError{Reason: `missing "id" field`}
	}
	id, err = IDFromJSON(src[p.id0:p.id1])
	if err != nil {
		return dst, "", err
	}
	return out, id, nil
}

// IDFromJSON converts the raw JSON of an id member to the record id.
func IDFromJSON(raw []byte) (string, error) {
	if len(raw) == 0 {
		return "", &IDError{Reason: `missing "id" field`}
	}
	switch c := raw[0]; {
	case c == '"':
		s, ok := unquote(raw)
		if !ok {
			return "", &IDError{Reason: "id is not a valid JSON string"}
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		s := string(raw)
		if isInteger(raw) {
			if strings.TrimLeft(s, "-0") == "" {
				return "0", nil // -0, as JavaScript's String(-0)
			}
			return s, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != float64(int64(f)) || f > 1<<53 || f < -(1<<53) {
			return "", &IDError{Reason: fmt.Sprintf("id %s is a number that is not an integer", s)}
		}
		return strconv.FormatInt(int64(f), 10), nil
	case c == 'n':
		return "", &IDError{Reason: "id is null"}
	default:
		return "", &IDError{Reason: fmt.Sprintf("id must be a string or an integer, not %s", kind(c))}
	}
}

func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a JSON value of unknown type"
}

func isInteger(b []byte) bool {
	if b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Member returns the raw value of the top-level member key of the canonical object obj.
func Member(obj []byte, key string) ([]byte, bool) {
	var found []byte
	ok := false
	_ = eachMember(obj, func(k, v []byte) bool {
		if keyEqual(k, key) {
			found, ok = v, true
			return false
		}
		return true
	})
	return found, ok
}

// Merge deep-merges patch into base, both canonical JSON objects, and appends the canonical result
// to dst. Objects are merged member by member; any other value in patch (arrays and null included)
// replaces the one in base.
func Merge(dst, base, patch []byte) ([]byte, error) {
	if len(base) == 0 || base[0] != '{' || len(patch) == 0 || patch[0] != '{' {
		return dst, ErrNotObject
	}
	return merge(dst, base, patch, 0)
}

func merge(dst, base, patch []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, &SyntaxError{Msg: "nesting too deep"}
	}
	bm := members(base)
	pm := members(patch)
	dst = append(dst, '{')
	i, j, n := 0, 0, 0
	emit := func(k, v []byte) {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, k...)
		dst = append(dst, ':')
		dst = append(dst, v...)
	}
	for i < len(bm) || j < len(pm) {
		var c int
		switch {
		case i == len(bm):
			c = 1
		case j == len(pm):
			c = -1
		default:
			c = compareKeys(bm[i].key, pm[j].key)
		}
		switch {
		case c < 0:
			emit(bm[i].key, bm[i].val)
			i++
		case c > 0:
			emit(pm[j].key, pm[j].val)
			j++
		default:
			bv, pv := bm[i].val, pm[j].val
			if bv[0] == '{' && pv[0] == '{' {
				if n > 0 {
					dst = append(dst, ',')
				}
				n++
				dst = append(dst, bm[i].key...)
				dst = append(dst, ':')
				var err error
				if dst, err = merge(dst, bv, pv, depth+1); err != nil {
					return dst, err
				}
			} else {
				emit(pm[j].key, pv)
			}
			i++
			j++
		}
	}
	return append(dst, '}'), nil
}

type member struct{ key, val []byte }

// members lists the members of a canonical object; it trusts its input.
func members(obj []byte) []member {
	var ms []member
	_ = eachMember(obj, func(k, v []byte) bool {
		ms = append(ms, member{k, v})
		return true
	})
	return ms
}

// eachMember walks the members of a canonical (compact, valid) object, giving each quoted key and
// raw value.
func eachMember(obj []byte, fn func(k, v []byte) bool) error {
	if len(obj) < 2 || obj[0] != '{' {
		return ErrNotObject
	}
	pos := 1
	for pos < len(obj) && obj[pos] != '}' {
		kend := skipCompact(obj, pos)
		vstart := kend + 1 // ':'
		vend := skipCompact(obj, vstart)
		if !fn(obj[pos:kend], obj[vstart:vend]) {
			return nil
		}
		pos = vend
		if pos < len(obj) && obj[pos] == ',' {
			pos++
		}
	}
	return nil
}

// skipCompact returns the end of the compact valid JSON value starting at pos.
func skipCompact(b []byte, pos int) int {
	switch b[pos] {
	case '"':
		pos++
		for b[pos] != '"' {
			if b[pos] == '\\' {
				pos++
			}
			pos++
		}
		return pos + 1
	case '{', '[':
		depth := 0
		for ; pos < len(b); pos++ {
			switch b[pos] {
			case '"':
				pos = skipCompact(b, pos) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return pos + 1
				}
			}
		}
		return pos
	default:
		for pos < len(b) && b[pos] != ',' && b[pos] != '}' && b[pos] != ']' {
			pos++
		}
		return pos
	}
}

func keyEqual(quoted []byte, key string) bool {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return len(quoted) == len(key)+2 && string(quoted[1:len(quoted)-1]) == key
	}
	s, ok := unquote(quoted)
	return ok && s == key
}

// compareKeys orders quoted keys by their unescaped bytes.
func compareKeys(a, b []byte) int {
	if bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0 {
		return bytes.Compare(a[1:len(a)-1], b[1:len(b)-1])
	}
	ua, _ := unquote(a)
	ub, _ := unquote(b)
	switch {
	case ua < ub:
		return -1
	case ua > ub:
		return 1
	}
	return 0
}

// unquote decodes a quoted JSON string (already validated by the parser) the way encoding/json
// does: \/ is a slash, surrogate pairs combine, and a lone surrogate becomes U+FFFD.
func unquote(q []byte) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	q = q[1 : len(q)-1]
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q), true
	}
	b := make([]byte, 0, len(q))
	for i := 0; i < len(q); {
		c := q[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(q) {
			return "", false
		}
		switch e := q[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(q[i+2:])
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(q) && q[i] == '\\' && q[i+1] == 'u' {
					if r2, ok := hex4(q[i+2:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return string(b), true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

type parser struct {
	src []byte
	pos int
	// esc is set by str when the string it read has an escape.
	esc bool
	// canonicalNum is set by number when the number it read is in canonical form already.
	canonicalNum bool
	// findID makes the top-level object record the span of its "id" value in src.
	findID bool
	// shapes, when set, is used and updated by the top-level object.
	shapes   *Shapes
	hasID    bool
	id0, id1 int
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(dst []byte, depth int) ([]byte, error) {
	if p.pos >= len(p.src) {
		return dst, p.errorf("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(dst, depth)
	case c == '[':
		return p.array(dst, depth)
	case c == '"':
		start := p.pos
		if err := p.str(); err != nil {
			return dst, err
		}
		return append(dst, p.src[start:p.pos]...), nil
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		if err := p.number(); err != nil {
			return dst, err
		}
		if p.canonicalNum {
			return append(dst, p.src[start:p.pos]...), nil
		}
		return appendNumber(dst, p.src[start:p.pos]), nil
	case c == 't':
		return p.literal(dst, "true")
	case c == 'f':
		return p.literal(dst, "false")
	case c == 'n':
		return p.literal(dst, "null")
	default:
		return dst, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) literal(dst []byte, lit string) ([]byte, error) {
	if !bytes.HasPrefix(p.src[p.pos:], []byte(lit)) {
		return dst, p.errorf("invalid literal")
	}
	p.pos += len(lit)
	return append(dst, lit...), nil
}

func (p *parser) array(dst []byte, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return dst, p.errorf("nesting deeper than %d", maxDepth)
	}
	p.pos++ // '['
	dst = append(dst, '[')
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return append(dst, ']'), nil
	}
	for {
		p.skipSpace()
		var err error
		if dst, err = p.value(dst, depth+1); err != nil {
			return dst, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) {
			return dst, p.errorf("unexpected end of input in array")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			dst = append(dst, ',')
		case ']':
			p.pos++
			return append(dst, ']'), nil
		default:
			return dst, p.errorf("expected ',' or ']' in array")
		}
	}
}

// object canonicalises each member value into a scratch buffer, then emits the members sorted.
func (p *parser) object(dst []byte, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return dst, p.errorf("nesting deeper than %d", maxDepth)
	}
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return append(dst, '{', '}'), nil
	}
	// Members are written to dst as they come; when they are already sorted (maps from
	// encoding/json, most hand-written JSON) nothing more is done. Otherwise they are reordered.
	start := len(dst)
	dst = append(dst, '{')
	findID := p.findID && depth == 0
	p.findID = false
	var shapes *Shapes
	if depth == 0 {
		shapes, p.shapes = p.shapes, nil
	}
	var spansArr [16]span
	spans := spansArr[:0]
	sorted := true
	for {
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return dst, p.errorf("expected a string key in object")
		}
		kstart := p.pos
		if err := p.str(); err != nil {
			return dst, err
		}
		esc := p.esc
		if findID && keyEqual(p.src[kstart:p.pos], "id") {
			p.hasID = true
			p.id0 = -1 // set once the value is read
		}
		if len(spans) > 0 {
			dst = append(dst, ',')
		}
		k0 := len(dst)
		dst = append(dst, p.src[kstart:p.pos]...)
		k1 := len(dst)
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return dst, p.errorf("expected ':' after object key")
		}
		p.pos++
		dst = append(dst, ':')
		p.skipSpace()
		v0 := len(dst)
		vstart := p.pos
		var err error
		if dst, err = p.value(dst, depth+1); err != nil {
			return dst, err
		}
		if findID && p.hasID && p.id0 < 0 {
			p.id0, p.id1 = vstart, p.pos
		}
		s := span{k0: k0, k1: k1, v0: v0, v1: len(dst), esc: esc, i: len(spans)}
		if !esc {
			s.pre = keyPrefix(dst[k0+1 : k1-1])
		}
		if n := len(spans); n > 0 {
			prev := spans[n-1]
			switch c := compareSpans(dst, prev, s); {
			case c == 0:
				return dst, &SyntaxError{Offset: kstart, Msg: fmt.Sprintf("duplicate key %s", dst[s.k0:s.k1])}
			case c > 0:
				sorted = false
			}
		}
		spans = append(spans, s)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return dst, p.errorf("unexpected end of input in object")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] == '}' {
			p.pos++
			break
		}
		return dst, p.errorf("expected ',' or '}' in object")
	}
	if sorted {
		return append(dst, '}'), nil
	}
	if shapes != nil {
		if shapes.match(dst, spans) {
			// The same keys as the last record, which had no duplicates: reorder them the same way.
			return reorder(dst, start, spans, shapes.perm), nil
		}
		shapes.remember(dst, spans)
	}
	buf := dst
	slices.SortFunc(spans, func(a, b span) int { return compareSpans(buf, a, b) })
	for i := 1; i < len(spans); i++ {
		if compareSpans(buf, spans[i-1], spans[i]) == 0 {
			if shapes != nil {
				shapes.remember(dst, nil)
			}
			return dst, p.errorf("duplicate key %s", buf[spans[i].k0:spans[i].k1])
		}
	}
	if shapes != nil {
		for _, s := range spans {
			shapes.perm = append(shapes.perm, s.i)
		}
	}
	return reorder(dst, start, spans, nil), nil
}

// reorder rewrites the object at dst[start:] with its members in the order of spans. It is a
// function of its own so that its scratch buffer is on the stack only while it runs, not in
// every frame of a nested parse.
//
//go:noinline
func reorder(dst []byte, start int, spans []span, perm []int) []byte {
	var stack [1024]byte
	tmp := stack[:0]
	if n := len(dst) - start; n > len(stack) {
		tmp = make([]byte, 0, n)
	}
	tmp = append(tmp, '{')
	for i, s := range spans {
		if perm != nil {
			s = spans[perm[i]]
		}
		if i > 0 {
			tmp = append(tmp, ',')
		}
		tmp = append(tmp, dst[s.k0:s.k1]...)
		tmp = append(tmp, ':')
		tmp = append(tmp, dst[s.v0:s.v1]...)
	}
	tmp = append(tmp, '}')
	return append(dst[:start], tmp...)
}

// span locates one member of an object being canonicalised. esc is set when its key has an
// escape; otherwise pre holds the key's first 8 bytes, big-endian and zero-padded.
type span struct {
	k0, k1, v0, v1 int
	pre            uint64
	esc            bool
	i              int // position in the input
}

// keyPrefix packs the first 8 bytes of an unescaped key. A key holds no zero byte (control
// characters are escaped), so comparing prefixes orders keys like comparing their bytes, up to
// ties.
func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(k) {
			p |= uint64(k[i])
		}
	}
	return p
}

// compareSpans orders two members of buf by key like compareKeys, without looking for escapes
// that the parser saw were not there.
func compareSpans(buf []byte, a, b span) int {
	if !a.esc && !b.esc {
		switch {
		case a.pre < b.pre:
			return -1
		case a.pre > b.pre:
			return 1
		}
		return bytes.Compare(buf[a.k0+1:a.k1-1], buf[b.k0+1:b.k1-1])
	}
	return compareKeys(buf[a.k0:a.k1], buf[b.k0:b.k1])
}

// plain marks the bytes that stand for themselves in a JSON string: printable ASCII but the
// quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (p *parser) str() error {
	p.pos++ // opening quote
	p.esc = false
	for p.pos < len(p.src) {
		src, i := p.src, p.pos
		for i < len(src) && plain[src[i]] {
			i++
		}
		if p.pos = i; i == len(src) {
			break
		}
		c := src[i]
		switch {
		case c == '"':
			p.pos++
			return nil
		case c == '\\':
			p.esc = true
			p.pos++
			if p.pos >= len(p.src) {
				return p.errorf("unexpected end of input in string")
			}
			switch p.src[p.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos++
			case 'u':
				if p.pos+4 >= len(p.src) {
					return p.errorf("short \\u escape")
				}
				for _, h := range p.src[p.pos+1 : p.pos+5] {
					if !isHex(h) {
						return p.errorf("invalid \\u escape")
					}
				}
				p.pos += 5
			default:
				return p.errorf("invalid escape character %q", p.src[p.pos])
			}
		case c < 0x20:
			return p.errorf("control character in string")
		case c < utf8.RuneSelf:
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.src[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return p.errorf("invalid UTF-8 in string")
			}
			p.pos += size
		}
	}
	return p.errorf("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (p *parser) number() error {
	s := p.src
	i := p.pos
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	i0 := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return p.errorf("invalid number")
	}
	intLen := i - i0
	zeroInt := s[i0] == '0'
	// The common spellings are canonical already (see appendNumber): an integer, or a fraction
	// without trailing zeros, of moderate size.
	p.canonicalNum = intLen <= 21 && !(neg && zeroInt)
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			return p.errorf("invalid number: no digits after '.'")
		}
		p.canonicalNum = intLen <= 21 && s[i-1] != '0' && (!zeroInt || leadingZeros(s[d:i]) < 6)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		p.canonicalNum = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			p.pos = i
			return p.errorf("invalid number: no digits in exponent")
		}
	}
	p.pos = i
	return nil
}

// appendNumber appends the canonical form of the valid JSON number num (see Canonical). The
// parser copies the common spellings, which are canonical already, without calling it.
func appendNumber(dst, num []byte) []byte {
	s := num
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[:i]
	var frac, exp []byte
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		frac, i = s[i+1:j], j
	}
	if i < len(s) { // 'e' or 'E'
		exp = s[i+1:]
	}
	var buf [64]byte
	digits := append(append(buf[:0], intPart...), frac...)
	lz := leadingZeros(digits)
	digits = digits[lz:]
	if len(digits) == 0 {
		return append(dst, '0') // zero, whatever its sign and exponent
	}
	var e int64
	if exp != nil {
		expNeg := exp[0] == '-'
		if exp[0] == '+' || exp[0] == '-' {
			exp = exp[1:]
		}
		exp = exp[leadingZeros(exp):]
		if len(exp) > 15 {
			return append(dst, num...)
		}
		for _, c := range exp {
			e = e*10 + int64(c-'0')
		}
		if expNeg {
			e = -e
		}
	}
	e -= int64(len(frac))
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	n := int64(len(digits))
	point := n + e // digits before the decimal point
	if neg {
		dst = append(dst, '-')
	}
	switch {
	case e >= 0 && point <= 21:
		dst = append(dst, digits...)
		for range e {
			dst = append(dst, '0')
		}
	case point > 0 && point <= 21:
		dst = append(dst, digits[:point]...)
		dst = append(dst, '.')
		dst = append(dst, digits[point:]...)
	case point <= 0 && point > -6:
		dst = append(dst, '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if n > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if point-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, point-1, 10)
	}
	return dst
}

func leadingZeros(b []byte) int {
	i := 0
	for i < len(b) && b[i] == '0' {
		i++
	}
	return i
}
