package nango

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gonango/nango/store"
)

// RetentionConfig says what the engine stops keeping, and when. The zero value and a nil
// Config.Retention mean the defaults: payloads pruned after 30 days without a change, streams
// deleted after 60 days without a run, the newest 1,000 runs of each sync and connection kept
// for 90 days at most, checked every hour, 2,000 records per transaction.
type RetentionConfig struct {
	// Disabled turns the background pruning off, and with it SweepDataKeys. PruneRecords and
	// PruneExpired still work.
	Disabled bool
	// SweepDataKeys makes each pass delete the rows of Config.DataKeyStore that no connection
	// of the engine's store names and that were written more than an hour before (see
	// PruneExpired). It is off by default because it trusts the engine's store to be the live
	// one: an engine opened on a restored backup or a copy of the store, with the live key
	// store as its DataKeyStore, would delete the keys of every connection made since, and
	// with them those connections' data. Turn it on in the service that owns the live store
	// only; read backups with the nango command or StoreOpener, which never delete.
	SweepDataKeys bool
	// PayloadAge prunes the payload of records not modified for this long: the payload is
	// removed and pruned_at set; the record, its cursor and its place in the feed stay, and a
	// later save of the same payload restores it without an UPDATED. Defaults to 30 days.
	PayloadAge time.Duration
	// IdleStreamAge deletes the records of a sync's models on a connection when the sync has
	// not run there for this long (its newest run started before). Defaults to 60 days.
	IdleStreamAge time.Duration
	// RunHistoryKeep is how many finished runs of each sync on each connection are kept (the
	// newest). Defaults to 1,000. The newest successful run and running runs are always kept.
	RunHistoryKeep int
	// RunHistoryAge removes finished runs that ended longer ago. Defaults to 90 days.
	RunHistoryAge time.Duration
	// Interval is how often the engine prunes, on Config.Clock. Defaults to 1 hour.
	Interval time.Duration
	// BatchSize is how many records one transaction prunes, 1 to 10,000, so that no write
	// lock is held for long, and how many unnamed data keys the pass deletes before it reads
	// the connections again. Defaults to 2,000.
	BatchSize int
}

// DefaultRetention is the retention of a nil Config.Retention.
var DefaultRetention = RetentionConfig{
	PayloadAge:     30 * 24 * time.Hour,
	IdleStreamAge:  60 * 24 * time.Hour,
	RunHistoryKeep: 1000,
	RunHistoryAge:  90 * 24 * time.Hour,
	Interval:       time.Hour,
	BatchSize:      2000,
}

// withDefaults validates a retention configuration and fills in its defaults.
func (r *RetentionConfig) withDefaults() (RetentionConfig, error) {
	if r == nil {
		return DefaultRetention, nil
	}
	c := *r
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"payload age", &c.PayloadAge, DefaultRetention.PayloadAge},
		{"idle stream age", &c.IdleStreamAge, DefaultRetention.IdleStreamAge},
		{"interval", &c.Interval, DefaultRetention.Interval},
		{"run history age", &c.RunHistoryAge, DefaultRetention.RunHistoryAge},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			return c, configError("retention %s %s is negative", d.name, *d.v)
		}
	}
	switch {
	case c.RunHistoryKeep == 0:
		c.RunHistoryKeep = DefaultRetention.RunHistoryKeep
	case c.RunHistoryKeep < 0:
		return c, configError("retention run history keep %d is negative", c.RunHistoryKeep)
	}
	switch {
	case c.BatchSize == 0:
		c.BatchSize = DefaultRetention.BatchSize
	case c.BatchSize < 0 || c.BatchSize > store.MaxPruneLimit:
		return c, configError("retention batch size %d is outside 1..%d", c.BatchSize, store.MaxPruneLimit)
	}
	return c, nil
}

// PruneRecordsParams select the records PruneRecords empties: Nango's PATCH /records/prune.
type PruneRecordsParams struct {
	Integration string
	Connection  string
	Model       string
	// UntilCursor prunes the records up to and including the one with this cursor (a record's
	// Metadata.Cursor). Required.
	UntilCursor string
	// Limit is how many records one call prunes, 1 to 10,000. Defaults to 1,000.
	Limit int
}

// PruneRecordsResult is what PruneRecords did, as Nango answers it.
type PruneRecordsResult struct {
	// Count is the number of records whose payload was removed.
	Count int `json:"count"`
	// HasMore is set when more records may be left up to the cursor: call again with the same
	// parameters.
	HasMore bool `json:"has_more"`
}

// PruneRecords removes the payload of the records of a stream up to and including
// p.UntilCursor, at most p.Limit of them, keeping their metadata and cursor: the feed keeps its
// order, and a later save of the same payload restores it without an UPDATED. Errors:
// ErrUnknownIntegration, ErrUnknownModel, ErrUnknownConnection, ErrInvalidCursor (also for a
// cursor from before the stream was emptied), or a *ParamError for a missing cursor or a limit
// out of range.
func (e *Engine) PruneRecords(ctx context.Context, p PruneRecordsParams) (*PruneRecordsResult, error) {
	if err := e.checkModel(p.Integration, p.Model); err != nil {
		return nil, err
	}
	if p.UntilCursor == "" {
		return nil, &ParamError{Param: "until_cursor", Reason: "required: the cursor of the last record to prune"}
	}
	if _, err := e.store.ConnectionGet(ctx, p.Integration, p.Connection); errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w %q of integration %q", ErrUnknownConnection, p.Connection, p.Integration)
	} else if err != nil {
		return nil, within(err, "pruning records of %s/%s/%s", p.Integration, p.Connection, p.Model)
	}
	res, err := e.store.RecordsPrune(ctx, &store.RecordsPruneParams{
		Stream:      store.Stream{Integration: p.Integration, Connection: p.Connection, Model: p.Model},
		UntilCursor: p.UntilCursor,
		Limit:       p.Limit,
		Now:         e.cfg.Clock.Now(),
	})
	if errors.Is(err, store.ErrCursorStale) {
		err = &store.CursorError{Cursor: p.UntilCursor, Reason: "taken before the stream was emptied"}
	}
	if err != nil {
		return nil, within(err, "pruning records of %s/%s/%s", p.Integration, p.Connection, p.Model)
	}
	return &PruneRecordsResult{Count: res.Count, HasMore: res.HasMore}, nil
}

// RetentionResult is what one pass of PruneExpired did.
type RetentionResult struct {
	// PrunedRecords counts the records whose payload was removed.
	PrunedRecords int
	// DeletedStreams counts the streams deleted because their sync had not run for
	// IdleStreamAge.
	DeletedStreams int
	// DeletedRuns counts the runs removed from the history.
	DeletedRuns int
	// DeletedDataKeys counts the rows deleted from Config.DataKeyStore because no connection
	// of the engine's store held their key (see PruneExpired).
	DeletedDataKeys int
}

// PruneExpired runs one retention pass now, as the engine does every RetentionConfig.Interval
// while it runs: payloads of the registered syncs' records older than PayloadAge are pruned, in
// transactions of BatchSize records, and the streams of syncs that have not run for
// IdleStreamAge are deleted, and the run history is cut to RunHistoryKeep runs and
// RunHistoryAge. With Config.DataKeyStore and SweepDataKeys, it also deletes from the key
// store the data keys that no connection holds and that were written more than an hour
// before: a key whose engine stopped between writing it and naming it in its connection, or
// one moved there for a connection while it was being deleted, which would otherwise open that
// connection's data in backups. The hour leaves an engine that just wrote a key the time to
// name it. It works even with retention Disabled.
func (e *Engine) PruneExpired(ctx context.Context) (*RetentionResult, error) {
	rc := e.retention
	now := e.cfg.Clock.Now()
	out := &RetentionResult{}
	var sweepErr error // a key store that cannot be reached does not stop the rest
	if e.keys.ks != nil && rc.SweepDataKeys {
		out.DeletedDataKeys, sweepErr = e.sweepDataKeys(ctx, now)
	}
	out, err := e.pruneExpired(ctx, rc, now, out)
	return out, errors.Join(sweepErr, err)
}

// pruneExpired is the part of PruneExpired in the engine's store.
func (e *Engine) pruneExpired(ctx context.Context, rc RetentionConfig, now time.Time, out *RetentionResult) (*RetentionResult, error) {
	for _, integ := range e.integrationList() {
		conns, err := e.store.ConnectionList(ctx, integ.Key)
		if err != nil {
			return out, within(err, "retention: listing the connections of %s", integ.Key)
		}
		for _, conn := range conns {
			for i := range integ.Syncs {
				sc := &integ.Syncs[i]
				key := store.SyncKey{Integration: integ.Key, Sync: sc.Name, Connection: conn.ID}
				idle, err := e.syncIdle(ctx, key, now.Add(-rc.IdleStreamAge))
				if err != nil {
					return out, err
				}
				n, err := e.pruneRuns(ctx, key, now.Add(-rc.RunHistoryAge))
				out.DeletedRuns += n
				if err != nil {
					return out, err
				}
				for _, model := range syncModels(sc) {
					st := store.Stream{Integration: integ.Key, Connection: conn.ID, Model: model}
					if idle {
						n, err := e.deleteIdle(ctx, st)
						if err != nil {
							return out, err
						}
						out.DeletedStreams += n
						continue
					}
					n, err := e.pruneOld(ctx, st, now.Add(-rc.PayloadAge), now)
					out.PrunedRecords += n
					if err != nil {
						return out, err
					}
				}
			}
		}
	}
	return out, nil
}

// sweepDataKeys deletes the unreferenced rows of Config.DataKeyStore, BatchSize at a time,
// each batch on a fresh reading of the connections.
func (e *Engine) sweepDataKeys(ctx context.Context, now time.Time) (int, error) {
	total := 0
	defer func() {
		if total > 0 {
			e.logger.Info("retention: deleted data keys that no connection names from the data key store", "count", total)
		}
	}()
	for {
		n, more, err := e.keys.sweepKeyStore(ctx, now, e.retention.BatchSize)
		total += n
		if err != nil {
			return total, fmt.Errorf("nango: retention: sweeping the data key store: %w", err)
		}
		if !more || n == 0 {
			return total, nil
		}
	}
}

// syncIdle reports whether a sync has runs on a connection and the newest started before
// cutoff.
func (e *Engine) syncIdle(ctx context.Context, key store.SyncKey, cutoff time.Time) (bool, error) {
	runs, err := e.store.RunList(ctx, &store.RunListParams{Key: key, Limit: 1})
	if err != nil {
		return false, within(err, "retention: reading the runs of %s/%s/%s", key.Integration, key.Sync, key.Connection)
	}
	return len(runs) == 1 && runs[0].State != store.RunRunning && runs[0].StartedAt.Before(cutoff), nil
}

// deleteIdle deletes a stream that holds records; it returns 1 when it did.
func (e *Engine) deleteIdle(ctx context.Context, st store.Stream) (int, error) {
	stats, err := e.store.StreamStats(ctx, st)
	if err != nil {
		return 0, within(err, "retention: reading %s", st)
	}
	if stats.Live+stats.Deleted == 0 {
		return 0, nil
	}
	if err := e.store.StreamDelete(ctx, st); err != nil {
		return 0, within(err, "retention: deleting idle stream %s", st)
	}
	e.logger.Info("retention: deleted an idle stream", "stream", st.String(), "records", stats.Live+stats.Deleted)
	return 1, nil
}

// pruneOld prunes a stream's payloads last modified before cutoff, batch by batch.
func (e *Engine) pruneOld(ctx context.Context, st store.Stream, cutoff, now time.Time) (int, error) {
	total := 0
	for {
		res, err := e.store.RecordsPrune(ctx, &store.RecordsPruneParams{Stream: st, ModifiedBefore: cutoff, Limit: e.retention.BatchSize, Now: now})
		if err != nil {
			return total, within(err, "retention: pruning %s", st)
		}
		total += res.Count
		if !res.HasMore {
			return total, nil
		}
	}
}

// pruneRuns cuts a sync's run history on a connection, batch by batch.
func (e *Engine) pruneRuns(ctx context.Context, key store.SyncKey, cutoff time.Time) (int, error) {
	total := 0
	for {
		res, err := e.store.RunsPrune(ctx, &store.RunsPruneParams{Key: key, Keep: e.retention.RunHistoryKeep, EndedBefore: cutoff, Limit: e.retention.BatchSize})
		if err != nil {
			return total, within(err, "retention: pruning the runs of %s/%s/%s", key.Integration, key.Sync, key.Connection)
		}
		total += res.Count
		if !res.HasMore {
			return total, nil
		}
	}
}

// startRetention runs PruneExpired every Interval on the engine's clock until ctx is done; the
// returned function waits for it to stop.
func (e *Engine) startRetention(ctx context.Context) (wait func()) {
	if e.retention.Disabled {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.cfg.Clock.After(e.retention.Interval):
			}
			res, err := e.PruneExpired(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				e.logger.Warn("retention: pass failed", "error", err)
			case res.PrunedRecords > 0 || res.DeletedStreams > 0 || res.DeletedRuns > 0 || res.DeletedDataKeys > 0:
				e.logger.Info("retention: pass done", "pruned_records", res.PrunedRecords, "deleted_streams", res.DeletedStreams,
					"deleted_runs", res.DeletedRuns, "deleted_data_keys", res.DeletedDataKeys)
			}
		}
	}()
	return func() { <-done }
}

// integrationList returns the registered integrations, in no particular order.
func (e *Engine) integrationList() []*Integration {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*Integration, 0, len(e.integrations))
	for _, in := range e.integrations {
		out = append(out, in)
	}
	return out
}

// syncModels returns the names of the models a sync writes.
func syncModels(sc *SyncConfig) []string {
	out := make([]string, len(sc.Models))
	for i, m := range sc.Models {
		out[i] = m.Name
	}
	return out
}
