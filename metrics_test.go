package nango_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	f := newFixture(t, memory.New(), nango.SyncConfig{}, &nango.Config{MeterProvider: mp})
	_, err := f.run(t, saveAll(contacts(3, "a")), nil)
	require.NoError(t, err)
	next := contacts(3, "a")
	next[0].Name = "b"
	_, err = f.run(t, saveAll(next), nil)
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	sums := map[string]int64{}
	var durations uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					key := m.Name
					if v, ok := p.Attributes.Value("state"); ok {
						key += "/" + v.AsString()
					}
					if v, ok := p.Attributes.Value("action"); ok {
						key += "/" + v.AsString()
					}
					sums[key] += p.Value
				}
			case metricdata.Histogram[float64]:
				if m.Name == "nango.run.duration" {
					for _, p := range d.DataPoints {
						durations += p.Count
					}
				}
			}
		}
	}
	require.Equal(t, int64(2), sums["nango.runs/success"])
	require.Equal(t, int64(3), sums["nango.records/added"])
	require.Equal(t, int64(1), sums["nango.records/updated"])
	require.Equal(t, int64(0), sums["nango.runs.active"])
	require.Equal(t, uint64(2), durations)
}
