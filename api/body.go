package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// maxSyncs bounds the syncs of one request, as Nango does.
const maxSyncs = 256

// body is a request's JSON object, read field by field with its problems collected.
type body struct {
	fields map[string]json.RawMessage
	v      validation
}

// readBody reads a JSON object body of at most h.maxBody bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (*body, *apiError) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			return nil, newError(http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "the body is larger than %d bytes", h.maxBody)
		}
		return nil, newError(http.StatusBadRequest, CodeInvalidBody, "reading the body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, newError(http.StatusBadRequest, CodeInvalidBody, "the body is empty: this endpoint takes a JSON object")
	}
	b := &body{v: validation{what: "body"}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&b.fields); err != nil || b.fields == nil {
		if err == nil {
			err = errors.New("null")
		}
		return nil, newError(http.StatusBadRequest, CodeInvalidBody, "the body is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, newError(http.StatusBadRequest, CodeInvalidBody, "the body has data after its JSON object")
	}
	return b, nil
}

// unknown reports fields not in allowed.
func (b *body) unknown(allowed ...string) {
	var unknown []string
	for k := range b.fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		b.v.add(issueUnrecognizedKey, fmt.Sprintf("unknown field(s) %s (this endpoint takes %s)", quoteList(unknown), strings.Join(allowed, ", ")))
	}
}

// field returns a field's raw value; null counts as absent.
func (b *body) field(name string) (json.RawMessage, bool) {
	raw, ok := b.fields[name]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// str returns a string field.
func (b *body) str(name string, required bool) (string, bool) {
	raw, ok := b.field(name)
	if !ok {
		if required {
			b.v.add(issueInvalidType, "Required", name)
		}
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		b.v.add(issueInvalidType, "Expected string, received "+jsonType(raw), name)
		return "", false
	}
	return s, true
}

// name returns a string field holding a name (integration key, connection id, sync name).
func (b *body) name(field string, required bool) string {
	s, ok := b.str(field, required)
	if !ok {
		return ""
	}
	if s == "" && !required {
		return ""
	}
	if !checkName(&b.v, s, field) {
		return ""
	}
	return s
}

// boolean returns a boolean field.
func (b *body) boolean(name string, path ...any) (bool, bool) {
	raw, ok := b.field(name)
	if !ok {
		return false, false
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		b.v.add(issueInvalidType, "Expected boolean, received "+jsonType(raw), append(path, name)...)
		return false, false
	}
	return v, true
}

// syncRef names a sync and its variant, as the syncs field does: "name", "name::variant" or
// {"name": ..., "variant": ...}.
type syncRef struct {
	Name    string
	Variant string
}

// syncs returns the syncs field.
func (b *body) syncs(name string) []syncRef {
	raw, ok := b.field(name)
	if !ok {
		b.v.add(issueInvalidType, "Required", name)
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		b.v.add(issueInvalidType, "Expected array, received "+jsonType(raw), name)
		return nil
	}
	if len(items) > maxSyncs {
		b.v.add(issueTooBig, fmt.Sprintf("%d syncs, more than %d", len(items), maxSyncs), name)
		return nil
	}
	refs := make([]syncRef, 0, len(items))
	for i, item := range items {
		ref, ok := parseSyncRef(item)
		if !ok {
			b.v.add(issueInvalidUnion, "Each sync must be either a string or a { name: string, variant: string } object", name, i)
			continue
		}
		if len(ref.Name) > maxNameLen {
			b.v.add(issueTooBig, fmt.Sprintf("the sync name is %d bytes long, more than %d", len(ref.Name), maxNameLen), name, i)
			continue
		}
		refs = append(refs, ref)
	}
	return refs
}

func parseSyncRef(raw json.RawMessage) (syncRef, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return splitSyncName(s)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 2 {
		return syncRef{}, false
	}
	var ref syncRef
	if json.Unmarshal(obj["name"], &ref.Name) != nil || json.Unmarshal(obj["variant"], &ref.Variant) != nil ||
		obj["name"] == nil || obj["variant"] == nil || ref.Name == "" {
		return syncRef{}, false
	}
	return ref, true
}

// splitSyncName parses "name" or "name::variant".
func splitSyncName(s string) (syncRef, bool) {
	name, variant, ok := strings.Cut(s, "::")
	if !ok {
		variant = "base"
	}
	if name == "" || variant == "" {
		return syncRef{}, false
	}
	return syncRef{Name: name, Variant: variant}, true
}

// syncNames returns the names of refs without duplicates; a variant other than base is an
// error, since the engine has no variants.
func syncNames(refs []syncRef) ([]string, *apiError) {
	var names []string
	seen := make(map[string]bool, len(refs))
	for _, ref := range refs {
		if ref.Variant != "base" {
			return nil, newError(http.StatusBadRequest, CodeUnknownVariant,
				"sync %s has no variant %s: only the base variant exists in this service", quote(ref.Name), quote(ref.Variant))
		}
		if !seen[ref.Name] {
			seen[ref.Name] = true
			names = append(names, ref.Name)
		}
	}
	return names, nil
}

// parseSyncList parses the syncs query parameter: names separated by commas, each "name" or
// "name::variant", at most maxSyncs of them, each at most maxNameLen bytes. The names are
// counted before the list is split, so that a huge list costs one pass.
func parseSyncList(v *validation, s string) []syncRef {
	if n := strings.Count(s, ",") + 1; n > maxSyncs {
		v.add(issueTooBig, fmt.Sprintf("%d sync names, more than %d", n, maxSyncs), "syncs")
		return nil
	}
	var refs []syncRef
	for i, part := range strings.Split(s, ",") {
		ref, ok := splitSyncName(strings.TrimSpace(part))
		switch {
		case !ok:
			v.add(issueInvalidString, fmt.Sprintf(`%s is not a sync name: want "*" or names separated by commas, each "name" or "name::variant"`, quote(part)), "syncs", i)
		case len(ref.Name) > maxNameLen:
			v.add(issueTooBig, fmt.Sprintf("the sync name is %d bytes long, more than %d", len(ref.Name), maxNameLen), "syncs", i)
		default:
			refs = append(refs, ref)
		}
	}
	return refs
}

// jsonType names the JSON type of a value, for messages.
func jsonType(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) == 0:
		return "nothing"
	case t[0] == '"':
		return "string"
	case t[0] == '{':
		return "object"
	case t[0] == '[':
		return "array"
	case t[0] == 't' || t[0] == 'f':
		return "boolean"
	case t[0] == 'n':
		return "null"
	default:
		return "number"
	}
}

// noQuery answers 400 to a request with query parameters, for the endpoints that take none.
func noQuery(r *http.Request) *apiError {
	if r.URL.RawQuery == "" {
		return nil
	}
	v := validation{what: "query parameters"}
	v.add(issueUnrecognizedKey, "this endpoint takes no query parameters, got "+quote(r.URL.RawQuery))
	return v.err(CodeInvalidQueryParams)
}
