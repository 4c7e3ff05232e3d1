package nango_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/gonango/nango"
	"github.com/gonango/nango/store"
	"github.com/gonango/nango/store/postgres"
	"github.com/stretchr/testify/require"
)

// extra is a field whose encoding fails when bad is set.
type extra struct{ bad bool }

func (e extra) MarshalJSON() ([]byte, error) {
	if e.bad {
		// An error that looks like the network's: it must fail the batch, not be retried.
		return nil, fmt.Errorf("extra refused: %w", io.ErrUnexpectedEOF)
	}
	return []byte(`"ok"`), nil
}

type lead struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Extra extra  `json:"extra"`
}

func leads(n int, name string) []lead {
	out := make([]lead, n)
	for i := range out {
		out[i] = lead{ID: fmt.Sprintf("l%04d", i), Name: name}
	}
	return out
}

// TestBatchSaveOfStructs: a batch of structs is encoded by the store while it starts on the ids
// read off them (store.RecordsWriteParams.Encode and IDHints). The results are those of a batch
// encoded beforehand: a bad record fails the batch with its index and writes nothing, and an id
// that its encoding changes (invalid UTF-8) is still found again.
func TestBatchSaveOfStructs(t *testing.T) {
	test := func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{Models: []nango.Model{nango.ModelOf[lead]("Lead")}}, nil)
		save := func(recs []lead) (*nango.RunResult, error) {
			return f.run(t, func(ctx context.Context, n *nango.Nango) error { return n.BatchSave(ctx, recs, "Lead") }, nil)
		}
		res, err := save(leads(600, "a"))
		require.NoError(t, err)
		require.Equal(t, nango.ModelResult{Added: 600}, res.Models["Lead"])

		recs := leads(700, "b")
		recs[650].Extra.bad, recs[320].Extra.bad = true, true
		res, err = save(recs)
		require.Error(t, err)
		require.Equal(t, nango.RunFailed, res.State)
		var re *nango.RecordError
		require.ErrorAs(t, err, &re)
		require.Equal(t, 320, re.Index)
		require.Contains(t, re.Error(), "extra refused")
		got := f.list(t, "Lead")
		require.Len(t, got, 600, "nothing written")
		require.JSONEq(t, `{"id":"l0599","name":"a","extra":"ok"}`, string(got[599].Data))

		recs = leads(700, "b")
		res, err = save(recs)
		require.NoError(t, err)
		require.Equal(t, nango.ModelResult{Added: 100, Updated: 600}, res.Models["Lead"])

		// encoding/json writes the invalid byte as U+FFFD: the stored id is not the field's.
		odd := []lead{{ID: "odd\xffid", Name: "c"}}
		res, err = save(odd)
		require.NoError(t, err)
		require.Equal(t, nango.ModelResult{Added: 1}, res.Models["Lead"])
		odd[0].Name = "d"
		res, err = save(odd)
		require.NoError(t, err)
		require.Equal(t, nango.ModelResult{Updated: 1}, res.Models["Lead"])
		got = f.list(t, "Lead")
		require.Len(t, got, 701)
		require.Equal(t, "odd\uFFFDid", got[700].ID)
	}
	stores(t, test)
	t.Run("postgres", func(t *testing.T) {
		url, schema := postgresSchema(t, "nango_test_encode")
		st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		test(t, st)
	})
}

// boomField panics when encoded with boom set.
type boomField struct{ boom bool }

func (b boomField) MarshalJSON() ([]byte, error) {
	if b.boom {
		panic("boom")
	}
	return []byte(`1`), nil
}

type boomLead struct {
	ID string    `json:"id"`
	F  boomField `json:"f"`
}

// TestBatchSavePanicFailsTheRun: a MarshalJSON that panics while a large batch is encoded on
// several goroutines fails the run with a *PanicError, as in a small batch; the process goes on.
func TestBatchSavePanicFailsTheRun(t *testing.T) {
	stores(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st, nango.SyncConfig{Models: []nango.Model{nango.ModelOf[boomLead]("Lead")}}, nil)
		for _, n := range []int{100, 2000} {
			recs := make([]boomLead, n)
			for i := range recs {
				recs[i].ID = fmt.Sprintf("l%d", i)
			}
			recs[n-1].F.boom = true
			res, err := f.run(t, func(ctx context.Context, nn *nango.Nango) error { return nn.BatchSave(ctx, recs, "Lead") }, nil)
			require.Equal(t, nango.RunFailed, res.State, "%d records", n)
			var pe *nango.PanicError
			require.ErrorAs(t, err, &pe, "%d records", n)
			require.Equal(t, "boom", pe.Value)
			require.Empty(t, f.list(t, "Lead"))
		}
	})
}
