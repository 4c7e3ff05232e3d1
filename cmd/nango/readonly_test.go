package main

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// TestReadOnlyRefusesEveryWrite calls every method of store.Store that store.Reader lacks on a
// read-only wrapper around no store at all: each must return errReadOnly without reaching the
// wrapped store (which would panic on the nil Reader).
func TestReadOnlyRefusesEveryWrite(t *testing.T) {
	t.Parallel()
	storeType := reflect.TypeFor[store.Store]()
	readerType := reflect.TypeFor[store.Reader]()
	errType := reflect.TypeFor[error]()
	ctxType := reflect.TypeFor[context.Context]()
	wrapper := reflect.ValueOf(store.Store(readOnly{}))
	var writes []string
	for i := range storeType.NumMethod() {
		m := storeType.Method(i)
		if _, ok := readerType.MethodByName(m.Name); ok {
			continue
		}
		writes = append(writes, m.Name)
		t.Run(m.Name, func(t *testing.T) {
			args := make([]reflect.Value, m.Type.NumIn())
			for i := range args {
				if in := m.Type.In(i); in == ctxType {
					args[i] = reflect.ValueOf(t.Context())
				} else {
					args[i] = reflect.Zero(in)
				}
			}
			out := call(t, wrapper.MethodByName(m.Name), args)
			last := out[len(out)-1]
			require.Equal(t, errType, last.Type(), "%s must return an error last", m.Name)
			err, _ := last.Interface().(error)
			require.ErrorIs(t, err, errReadOnly, "%s must be refused", m.Name)
		})
	}
	// Guards the test itself: the Store has writes, and Reader was not emptied of reads.
	require.GreaterOrEqual(t, len(writes), 20, "write methods found: %v", writes)
	require.GreaterOrEqual(t, readerType.NumMethod(), 15)
}

// call calls m and turns a panic (a write reaching the nil store) into a test failure.
func call(t *testing.T, m reflect.Value, args []reflect.Value) (out []reflect.Value) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("the call reached the wrapped store: %v", fmt.Sprint(r))
		}
	}()
	return m.Call(args)
}
