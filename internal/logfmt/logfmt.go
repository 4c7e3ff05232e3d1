// Package logfmt formats slog attributes as " key=value" text, the way the run history and the
// testing kit keep log lines. It imports only the standard library.
package logfmt

import (
	"fmt"
	"log/slog"
	"strings"
)

// WriteAttr appends " key=value" for a (groups flattened as "group.key"); an empty attribute
// writes nothing.
func WriteAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := a.Key
		if group != "" {
			g = group + "." + a.Key
		}
		for _, ga := range v.Group() {
			WriteAttr(b, g, ga)
		}
		return
	}
	b.WriteByte(' ')
	if group != "" {
		b.WriteString(group)
		b.WriteByte('.')
	}
	fmt.Fprintf(b, "%s=%v", a.Key, v.Any())
}
