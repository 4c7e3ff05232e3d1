package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// Before bbolt maps a file, verifyFile reads it with plain reads and checks what bbolt would
// otherwise trust: both meta pages (magic, version, checksum), that the file reaches the
// high-water mark the newest valid meta names, and every page reachable from it (in bounds,
// referenced once, of the right type, its elements inside the page, its keys in order). bbolt
// walks the same pages when it opens a file for writing, in a goroutine whose panic no caller can
// recover, and touching a page beyond the end of a file cut short kills the process (SIGBUS).
//
// The layout read here is bbolt's, version 2, in the machine's byte order:
//
//	page header   id(8) flags(2) count(2) overflow(4)
//	meta          magic(4) version(4) page size(4) flags(4) root(8) sequence(8) freelist(8)
//	              high-water mark(8) txid(8) checksum(8, FNV-1a of the 56 bytes before)
//	branch elem   pos(4) key size(4) child page(8), the key pos bytes after the element
//	leaf elem     flags(4) pos(4) key size(4) value size(4), key then value pos bytes after
//	bucket value  root page(8) sequence(8), then the page itself when root is 0 (inline)
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16
	elemSize        = 16
	metaLen         = 64
	metaSumLen      = 56
	bucketValueSize = 16
	noFreelist      = ^uint64(0)

	pageBranch   = 0x01
	pageLeaf     = 0x02
	pageMeta     = 0x04
	pageFreelist = 0x10
	leafBucket   = 0x01

	// Bounds on what a valid file holds, so that a crafted one cannot recurse without end.
	maxTreeDepth   = 64
	maxBucketDepth = 32
	minPageSize    = 1024
	maxPageSize    = 1 << 24
)

var native = binary.NativeEndian

type metaPage struct {
	magic, version, pageSize       uint32
	root, freelist, hwm, txid, sum uint64
}

func decodeMeta(b []byte) (metaPage, error) {
	if len(b) < pageHeaderSize+metaLen {
		return metaPage{}, errors.New("cut short")
	}
	m := b[pageHeaderSize : pageHeaderSize+metaLen]
	mp := metaPage{
		magic: native.Uint32(m[0:]), version: native.Uint32(m[4:]), pageSize: native.Uint32(m[8:]),
		root: native.Uint64(m[16:]), freelist: native.Uint64(m[32:]), hwm: native.Uint64(m[40:]),
		txid: native.Uint64(m[48:]), sum: native.Uint64(m[56:]),
	}
	switch {
	case mp.magic != boltMagic:
		return mp, errors.New("no bbolt magic number")
	case mp.version != boltVersion:
		return mp, fmt.Errorf("bbolt format version %d, this build reads %d", mp.version, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if h.Sum64() != mp.sum {
		return mp, errors.New("checksum mismatch")
	}
	if mp.pageSize < minPageSize || mp.pageSize > maxPageSize {
		return mp, fmt.Errorf("page size %d out of range", mp.pageSize)
	}
	return mp, nil
}

// verifier walks the pages of one file.
type verifier struct {
	r        io.ReaderAt
	size     int64
	pageSize uint64
	hwm      uint64
	seen     []uint64 // bit per page below hwm
	free     [][]byte // page buffers to reuse
	pages    int
}

// verifyFile checks the store file f of size bytes. It returns nil for an empty file (bbolt
// initialises it), an error matching ErrNotStore for a file that is not bbolt's, and a
// *CorruptError for a damaged one.
func verifyFile(r io.ReaderAt, size int64, path string) error {
	if size == 0 {
		return nil
	}
	corrupt := func(where, format string, args ...any) error {
		return &CorruptError{Path: path, Where: where, Problem: fmt.Sprintf(format, args...), atOpen: true}
	}
	head := make([]byte, min(size, 4096))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bolt: reading %s: %w", path, err)
	}
	m0, err0 := decodeMeta(head)
	pageSize := uint64(m0.pageSize)
	var m1 metaPage
	err1 := errors.New("not found")
	if err0 == nil {
		if int64(2*pageSize) > size {
			return corrupt("", "the file is %d bytes, shorter than its two meta pages of %d bytes", size, pageSize)
		}
		buf := make([]byte, pageHeaderSize+metaLen)
		if _, err := r.ReadAt(buf, int64(pageSize)); err != nil {
			return fmt.Errorf("bolt: reading %s: %w", path, err)
		}
		m1, err1 = decodeMeta(buf)
	} else {
		// Without a valid first meta, look for the second at each page size bbolt allows.
		for ps := uint64(minPageSize); ps <= maxPageSize && int64(ps)+pageHeaderSize+metaLen <= size; ps *= 2 {
			buf := make([]byte, pageHeaderSize+metaLen)
			if _, err := r.ReadAt(buf, int64(ps)); err != nil {
				break
			}
			if m, err := decodeMeta(buf); err == nil && uint64(m.pageSize) == ps {
				m1, err1, pageSize = m, nil, ps
				break
			}
		}
	}
	if err0 != nil && err1 != nil {
		if m0.magic != boltMagic {
			return fmt.Errorf("%w: %s is not a bbolt file (%v)", ErrNotStore, path, err0)
		}
		if m0.version != boltVersion {
			return fmt.Errorf("%w: %s: %v", ErrNotStore, path, err0)
		}
		return corrupt("meta pages", "both are invalid (page 0: %v; page 1: %v)", err0, err1)
	}
	// bbolt uses the valid meta with the higher transaction id; the other one may be a write
	// that a crash cut short, which bbolt's next commit replaces.
	m := m0
	if err0 != nil || (err1 == nil && m1.txid > m0.txid) {
		m = m1
	}
	if uint64(m.pageSize) != pageSize {
		return corrupt("meta pages", "page size %d, but the meta page sits at offset %d", m.pageSize, pageSize)
	}
	v := &verifier{r: r, size: size, pageSize: pageSize, hwm: m.hwm}
	if m.hwm < 3 || m.hwm > uint64(size)/pageSize {
		return corrupt("", "the file is %d bytes (%d pages of %d bytes) but its meta page counts %d pages: it was cut short",
			size, uint64(size)/pageSize, pageSize, m.hwm)
	}
	if m.root < 2 || m.root >= m.hwm {
		return corrupt("meta page", "root page %d outside the file's %d pages", m.root, m.hwm)
	}
	if m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm) {
		return corrupt("meta page", "freelist page %d outside the file's %d pages", m.freelist, m.hwm)
	}
	v.seen = make([]uint64, (m.hwm+63)/64)
	if err := v.tree(m.root, nil, nil, 0, 0, 0); err != nil {
		return corrupt(err.(*pageError).where, "%s", err.(*pageError).problem)
	}
	if m.freelist != noFreelist {
		if err := v.freelist(m.freelist); err != nil {
			return corrupt(err.(*pageError).where, "%s", err.(*pageError).problem)
		}
	}
	return nil
}

// pageError is what the walk finds wrong, before verifyFile names the file.
type pageError struct{ where, problem string }

func (e *pageError) Error() string { return e.where + ": " + e.problem }

func pageErr(id uint64, format string, args ...any) error {
	return &pageError{where: fmt.Sprintf("page %d", id), problem: fmt.Sprintf(format, args...)}
}

// read returns page id with its overflow pages, marking them seen; from is the page that refers
// to it (0 for the meta page).
func (v *verifier) read(id, from uint64) ([]byte, error) {
	if id < 2 || id >= v.hwm {
		return nil, &pageError{where: refName(from), problem: fmt.Sprintf("refers to page %d, outside the file's %d pages", id, v.hwm)}
	}
	buf := v.buffer(v.pageSize)
	if _, err := v.r.ReadAt(buf, int64(id*v.pageSize)); err != nil {
		return nil, pageErr(id, "cannot be read: %v", err)
	}
	overflow := uint64(native.Uint32(buf[12:]))
	if got := native.Uint64(buf[0:]); got != id {
		return nil, pageErr(id, "identifies itself as page %d", got)
	}
	if id+overflow >= v.hwm {
		return nil, pageErr(id, "runs %d pages past its start, beyond the file's %d pages", overflow, v.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if v.seen[p/64]&(1<<(p%64)) != 0 {
			return nil, pageErr(p, "is referenced twice (again from %s)", refName(from))
		}
		v.seen[p/64] |= 1 << (p % 64)
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, overflow*v.pageSize)...)
		if _, err := v.r.ReadAt(buf[v.pageSize:], int64((id+1)*v.pageSize)); err != nil {
			return nil, pageErr(id, "cannot be read: %v", err)
		}
	}
	v.pages++
	return buf, nil
}

// buffer returns a buffer of n bytes, reusing those of pages whose walk is over.
func (v *verifier) buffer(n uint64) []byte {
	if k := len(v.free); k > 0 {
		b := v.free[k-1]
		v.free = v.free[:k-1]
		return b[:n]
	}
	return make([]byte, n)
}

func (v *verifier) release(b []byte) {
	if uint64(cap(b)) == v.pageSize {
		v.free = append(v.free, b)
	}
}

func refName(from uint64) string {
	if from == 0 {
		return "meta page"
	}
	return fmt.Sprintf("page %d", from)
}

// tree checks the pages of one bucket from page id down, its keys within [lo, hi).
func (v *verifier) tree(id uint64, lo, hi []byte, depth, nesting int, from uint64) error {
	if depth > maxTreeDepth {
		return pageErr(id, "the tree is deeper than %d levels", maxTreeDepth)
	}
	buf, err := v.read(id, from)
	if err != nil {
		return err
	}
	defer v.release(buf)
	flags := native.Uint16(buf[8:])
	switch flags {
	case pageLeaf:
		return v.leaf(buf, id, lo, hi, nesting)
	case pageBranch:
	default:
		return pageErr(id, "is of type %#x, expected a branch or leaf page", flags)
	}
	count := int(native.Uint16(buf[10:]))
	if count == 0 {
		return pageErr(id, "is a branch page without elements")
	}
	keys, err := elements(buf, count, false)
	if err != nil {
		return pageErr(id, "%v", err)
	}
	if err := ordered(keys, lo, hi); err != nil {
		return pageErr(id, "%v", err)
	}
	for i, k := range keys {
		next := hi
		if i+1 < len(keys) {
			next = keys[i+1]
		}
		off := pageHeaderSize + i*elemSize
		child := native.Uint64(buf[off+8:])
		if err := v.tree(child, k, next, depth+1, nesting, id); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks a leaf page (or an inline bucket's page) and the buckets it holds.
func (v *verifier) leaf(buf []byte, id uint64, lo, hi []byte, nesting int) error {
	count := int(native.Uint16(buf[10:]))
	keys, err := elements(buf, count, true)
	if err != nil {
		return pageErr(id, "%v", err)
	}
	if err := ordered(keys, lo, hi); err != nil {
		return pageErr(id, "%v", err)
	}
	for i := range count {
		off := pageHeaderSize + i*elemSize
		if native.Uint32(buf[off:])&leafBucket == 0 {
			continue
		}
		pos, ks, vs := native.Uint32(buf[off+4:]), native.Uint32(buf[off+8:]), native.Uint32(buf[off+12:])
		val := buf[off+int(pos)+int(ks) : off+int(pos)+int(ks)+int(vs)]
		if err := v.bucket(val, id, keys[i], nesting+1); err != nil {
			return err
		}
	}
	return nil
}

// bucket checks a nested bucket from its value in the parent.
func (v *verifier) bucket(val []byte, parent uint64, name []byte, nesting int) error {
	where := func() string { return fmt.Sprintf("bucket %q in page %d", truncate(name, 64), parent) }
	if nesting > maxBucketDepth {
		return &pageError{where: where(), problem: fmt.Sprintf("buckets nest deeper than %d", maxBucketDepth)}
	}
	if len(val) < bucketValueSize {
		return &pageError{where: where(), problem: fmt.Sprintf("bucket header of %d bytes, expected %d", len(val), bucketValueSize)}
	}
	root := native.Uint64(val)
	if root != 0 {
		return v.tree(root, nil, nil, 0, nesting, parent)
	}
	inline := val[bucketValueSize:]
	if len(inline) < pageHeaderSize {
		return &pageError{where: where(), problem: "inline bucket without a page header"}
	}
	if flags := native.Uint16(inline[8:]); flags != pageLeaf {
		return &pageError{where: where(), problem: fmt.Sprintf("inline bucket page of type %#x, expected a leaf page", flags)}
	}
	// An inline page is part of its parent's value: the value's end is the page's end.
	return v.leaf(inline, parent, nil, nil, nesting)
}

// elements returns the keys of a page's count elements, checking that each element, key and
// value lies inside buf.
func elements(buf []byte, count int, leaf bool) ([][]byte, error) {
	if pageHeaderSize+count*elemSize > len(buf) {
		return nil, fmt.Errorf("%d elements do not fit in %d bytes", count, len(buf))
	}
	keys := make([][]byte, count)
	for i := range count {
		off := pageHeaderSize + i*elemSize
		var pos, ks, vs uint64
		if leaf {
			pos, ks, vs = uint64(native.Uint32(buf[off+4:])), uint64(native.Uint32(buf[off+8:])), uint64(native.Uint32(buf[off+12:]))
		} else {
			pos, ks = uint64(native.Uint32(buf[off:])), uint64(native.Uint32(buf[off+4:]))
		}
		if end := uint64(off) + pos + ks + vs; end > uint64(len(buf)) {
			return nil, fmt.Errorf("element %d ends at byte %d, past the page's %d", i, end, len(buf))
		}
		if ks == 0 {
			return nil, fmt.Errorf("element %d has an empty key", i)
		}
		keys[i] = buf[uint64(off)+pos : uint64(off)+pos+ks]
	}
	return keys, nil
}

// ordered checks that keys increase strictly and lie within [lo, hi).
func ordered(keys [][]byte, lo, hi []byte) error {
	for i, k := range keys {
		switch {
		case i == 0 && lo != nil && bytes.Compare(k, lo) < 0:
			return fmt.Errorf("key %d sorts before its parent's", i)
		case i > 0 && bytes.Compare(keys[i-1], k) >= 0:
			return fmt.Errorf("key %d does not sort after key %d", i, i-1)
		case hi != nil && bytes.Compare(k, hi) >= 0:
			return fmt.Errorf("key %d sorts at or after the next key of its parent", i)
		}
	}
	return nil
}

// freelist checks a freelist page: in bounds, and no page both free and in use.
func (v *verifier) freelist(id uint64) error {
	buf, err := v.read(id, 0)
	if err != nil {
		return err
	}
	if flags := native.Uint16(buf[8:]); flags != pageFreelist {
		return pageErr(id, "is of type %#x, expected the freelist", flags)
	}
	start, count := pageHeaderSize, uint64(native.Uint16(buf[10:]))
	if count == 0xFFFF {
		if len(buf) < pageHeaderSize+8 {
			return pageErr(id, "freelist count cut short")
		}
		count = native.Uint64(buf[pageHeaderSize:])
		start += 8
	}
	if count > uint64(len(buf)-start)/8 {
		return pageErr(id, "freelist of %d ids does not fit in %d bytes", count, len(buf))
	}
	for i := range count {
		p := native.Uint64(buf[start+int(i)*8:])
		if p < 2 || p >= v.hwm {
			return pageErr(id, "frees page %d, outside the file's %d pages", p, v.hwm)
		}
		if v.seen[p/64]&(1<<(p%64)) != 0 {
			return pageErr(id, "frees page %d, which is in use", p)
		}
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// verifyPath opens path and verifies it; a missing file is fine (Open creates it).
func verifyPath(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	return verifyFile(f, fi.Size(), path)
}
