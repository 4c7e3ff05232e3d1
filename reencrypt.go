package nango

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gonango/nango/store"
)

// ReencryptRecordsOptions tune Engine.ReencryptRecords.
type ReencryptRecordsOptions struct {
	// Integration, when set, limits the pass to this integration's connections; Connection, when
	// set too, to this connection.
	Integration string
	Connection  string
	// BatchSize is how many records are read and sealed in one transaction, 1 to 10,000.
	// Defaults to 1,000.
	BatchSize int
}

// ReencryptRecords seals, with their connections' data keys, the record payloads stored in the
// clear before Config.EncryptionKeys was set. Payloads are otherwise sealed at their next
// change; this pass seals the others (deleted records included) without waiting, without a
// change: cursors, actions and times stay, and no consumer or webhook sees anything. It reads
// every stream of the registered integrations' models in pages of BatchSize records and seals
// each page in one short transaction, so it may run while syncs run: a record that changed
// since its page was read is left to the write that changed it. It returns how many payloads it
// sealed. Without keys it does nothing. Sealed payloads never need this pass again: rotating
// the master key re-wraps the data keys (ReencryptCredentials).
func (e *Engine) ReencryptRecords(ctx context.Context, opts *ReencryptRecordsOptions) (int, error) {
	var o ReencryptRecordsOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.BatchSize == 0:
		o.BatchSize = 1000
	case o.BatchSize < 0 || o.BatchSize > store.MaxListLimit:
		return 0, &ParamError{Param: "batch size", Reason: fmt.Sprintf("%d is outside 1..%d", o.BatchSize, store.MaxListLimit)}
	}
	if o.Connection != "" && o.Integration == "" {
		return 0, &ParamError{Param: "connection", Reason: "needs its integration"}
	}
	if !e.sealer.enabled() {
		return 0, nil
	}
	conns, err := e.store.ConnectionList(ctx, o.Integration)
	if err != nil {
		return 0, fmt.Errorf("nango: re-encrypting records: %w", err)
	}
	total := 0
	for _, c := range conns {
		if o.Connection != "" && c.ID != o.Connection {
			continue
		}
		in, err := e.integration(c.Integration)
		if errors.Is(err, ErrUnknownIntegration) {
			continue // its models are not known here
		} else if err != nil {
			return total, err
		}
		var models []string
		for i := range in.Syncs {
			for _, m := range in.Syncs[i].Models {
				if !slices.Contains(models, m.Name) {
					models = append(models, m.Name)
				}
			}
		}
		for _, m := range models {
			n, err := e.resealStream(ctx, store.Stream{Integration: c.Integration, Connection: c.ID, Model: m}, o.BatchSize)
			total += n
			if err != nil {
				return total, fmt.Errorf("nango: re-encrypting records of %s/%s/%s: %w", c.Integration, c.ID, m, err)
			}
		}
	}
	return total, nil
}

// resealStream seals the payloads of one stream that are in the clear, a page at a time.
func (e *Engine) resealStream(ctx context.Context, st store.Stream, batch int) (int, error) {
	var codec store.PayloadCodec
	p := &store.RecordsListParams{Stream: st, Limit: batch}
	n := 0
	for {
		page, err := e.store.RecordsList(ctx, p)
		if err != nil {
			return n, err
		}
		var plain []store.RecordInput
		for _, r := range page.Records {
			if len(r.Data) > 0 && !sealed(r.Data) && r.PrunedAt.IsZero() {
				plain = append(plain, store.RecordInput{ID: r.ID, Data: r.Data})
			}
		}
		if len(plain) > 0 {
			if codec == nil {
				dk, err := e.keys.dataKey(ctx, st.Integration, st.Connection, true)
				if err != nil {
					return n, err
				}
				codec = &recordCodec{dk: dk, stream: st}
			}
			res, err := e.store.RecordsWrite(ctx, &store.RecordsWriteParams{Stream: st, Mode: store.WriteReseal, Records: plain, Codec: codec})
			if err != nil {
				return n, err
			}
			n += res.Resealed
		}
		if page.NextCursor == "" {
			return n, nil
		}
		p.Cursor = page.NextCursor
	}
}
