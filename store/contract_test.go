package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gonango/nango/store"
	"github.com/stretchr/testify/require"
)

// TestReaderOnlyReads keeps write methods out of Reader: a read-only wrapper embeds a Reader
// and would pass such a method through to the store. Reads are named for what they return.
func TestReaderOnlyReads(t *testing.T) {
	t.Parallel()
	reads := []string{"Get", "List", "Stats", "LastSuccess", "Cursor"}
	var names []string
	readerType := reflect.TypeFor[store.Reader]()
	for i := range readerType.NumMethod() {
		m := readerType.Method(i)
		names = append(names, m.Name)
		if m.Name == "Close" {
			continue
		}
		ok := false
		for _, suffix := range reads {
			ok = ok || strings.HasSuffix(m.Name, suffix)
		}
		require.True(t, ok, "Reader.%s is not named as a read (%v)", m.Name, reads)
	}
	// Every role's read half is in Reader, and Store has every Reader method.
	storeType := reflect.TypeFor[store.Store]()
	for _, name := range names {
		_, ok := storeType.MethodByName(name)
		require.True(t, ok, name)
	}
	require.Len(t, names, 17, "Reader's methods: %v", names)
}
