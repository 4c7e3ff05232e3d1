package bolt

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/gonango/nango/store"
)

// CorruptError reports a store file that is damaged: cut short, a page that does not check out,
// or an entry that does not decode. It matches store.ErrCorrupt, and ErrNotStore when Open
// returns it.
type CorruptError struct {
	// Path is the store file.
	Path string
	// Where names the damaged part: a page, a bucket, an entry.
	Where string
	// Problem says what is wrong with it.
	Problem string
	atOpen  bool
}

// Error implements error.
func (e *CorruptError) Error() string {
	where := ""
	if e.Where != "" {
		where = e.Where + ": "
	}
	return fmt.Sprintf("bolt: %s is damaged: %s%s; restore it from a backup", e.Path, where, e.Problem)
}

// Is makes errors.Is(err, store.ErrCorrupt) true, and errors.Is(err, ErrNotStore) for an error
// of Open.
func (e *CorruptError) Is(target error) bool {
	return target == store.ErrCorrupt || (e.atOpen && target == ErrNotStore)
}

// Damage is a damaged entry that a listing skipped, or a read that failed on a bad page.
type Damage struct {
	// Where names the entry: a bucket and key.
	Where string
	// Problem says what is wrong with it.
	Problem string
}

// maxDamage bounds the damage a store remembers.
const maxDamage = 100

// damageLog keeps the first damage a store met.
type damageLog struct {
	mu      sync.Mutex
	entries []Damage
	dropped int
}

func (d *damageLog) add(dm Damage) (first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.entries {
		if e == dm {
			return false
		}
	}
	if len(d.entries) >= maxDamage {
		d.dropped++
		return false
	}
	d.entries = append(d.entries, dm)
	return true
}

// Damage returns the damaged entries this store skipped or failed on since it was opened (up to
// 100), each once. Empty means none was met; it does not mean the file was checked entry by
// entry.
func (s *Store) Damage() []Damage {
	s.damage.mu.Lock()
	defer s.damage.mu.Unlock()
	return append([]Damage(nil), s.damage.entries...)
}

func (s *Store) noteDamage(e *CorruptError) {
	if s.damage.add(Damage{Where: e.Where, Problem: e.Problem}) {
		s.logger.Error("bolt: damaged store file", "path", e.Path, "where", e.Where, "problem", e.Problem)
	}
}

// skip records a damaged entry that a listing leaves out.
func (s *Store) skip(where string, err error) {
	problem := problemOf(err)
	if s.damage.add(Damage{Where: where, Problem: problem}) {
		s.logger.Warn("bolt: skipping a damaged entry", "path", s.path, "where", where, "problem", problem)
	}
}

// guard runs fn, one transaction, so that a fault on the mapped file (a page beyond the end of a
// file cut while open: SIGBUS) or a panic on a bad page becomes a *CorruptError instead of killing
// the process; bbolt rolls the transaction back before the panic reaches here. A *CorruptError,
// returned or raised, gets the file's path and is recorded.
func (s *Store) guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			ce, ok := r.(*CorruptError)
			if !ok {
				ce = &CorruptError{Where: whereRecovered, Problem: fmt.Sprintf("reading the file failed: %v", r)}
				if f, ok := r.(interface{ Addr() uintptr }); ok {
					ce.Problem = fmt.Sprintf("a page of the mapped file could not be read (fault at %#x): the file was cut short while open", f.Addr())
				}
				s.logger.Debug("bolt: recovered from a panic in a transaction", "path", s.path, "stack", string(debug.Stack()))
			}
			err = ce
		}
		var ce *CorruptError
		if errors.As(err, &ce) {
			if ce.Path == "" {
				ce.Path = s.path
			}
			s.noteDamage(ce)
		}
	}()
	return fn()
}

// whereRecovered is the Where of a *CorruptError made from a panic: a read that no check
// caught.
const whereRecovered = "a transaction"
