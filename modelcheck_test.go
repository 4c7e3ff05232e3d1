package nango_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store/memory"
	"github.com/stretchr/testify/require"
)

type (
	noID       struct{ Name string }
	untaggedID struct {
		ID   string
		Name string `json:"name"`
	}
	wrongTag struct {
		ID string `json:"Id"`
	}
	objectID struct {
		ID struct{ A int } `json:"id"`
	}
	hiddenID struct {
		ID string `json:"-"`
	}
	intID struct {
		ID int64 `json:"id"`
	}
	base        struct{ ID string }
	taggedBase  struct{ intID }
	embeddedBad struct {
		base
		Name string `json:"name"`
	}
)

func registerModel(m nango.Model) error {
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	return eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{m},
		Sync: nango.SyncFunc(func(context.Context, *nango.Nango) error { return nil }),
	}}})
}

func TestModelWithoutIDIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		model nango.Model
		err   string
	}{
		{nango.ModelOf[noID]("M"), "type nango_test.noID has no field that encodes as the JSON member \"id\": add one tagged `json:\"id\"` (a string or an integer)"},
		{nango.ModelOf[untaggedID]("M"), "type nango_test.untaggedID has no field that encodes as the JSON member \"id\": field ID encodes as \"ID\"; tag it `json:\"id\"`"},
		{nango.ModelOf[*untaggedID]("M"), "field ID encodes as \"ID\"; tag it `json:\"id\"`"},
		{nango.ModelOf[wrongTag]("M"), "field ID encodes as \"Id\"; tag it `json:\"id\"`"},
		{nango.ModelOf[embeddedBad]("M"), "field ID encodes as \"ID\"; tag it `json:\"id\"`"},
		{nango.ModelOf[hiddenID]("M"), "has no field that encodes as the JSON member \"id\""},
		{nango.ModelOf[objectID]("M"), "type nango_test.objectID: field ID is its \"id\", a struct { A int }: ids are strings or integers"},
	} {
		err := registerModel(tc.model)
		require.ErrorIs(t, err, nango.ErrInvalidConfig)
		require.ErrorContains(t, err, `sync "contacts": model "M": `)
		require.ErrorContains(t, err, tc.err)
	}
	for _, ok := range []nango.Model{
		nango.ModelOf[intID]("M"), nango.ModelOf[taggedBase]("M"), nango.ModelOf[map[string]any]("M"), {Name: "M"},
	} {
		require.NoError(t, registerModel(ok))
	}
}

// A record that does not fit its model's type names its id.
func TestRecordErrorOfTypedModelHasTheID(t *testing.T) {
	t.Parallel()
	eng, err := nango.NewEngine(memory.New(), &nango.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var got error
	require.NoError(t, eng.RegisterIntegration(nango.Integration{Key: "crm", Syncs: []nango.SyncConfig{{
		Name: "contacts", Models: []nango.Model{nango.ModelOf[intID]("M")},
		Sync: nango.SyncFunc(func(ctx context.Context, n *nango.Nango) error {
			got = n.BatchSave(ctx, []map[string]any{{"id": 1}, {"id": "x-7"}}, "M")
			return nil
		}),
	}}}))
	require.NoError(t, eng.AddConnection(t.Context(), nango.Connection{Integration: "crm", ID: "c"}))
	_, err = eng.RunSync(t.Context(), "crm", "contacts", "c", nil)
	require.NoError(t, err)
	var re *nango.RecordError
	require.ErrorAs(t, got, &re)
	require.Equal(t, 1, re.Index)
	require.Equal(t, "x-7", re.ID)
	require.ErrorContains(t, got, `invalid record at index 1 (id "x-7") of model "M": does not match type nango_test.intID`)
}
