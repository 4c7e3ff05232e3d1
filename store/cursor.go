package store

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Cursors are opaque to users. Inside, version 1 holds the position of a change in its stream's
// feed (a sequence number that grows in commit order), a tag of the stream it belongs to, the
// epoch of the stream (it changes when the stream is emptied), and a checksum, all base64url
// without padding:
//
//	version(1) | seq(8) | stream tag(4) | epoch(4) | checksum(4)
const (
	cursorVersion = 1
	cursorLen     = 1 + 8 + 4 + 4 + 4
)

// streamTag identifies a stream inside its cursors.
func streamTag(s Stream) uint32 {
	d := xxhash.New()
	_, _ = d.WriteString(s.Integration)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(s.Connection)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(s.Model)
	return uint32(d.Sum64())
}

func cursorChecksum(b []byte) uint32 {
	return uint32(xxhash.Sum64(b) >> 17)
}

// CursorCodec encodes and decodes the cursors of one stream. Implementations build one per
// listing or write with NewCursorCodec.
type CursorCodec struct {
	stream Stream
	tag    uint32
}

// NewCursorCodec returns the codec of a stream's cursors.
func NewCursorCodec(s Stream) CursorCodec {
	return CursorCodec{stream: s, tag: streamTag(s)}
}

// Encode returns the cursor of position seq in the stream at epoch.
func (c CursorCodec) Encode(seq uint64, epoch uint32) string {
	var b [cursorLen]byte
	b[0] = cursorVersion
	binary.BigEndian.PutUint64(b[1:9], seq)
	binary.BigEndian.PutUint32(b[9:13], c.tag)
	binary.BigEndian.PutUint32(b[13:17], epoch)
	binary.BigEndian.PutUint32(b[17:21], cursorChecksum(b[:17]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Decode returns the position and epoch in a cursor of this stream. It returns a *CursorError
// when the cursor is malformed, corrupt, or from another stream. The checksum is not keyed: it
// catches damage and typing mistakes, not a forged cursor.
func (c CursorCodec) Decode(cursor string) (seq uint64, epoch uint32, err error) {
	bad := func(reason string) error { return &CursorError{Cursor: cursor, Reason: reason} }
	if len(cursor) > 2*cursorLen {
		return 0, 0, bad("too long to be a cursor")
	}
	// The decoder would skip line breaks; a cursor has only base64url characters.
	for i := 0; i < len(cursor); i++ {
		if c := cursor[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return 0, 0, bad("not a cursor this store issued (bad character)")
		}
	}
	b, derr := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if derr != nil {
		return 0, 0, bad("not a cursor this store issued (bad encoding)")
	}
	if len(b) == 0 || b[0] != cursorVersion {
		return 0, 0, bad("unknown cursor version")
	}
	if len(b) != cursorLen {
		return 0, 0, bad("wrong length")
	}
	if binary.BigEndian.Uint32(b[17:21]) != cursorChecksum(b[:17]) {
		return 0, 0, bad("checksum mismatch: the cursor is corrupt or not issued by this store")
	}
	if binary.BigEndian.Uint32(b[9:13]) != c.tag {
		return 0, 0, bad(fmt.Sprintf("it belongs to another stream, not %s", c.stream))
	}
	return binary.BigEndian.Uint64(b[1:9]), binary.BigEndian.Uint32(b[13:17]), nil
}
