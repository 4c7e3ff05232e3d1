package nango

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/gonango/nango/internal/jsonc"
	"github.com/gonango/nango/store"
)

// maxChunk is the most records one store transaction takes. A larger call commits in ordered
// chunks of this size, each atomic, after every record of the call was validated.
const maxChunk = 10000

// WriteOption adjusts a BatchSave, BatchUpdate or BatchDelete.
type WriteOption func(*writeOptions)

type writeOptions struct {
	checkpoint    any
	hasCheckpoint bool
}

// WithCheckpoint saves v as the sync's checkpoint in the same transaction as the records, so a
// crash can never leave the checkpoint ahead of the records it describes. The checkpoint is
// version-checked like SaveCheckpoint.
func WithCheckpoint(v any) WriteOption {
	return func(o *writeOptions) { o.checkpoint, o.hasCheckpoint = v, true }
}

// BatchSave saves records of a model: a slice of structs, maps, json.RawMessage or []byte, each
// a JSON object with an "id" member (a string or an integer). The store compares each record
// with the one it holds and marks it ADDED or UPDATED, or leaves it alone when it did not change.
// When the same id appears several times in records, the last one wins and the others are
// counted as duplicates. A batch with an invalid record returns a *RecordError and writes
// nothing. A batch of 512 records or more is encoded to JSON on several goroutines, so a
// MarshalJSON method of the records may run for several of them at once. A batch of structs
// whose "id" is a string field of their own is encoded inside the store's write, while the
// store looks their ids up (on PostgreSQL, with the stream's row locked): a MarshalJSON method
// must not wait on anything.
func (n *Nango) BatchSave(ctx context.Context, records any, model string, opts ...WriteOption) error {
	return n.write(ctx, store.WriteSave, records, model, opts)
}

// BatchUpdate deep-merges partial records into the stored live records with the same ids
// (objects merged member by member, arrays and other values replaced); ids that are unknown or
// deleted are ignored, as in Nango.
func (n *Nango) BatchUpdate(ctx context.Context, records any, model string, opts ...WriteOption) error {
	return n.write(ctx, store.WriteMerge, records, model, opts)
}

// BatchDelete marks records DELETED. records is a slice of ids ([]string) or of records with
// an "id" member; only the ids matter, and the stored payload is kept. Unknown and already
// deleted ids are ignored.
func (n *Nango) BatchDelete(ctx context.Context, records any, model string, opts ...WriteOption) error {
	return n.write(ctx, store.WriteDelete, records, model, opts)
}

func (n *Nango) write(ctx context.Context, mode store.WriteMode, records any, model string, opts []WriteOption) error {
	if err := n.usable(); err != nil {
		return err
	}
	m, err := n.model(model)
	if err != nil {
		return err
	}
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	// A batch of structs whose ids can be read off them is encoded by the store, while it looks
	// the ids up; any other is encoded here.
	var inputs []store.RecordInput
	var encode func() error
	hints := idHints(m, mode, records)
	if hints != nil && len(hints) <= maxChunk {
		inputs = make([]store.RecordInput, len(hints))
		rv := reflect.ValueOf(records)
		encode = func() error { return encodeInto(m, mode, rv, inputs) }
	} else if inputs, err = encodeRecords(m, mode, records); err != nil {
		return err
	}
	var cpData []byte
	if o.hasCheckpoint {
		if cpData, err = encodeCheckpoint(o.checkpoint); err != nil {
			return err
		}
		if cpData, err = n.sealCheckpoint(ctx, cpData); err != nil {
			return err
		}
	}
	codec, err := n.codec(ctx, model)
	if err != nil {
		return err
	}
	var crossDups int
	if len(inputs) > maxChunk {
		// Chunks commit one by one, so every record is checked before the first one, and
		// duplicates are dropped across the whole call (the store only sees one chunk).
		if inputs, crossDups, err = prevalidate(model, inputs); err != nil {
			return err
		}
	}
	track := ""
	if n.sync.TrackDeletes && mode != store.WriteDelete {
		track = n.sync.Name
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.usable(); err != nil {
		return err // the run ended while this call was encoding
	}
	now := n.engine.now()
	if len(inputs) == 0 {
		if cpData == nil {
			return nil
		}
		cp, err := n.engine.store.CheckpointPut(ctx, &store.CheckpointPutParams{
			Key: store.CheckpointKey(n.run.Key), Data: cpData, ExpectedVersion: n.cpVersion, Now: now, Fence: n.lease,
		})
		if err != nil {
			return within(err, "saving checkpoint")
		}
		n.cpVersion = cp.Version
		return nil
	}
	if cpData != nil && len(inputs) > maxChunk {
		// The checkpoint commits with the last chunk; check its version before the first one
		// commits, so that a conflict writes nothing.
		if err := n.checkCheckpointVersion(ctx); err != nil {
			return err
		}
	}
	if crossDups > 0 {
		n.addResultLocked(model, &store.RecordsWriteResult{Duplicates: crossDups})
		n.logger.Warn("duplicate ids in batch: the last record of each id was kept", "model", model, "duplicates", crossDups)
	}
	for start := 0; start < len(inputs); start += maxChunk {
		end := min(start+maxChunk, len(inputs))
		p := &store.RecordsWriteParams{Stream: n.stream(model), Mode: mode, Records: inputs[start:end], Now: now, TrackSeen: track, Fence: n.lease,
			IgnoreModifiedAfter: n.mergeGuard(model), Codec: codec, // merging.go
			Encode: encode, IDHints: hints} // one chunk when set
		if end == len(inputs) && cpData != nil {
			p.Checkpoint = &store.CheckpointPutParams{
				Key: store.CheckpointKey(n.run.Key), Data: cpData, ExpectedVersion: n.cpVersion, Now: now,
			}
		}
		res, err := n.engine.store.RecordsWrite(ctx, p)
		if err != nil {
			var re *store.RecordError
			if errors.As(err, &re) {
				re.Index += start
				return re
			}
			return within(err, "writing %s records of model %s", mode, model)
		}
		n.addResultLocked(model, res)
		n.afterGuardedWrite(model, res)
		n.engine.subs.publish(n, model, res)
		if res.Duplicates > 0 {
			n.logger.Warn("duplicate ids in batch: the last record of each id was kept", "model", model,
				"duplicates", res.Duplicates, "ids", res.DuplicateIDs)
		}
		if res.Checkpoint != nil {
			n.cpVersion = res.Checkpoint.Version
		}
	}
	return nil
}

// encodeRecords turns the caller's slice into store inputs. It marshals and type-checks each
// record; the store reads ids and canonicalises in one pass. A large batch is encoded on several
// goroutines (parallelEncoding); the error reported is that of the first bad record, as when
// encoding in order.
func encodeRecords(m Model, mode store.WriteMode, records any) ([]store.RecordInput, error) {
	if records == nil {
		return nil, nil
	}
	rv := reflect.ValueOf(records)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, &RecordError{Model: m.Name, Index: -1, Reason: fmt.Sprintf("records must be a slice, not %T", records)}
	}
	inputs := make([]store.RecordInput, rv.Len())
	if err := encodeInto(m, mode, rv, inputs); err != nil {
		return nil, err
	}
	return inputs, nil
}

// encodeInto encodes the records of slice rv into inputs, of the same length.
func encodeInto(m Model, mode store.WriteMode, rv reflect.Value, inputs []store.RecordInput) error {
	parts := parallelEncoding(len(inputs))
	if parts == 1 {
		return encodeRange(m, mode, rv, inputs, 0, len(inputs))
	}
	// Each part stops at its first bad record, or at a panic of a MarshalJSON method; the
	// first bad record of the batch is the first one in the lowest part that has one. A panic
	// goes on in the caller's goroutine, where the run recovers it (callSync), with the stack
	// of the goroutine where it happened.
	errs := make([]error, parts)
	panics := make([]*PanicError, parts)
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := k*len(inputs)/parts, (k+1)*len(inputs)/parts
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					panics[k] = &PanicError{Value: v, Stack: debug.Stack()}
				}
			}()
			errs[k] = encodeRange(m, mode, rv, inputs, lo, hi)
		})
	}
	wg.Wait()
	for k := range parts {
		if panics[k] != nil {
			panic(panics[k])
		}
		if errs[k] != nil {
			return errs[k]
		}
	}
	return nil
}

// idHints returns the ids of records read off the structs, before they are encoded, when every
// record is a struct of the model's type (or a pointer to one) whose "id" member is a string
// field of its own, and nothing in the type encodes itself; otherwise nil. The store takes them
// as hints only: the encoded payloads decide.
func idHints(m Model, mode store.WriteMode, records any) []string {
	if mode != store.WriteSave || m.typ == nil || records == nil {
		return nil
	}
	t := m.typ
	if t.Kind() != reflect.Struct || encodesItself(t) {
		return nil
	}
	field := -1
	for i := range t.NumField() {
		sf := t.Field(i)
		if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name == "id" && sf.IsExported() {
			if field >= 0 || sf.Type.Kind() != reflect.String || encodesItself(sf.Type) {
				return nil
			}
			field = i
		}
	}
	if field < 0 {
		return nil
	}
	rv := reflect.ValueOf(records)
	if rv.Kind() != reflect.Slice || rv.Len() == 0 {
		return nil
	}
	hints := make([]string, rv.Len())
	for i := range hints {
		ev := rv.Index(i)
		for ev.Kind() == reflect.Interface || ev.Kind() == reflect.Pointer {
			if ev.IsNil() {
				return nil
			}
			ev = ev.Elem()
		}
		if ev.Type() != t {
			return nil
		}
		hints[i] = ev.Field(field).String()
	}
	return hints
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodesItself reports whether values of type t (or pointers to them) have their own JSON or
// text encoding.
func encodesItself(t reflect.Type) bool {
	for _, it := range []reflect.Type{t, reflect.PointerTo(t)} {
		if it.Implements(jsonMarshaler) || it.Implements(textMarshaler) {
			return true
		}
	}
	return false
}

// parallelEncodeMin is the size of batch from which encodeRecords uses several goroutines: a
// batch of JSON-encoded structs takes a few microseconds a record, during which the store waits.
const parallelEncodeMin = 512

// parallelEncoding is the number of goroutines that encode a batch of n records: one per
// processor the Go scheduler may use, at most 4, each with 256 records or more.
func parallelEncoding(n int) int {
	if n < parallelEncodeMin {
		return 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), 4, n/256))
}

// encodeRange encodes records [lo, hi) of rv into inputs, up to the first bad one.
func encodeRange(m Model, mode store.WriteMode, rv reflect.Value, inputs []store.RecordInput, lo, hi int) error {
	for i := lo; i < hi; i++ {
		ev := rv.Index(i)
		for ev.Kind() == reflect.Interface && !ev.IsNil() {
			ev = ev.Elem()
		}
		if (ev.Kind() == reflect.Pointer || ev.Kind() == reflect.Interface || ev.Kind() == reflect.Map) && ev.IsNil() {
			return &RecordError{Model: m.Name, Index: i, Reason: "record is nil"}
		}
		v := ev.Interface()
		var data []byte
		switch r := v.(type) {
		case string:
			if mode != store.WriteDelete {
				return &RecordError{Model: m.Name, Index: i, ID: r, Reason: "a bare id is only accepted by BatchDelete"}
			}
			inputs[i] = store.RecordInput{ID: r}
			continue
		case json.RawMessage:
			data = r
		case []byte:
			data = r
		default:
			var err error
			if data, err = json.Marshal(v); err != nil {
				return &RecordError{Model: m.Name, Index: i, Reason: "does not encode as JSON: " + err.Error(), Err: err}
			}
		}
		if mode == store.WriteSave {
			if err := m.check(v, data); err != nil {
				_, id, _ := jsonc.Record(nil, data) // the id, when the record has one
				return &RecordError{Model: m.Name, Index: i, ID: id, Reason: err.Error(), Err: err}
			}
		}
		inputs[i] = store.RecordInput{Data: data}
	}
	return nil
}

// prevalidate checks every record of a call that will commit in several chunks, and drops the
// records whose id appears again later in the call. Indexes in its errors are the caller's.
func prevalidate(model string, inputs []store.RecordInput) ([]store.RecordInput, int, error) {
	ids := make([]string, len(inputs))
	var buf []byte
	for i, in := range inputs {
		id := in.ID
		if in.Data != nil {
			var err error
			if _, id, err = jsonc.Record(buf[:0], in.Data); err != nil {
				return nil, 0, &RecordError{Model: model, Index: i, Reason: err.Error(), Err: err}
			}
		}
		if reason := store.ValidateID(id); reason != "" {
			return nil, 0, &RecordError{Model: model, Index: i, ID: id, Reason: reason}
		}
		ids[i] = id
	}
	last := make(map[string]int, len(ids))
	for i, id := range ids {
		last[id] = i
	}
	if len(last) == len(ids) {
		return inputs, 0, nil
	}
	kept := make([]store.RecordInput, 0, len(last))
	for i, in := range inputs {
		if last[ids[i]] == i {
			kept = append(kept, in)
		}
	}
	return kept, len(inputs) - len(kept), nil
}
