package nango

import (
	"fmt"
	"reflect"
	"strings"
)

// idProblem says why records of type t cannot carry the "id" member every record needs, or ""
// when they can (or when t is not a struct, such as a map, and only the data can tell).
func idProblem(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	f, near := jsonField(t, "id", 0)
	switch {
	case f != nil:
		switch k := f.Type.Kind(); {
		case k == reflect.String, k >= reflect.Int && k <= reflect.Uint64:
			return ""
		case k == reflect.Pointer && f.Type.Elem().Kind() == reflect.String:
			return ""
		}
		return fmt.Sprintf("type %s: field %s is its \"id\", a %s: ids are strings or integers", t, f.Name, f.Type)
	case near != nil:
		return fmt.Sprintf("type %s has no field that encodes as the JSON member \"id\": field %s encodes as %q; tag it `json:\"id\"`",
			t, near.Name, jsonName(*near))
	}
	return fmt.Sprintf("type %s has no field that encodes as the JSON member \"id\": add one tagged `json:\"id\"` (a string or an integer)", t)
}

// jsonField finds the field of struct t that encoding/json writes as the member name, following
// embedded structs; near is a field whose name differs from it only in case.
func jsonField(t reflect.Type, name string, depth int) (f, near *reflect.StructField) {
	if depth > 8 {
		return nil, nil
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		tagName, _, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous && tagName == "" && ft.Kind() == reflect.Struct {
			if ef, en := jsonField(ft, name, depth+1); ef != nil {
				return ef, nil
			} else if en != nil && near == nil {
				near = en
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		switch n := jsonName(sf); {
		case n == name:
			return &sf, nil
		case strings.EqualFold(n, name) && near == nil:
			near = &sf
		}
	}
	return nil, near
}

// jsonName is the member name encoding/json gives a field.
func jsonName(sf reflect.StructField) string {
	if n, _, _ := strings.Cut(sf.Tag.Get("json"), ","); n != "" {
		return n
	}
	return sf.Name
}
