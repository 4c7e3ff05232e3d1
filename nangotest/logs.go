package nangotest

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/gonango/nango/internal/logfmt"
)

// logSink keeps the engine's log lines (info and above) for the results, without times, so that
// tests can compare them.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) add(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
}

func (s *logSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

func (s *logSink) since(i int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines[i:]...)
}

// sinkHandler formats records as "INFO message key=value ...". The attributes every line of a
// run carries (integration, sync, connection_id, run_id) are left out.
type sinkHandler struct {
	sink  *logSink
	group string
	attrs string // formatted attributes added with WithAttrs
}

var runAttrs = map[string]bool{"integration": true, "sync": true, "connection_id": true, "run_id": true}

func (h *sinkHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		logfmt.WriteAttr(&b, h.group, a)
		return true
	})
	h.sink.add(b.String())
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		if h.group == "" && runAttrs[a.Key] {
			continue
		}
		logfmt.WriteAttr(&b, h.group, a)
	}
	return &sinkHandler{sink: h.sink, group: h.group, attrs: b.String()}
}

func (h *sinkHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &sinkHandler{sink: h.sink, group: g, attrs: h.attrs}
}
