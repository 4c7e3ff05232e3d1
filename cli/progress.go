package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress draws one status line on a terminal, redrawn in place at most every tenth of a
// second, with the time elapsed.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time

	mu    sync.Mutex
	drawn time.Time
	dirty bool
}

func (e *env) newProgress() *progress {
	on := false
	switch e.prog {
	case ProgressOn:
		on = true
	case ProgressAuto:
		on = isTerminal(e.stderr)
	}
	return &progress{w: e.stderr, on: on, start: time.Now()}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

const progressEvery = 100 * time.Millisecond

// show redraws the line, unless it was drawn less than progressEvery ago.
func (p *progress) show(format string, args ...any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.dirty && now.Sub(p.drawn) < progressEvery {
		return
	}
	p.drawn, p.dirty = now, true
	line := fmt.Sprintf("%s %s", now.Sub(p.start).Round(100*time.Millisecond), fmt.Sprintf(format, args...))
	fmt.Fprintf(p.w, "\r\x1b[K%s", clip(line, 160))
}

// clear erases the line before the command prints its result.
func (p *progress) clear() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dirty {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.dirty = false
	}
}
