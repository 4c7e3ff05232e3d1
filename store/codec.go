package store

// PayloadCodec seals record payloads before a store keeps them and hashes them for change
// detection. The nango package sets one on RecordsWriteParams when the engine has encryption
// keys; nil means payloads are kept as canonical JSON and hashed with Hash.
//
// A codec belongs to one stream: its additional data binds a sealed payload to the stream and
// to the record's id, so a sealed value copied to another record does not open. It must be safe
// for concurrent use.
type PayloadCodec interface {
	// Hash is the change-detection hash of a canonical payload. It should be keyed, so that the
	// stored hash tells nothing about the payload.
	Hash(canonical []byte) uint64
	// Seal returns the stored form of the canonical payload of the record with this id.
	Seal(id string, canonical []byte) ([]byte, error)
	// Open returns the canonical payload of a stored one. A payload stored in the clear, before
	// the stream had a codec, is returned as it is.
	Open(id string, stored []byte) ([]byte, error)
}

// hash is the change-detection hash of a canonical payload for this write.
func (pw *PreparedWrite) hash(canonical []byte) uint64 {
	if pw.Codec != nil {
		return pw.Codec.Hash(canonical)
	}
	return Hash(canonical)
}

// seal is the stored form of a canonical payload for this write.
func (pw *PreparedWrite) seal(rec PreparedRecord, canonical []byte) ([]byte, error) {
	if pw.Codec == nil {
		return canonical, nil
	}
	out, err := pw.Codec.Seal(rec.ID, canonical)
	if err != nil {
		return nil, &RecordError{Model: pw.Stream.Model, Index: rec.Index, ID: rec.ID, Reason: "sealing the payload: " + err.Error(), Err: err}
	}
	return out, nil
}

// open is the canonical payload of a stored one for this write.
func (pw *PreparedWrite) open(rec PreparedRecord, stored []byte) ([]byte, error) {
	if pw.Codec == nil {
		return stored, nil
	}
	out, err := pw.Codec.Open(rec.ID, stored)
	if err != nil {
		return nil, &RecordError{Model: pw.Stream.Model, Index: rec.Index, ID: rec.ID, Reason: "opening the stored payload: " + err.Error(), Err: err}
	}
	return out, nil
}

// plainHeld reports whether held is, by its hash, the payload canonical stored in the clear
// before the stream had a codec (its hash is then Hash, not the codec's).
func (pw *PreparedWrite) plainHeld(held Held, canonical []byte) bool {
	return pw.Codec != nil && held.Hash == Hash(canonical)
}
