package nango

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gonango/nango/internal/logfmt"
)

// runLog keeps the newest lines a run logged, for its history.
type runLog struct {
	mu      sync.Mutex
	max     int
	buf     []string
	dropped int
}

func newRunLog(max int) *runLog { return &runLog{max: max} }

func (l *runLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) >= l.max {
		copy(l.buf, l.buf[1:])
		l.buf = l.buf[:len(l.buf)-1]
		l.dropped++
	}
	l.buf = append(l.buf, line)
}

func (l *runLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.buf)+1)
	if l.dropped > 0 {
		out = append(out, fmt.Sprintf("(%d earlier lines dropped)", l.dropped))
	}
	return append(out, l.buf...)
}

// teeHandler passes records to the user's handler and keeps a line of each in the run log,
// whatever the user's handler's level.
type teeHandler struct {
	next  slog.Handler
	log   *runLog
	group string
}

func newTeeLogger(l *slog.Logger, log *runLog) *slog.Logger {
	return slog.New(&teeHandler{next: l.Handler(), log: log})
}

func (h *teeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.next.Enabled(ctx, level)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		var b strings.Builder
		b.WriteString(r.Time.UTC().Format(time.RFC3339Nano))
		b.WriteByte(' ')
		b.WriteString(r.Level.String())
		b.WriteByte(' ')
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			logfmt.WriteAttr(&b, h.group, a)
			return true
		})
		h.log.add(b.String())
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	// Run-scoped attributes (integration, sync, ...) are already in the run's history; only the
	// user's handler gets them.
	return &teeHandler{next: h.next.WithAttrs(attrs), log: h.log, group: h.group}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &teeHandler{next: h.next.WithGroup(name), log: h.log, group: g}
}
