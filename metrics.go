package nango

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are the engine's OpenTelemetry instruments. Names follow the OpenTelemetry semantic
// conventions' style; attributes are integration, sync, state, model and action.
type metrics struct {
	runs        metric.Int64Counter
	runDuration metric.Float64Histogram
	records     metric.Int64Counter
	lag         metric.Float64Histogram
	active      metric.Int64UpDownCounter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter("github.com/gonango/nango")
	var out metrics
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	out.runs, err = m.Int64Counter("nango.runs", metric.WithDescription("Finished runs, by state."), metric.WithUnit("{run}"))
	keep(err)
	out.runDuration, err = m.Float64Histogram("nango.run.duration", metric.WithDescription("Duration of runs."), metric.WithUnit("s"))
	keep(err)
	out.records, err = m.Int64Counter("nango.records", metric.WithDescription("Records changed by runs, by action."), metric.WithUnit("{record}"))
	keep(err)
	out.lag, err = m.Float64Histogram("nango.schedule.lag", metric.WithDescription("Delay between a scheduled run's due time and its start."), metric.WithUnit("s"))
	keep(err)
	out.active, err = m.Int64UpDownCounter("nango.runs.active", metric.WithDescription("Runs in progress."), metric.WithUnit("{run}"))
	keep(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("nango: creating metrics: %w", errors.Join(errs...))
	}
	return &out, nil
}

func (m *metrics) runStarted(ctx context.Context, integration, sync string) {
	m.active.Add(ctx, 1, metric.WithAttributes(attribute.String("integration", integration), attribute.String("sync", sync)))
}

func (m *metrics) runFinished(ctx context.Context, res *RunResult) {
	base := []attribute.KeyValue{attribute.String("integration", res.Integration), attribute.String("sync", res.Sync)}
	m.active.Add(ctx, -1, metric.WithAttributes(base...))
	withState := metric.WithAttributes(append(base, attribute.String("state", string(res.State)))...)
	m.runs.Add(ctx, 1, withState)
	m.runDuration.Record(ctx, res.Duration().Seconds(), withState)
	for model, r := range res.Models {
		for _, c := range []struct {
			action string
			n      int
		}{{"added", r.Added}, {"updated", r.Updated}, {"deleted", r.Deleted}} {
			if c.n > 0 {
				m.records.Add(ctx, int64(c.n), metric.WithAttributes(append(base, attribute.String("model", model), attribute.String("action", c.action))...))
			}
		}
	}
}

func (m *metrics) scheduleLag(ctx context.Context, integration string, lag time.Duration) {
	m.lag.Record(ctx, lag.Seconds(), metric.WithAttributes(attribute.String("integration", integration)))
}
