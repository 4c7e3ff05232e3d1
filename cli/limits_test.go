package cli_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRecordsIDsBounded: -ids with a million commas is refused before it is split, with a short
// message; repeated ids count once.
func TestRecordsIDsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api.set(contact{"1", "Ada"}, contact{"2", "Bob"})
	f.h.Run()
	_, errOut, code := f.run(t, false, append([]string{"records"}, args("-model", "Contact", "-ids", strings.Repeat(",", 1_000_000))...)...)
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "-ids: 1000001 ids, more than 100")
	require.Less(t, len(errOut), 4096)

	out, errOut, code := f.run(t, false, append([]string{"records"}, args("-model", "Contact", "-ids", strings.Repeat("1,", 50)+"2")...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "2 records")
}
