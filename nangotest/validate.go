package nangotest

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/gonango/nango"
)

// Violation is a saved record that does not fit its model.
type Violation struct {
	Model string
	ID    string
	// Field is the JSON path of the field at fault ("email", "address.city", "tags[2]"), or
	// empty when the fault is the whole record's.
	Field  string
	Reason string
}

// String formats the violation: `Contact "42" email: is missing`.
func (v Violation) String() string {
	if v.Field == "" {
		return fmt.Sprintf("%s %q: %s", v.Model, v.ID, v.Reason)
	}
	return fmt.Sprintf("%s %q %s: %s", v.Model, v.ID, v.Field, v.Reason)
}

// FieldError is an error a validation function returns to name the field at fault. Return
// several joined with errors.Join to report them all.
type FieldError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Violations checks every record of a model that the run added or updated against T and
// returns what does not fit: JSON members that are not fields of T, fields of T that are
// missing (unless tagged omitempty or omitzero), values of the wrong type or out of range, and
// nulls for fields that cannot be null. Then it decodes the record into T and calls check
// (when not nil), whose error becomes violations: one per *FieldError it is or joins, else
// one for the whole record.
func Violations[T any](r *Result, model string, check func(T) error) []Violation {
	r.h.tb.Helper()
	var out []Violation
	t := reflect.TypeFor[T]()
	for _, rec := range append(r.Changed(model, nango.ActionAdded), r.Changed(model, nango.ActionUpdated)...) {
		vs := structural(model, rec, t)
		out = append(out, vs...)
		if check == nil || len(vs) > 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(rec.Data, &v); err != nil {
			out = append(out, Violation{Model: model, ID: rec.ID, Reason: err.Error()})
			continue
		}
		for _, err := range flatten(check(v)) {
			var fe *FieldError
			if errors.As(err, &fe) {
				out = append(out, Violation{Model: model, ID: rec.ID, Field: fe.Field, Reason: fe.Reason})
			} else {
				out = append(out, Violation{Model: model, ID: rec.ID, Reason: err.Error()})
			}
		}
	}
	return out
}

// Validate reports every violation that Violations finds as a test error.
func Validate[T any](r *Result, model string, check func(T) error) {
	r.h.tb.Helper()
	for _, v := range Violations(r, model, check) {
		r.h.tb.Errorf("nangotest: %s", v)
	}
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// typeViolations checks the records a run saved against their model's Go type.
func (r *Result) typeViolations(m nango.Model) []Violation {
	var out []Violation
	for _, rec := range append(r.changes[m.Name].added, r.changes[m.Name].updated...) {
		out = append(out, structural(m.Name, rec, m.Type())...)
	}
	return out
}

func structural(model string, rec nango.Record, t reflect.Type) []Violation {
	var v any
	if err := decodeJSON(rec.Data, &v); err != nil {
		return []Violation{{Model: model, ID: rec.ID, Reason: "is not JSON: " + err.Error()}}
	}
	var out []Violation
	checkValue("", v, t, func(field, format string, args ...any) {
		out = append(out, Violation{Model: model, ID: rec.ID, Field: field, Reason: fmt.Sprintf(format, args...)})
	})
	return out
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func child(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

type addFunc func(field, format string, args ...any)

// checkValue checks a decoded JSON value against a Go type, as encoding/json would decode it
// but reporting every fault instead of the first, and the faults it lets pass silently.
func checkValue(path string, v any, t reflect.Type, add addFunc) {
	pt := reflect.PointerTo(t)
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(pt.Implements(jsonUnmarshaler) || (pt.Implements(textUnmarshaler) && isString(v))) {
		if v == nil {
			return
		}
		data, _ := json.Marshal(v)
		if err := json.Unmarshal(data, reflect.New(t).Interface()); err != nil {
			add(path, "does not decode into %s: %v", t, err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v != nil {
			checkValue(path, v, t.Elem(), add)
		}
		return
	case reflect.Interface:
		return
	case reflect.Slice, reflect.Map:
		if v == nil {
			return
		}
	}
	if v == nil {
		add(path, "is null, but %s cannot be", t)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			add(path, "is %s, want an object (%s)", kindOf(v), t)
			return
		}
		checkStruct(path, obj, t, add)
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			add(path, "is %s, want an object (%s)", kindOf(v), t)
			return
		}
		for _, k := range sortedMapKeys(obj) {
			checkValue(child(path, k), obj[k], t.Elem(), add)
		}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			if s, ok := v.(string); !ok {
				add(path, "is %s, want a base64 string (%s)", kindOf(v), t)
			} else if err := json.Unmarshal([]byte(`"`+s+`"`), new([]byte)); err != nil {
				add(path, "is not base64: %v", err)
			}
			return
		}
		arr, ok := v.([]any)
		if !ok {
			add(path, "is %s, want an array (%s)", kindOf(v), t)
			return
		}
		if t.Kind() == reflect.Array && len(arr) > t.Len() {
			add(path, "has %d elements, more than %s holds", len(arr), t)
		}
		for i, e := range arr {
			checkValue(fmt.Sprintf("%s[%d]", path, i), e, t.Elem(), add)
		}
	case reflect.String:
		if !isString(v) {
			add(path, "is %s, want a string", kindOf(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			add(path, "is %s, want a boolean", kindOf(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			add(path, "is %s, want a number (%s)", kindOf(v), t)
			return
		}
		if err := json.Unmarshal([]byte(n), reflect.New(t).Interface()); err != nil {
			add(path, "is %s, which does not fit %s", n, t)
		}
	}
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

type fieldInfo struct {
	name     string
	typ      reflect.Type
	optional bool
	quoted   bool // the ",string" option
}

// fieldsOf lists the JSON fields of a struct type as encoding/json sees them: tag names,
// "-" skipped, embedded structs' fields promoted unless a shallower field has the name.
func fieldsOf(t reflect.Type, optional bool) []fieldInfo {
	var direct, promoted []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			embeddedOptional := optional
			if ft.Kind() == reflect.Pointer {
				ft, embeddedOptional = ft.Elem(), true
			}
			if ft.Kind() == reflect.Struct {
				promoted = append(promoted, fieldsOf(ft, embeddedOptional)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fi := fieldInfo{name: name, typ: sf.Type, optional: optional}
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "omitempty", "omitzero":
				fi.optional = true
			case "string":
				switch sf.Type.Kind() {
				case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
					fi.quoted = true
				}
			}
		}
		direct = append(direct, fi)
	}
	for _, p := range promoted {
		taken := false
		for _, d := range direct {
			if d.name == p.name {
				taken = true
			}
		}
		if !taken {
			direct = append(direct, p)
		}
	}
	return direct
}

func checkStruct(path string, obj map[string]any, t reflect.Type, add addFunc) {
	fields := fieldsOf(t, false)
	matched := make([]bool, len(fields))
	for _, k := range sortedMapKeys(obj) {
		i := -1
		for j, f := range fields {
			if f.name == k {
				i = j
				break
			}
		}
		if i < 0 {
			for j, f := range fields {
				if strings.EqualFold(f.name, k) {
					i = j
					break
				}
			}
		}
		if i < 0 {
			add(child(path, k), "is not a field of %s", t)
			continue
		}
		matched[i] = true
		f := fields[i]
		v := obj[k]
		if f.quoted && v != nil {
			s, ok := v.(string)
			if !ok {
				add(child(path, k), "is %s, want a string (the field has the ,string option)", kindOf(v))
				continue
			}
			if f.typ.Kind() != reflect.String {
				var inner any
				if err := decodeJSON([]byte(s), &inner); err != nil {
					add(child(path, k), "is %q, which does not hold a %s", s, f.typ)
					continue
				}
				v = inner
			}
		}
		checkValue(child(path, k), v, f.typ, add)
	}
	for i, f := range fields {
		if !matched[i] && !f.optional {
			add(child(path, f.name), "is missing (%s has no omitempty or omitzero)", t)
		}
	}
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
