package nango

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// failingRecord fails to encode when fail is set.
type failingRecord struct {
	ID   string `json:"id"`
	fail bool
}

func (r failingRecord) MarshalJSON() ([]byte, error) {
	if r.fail {
		return nil, errors.New("refused")
	}
	return fmt.Appendf(nil, `{"id":%q}`, r.ID), nil
}

// TestEncodeRecordsInParts encodes batches large enough to be split between goroutines: every
// record lands at its own index, and the error is the first bad record's, whichever part
// finishes first.
func TestEncodeRecordsInParts(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	require.Equal(t, 4, parallelEncoding(3000))
	m := Model{Name: "Contact"}
	recs := make([]failingRecord, 3000)
	for i := range recs {
		recs[i].ID = fmt.Sprintf("c-%d", i)
	}
	inputs, err := encodeRecords(m, store.WriteSave, recs)
	require.NoError(t, err)
	require.Len(t, inputs, len(recs))
	for i, in := range inputs {
		require.Equal(t, fmt.Sprintf(`{"id":"c-%d"}`, i), string(in.Data), "record %d", i)
	}

	// Bad records in the second and the last part: the second part's is reported.
	recs[2900].fail, recs[1200].fail, recs[1300].fail = true, true, true
	_, err = encodeRecords(m, store.WriteSave, recs)
	var re *RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 1200, re.Index)

	// A nil in the first part comes before them.
	ptrs := make([]*failingRecord, len(recs))
	for i := range recs {
		ptrs[i] = &recs[i]
	}
	ptrs[700] = nil
	_, err = encodeRecords(m, store.WriteSave, ptrs)
	require.ErrorAs(t, err, &re)
	require.Equal(t, 700, re.Index)
	require.Contains(t, re.Error(), "record is nil")

	// Small batches stay on the caller's goroutine.
	require.Equal(t, 1, parallelEncoding(parallelEncodeMin-1))
	runtime.GOMAXPROCS(1)
	require.Equal(t, 1, parallelEncoding(3000))
}

// panicking panics when encoded with boom set.
type panicking struct {
	ID   string `json:"id"`
	boom bool
}

func (p panicking) MarshalJSON() ([]byte, error) {
	if p.boom {
		panic("boom")
	}
	return fmt.Appendf(nil, `{"id":%q}`, p.ID), nil
}

// TestEncodeRecordsPanicsOnTheCaller: a MarshalJSON that panics on an encoding goroutine
// panics again on the caller's, as a *PanicError with the stack where it happened, so that
// the run recovers it; a bad record before it in the batch is reported instead, as when
// encoding in order.
func TestEncodeRecordsPanicsOnTheCaller(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	recs := make([]panicking, 2000)
	for i := range recs {
		recs[i].ID = fmt.Sprintf("c-%d", i)
	}
	recs[1700].boom = true
	encode := func(recs any) (v any, err error) {
		defer func() { v = recover() }()
		_, err = encodeRecords(Model{Name: "Contact"}, store.WriteSave, recs)
		return nil, err
	}
	v, err := encode(recs)
	require.NoError(t, err)
	pe, ok := v.(*PanicError)
	require.True(t, ok, "panic value %#v", v)
	require.Equal(t, "boom", pe.Value)
	require.Contains(t, string(pe.Stack), "MarshalJSON")

	ptrs := make([]any, len(recs))
	for i := range recs {
		ptrs[i] = recs[i]
	}
	ptrs[300] = nil
	v, err = encode(ptrs)
	require.Nil(t, v)
	var re *RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, 300, re.Index)
}
