package nango

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gonango/nango/store"
)

// Encryption at rest. With Config.EncryptionKeys, connection credentials and checkpoints are
// sealed with AES-256-GCM before they reach the store, whichever store it is:
//
//	"\x00NE1" (4) key id (8) nonce (12) ciphertext and tag
//
// The key id is the first 8 bytes of HMAC-SHA256(key, "nango encryption key id"), so a value
// names the key that sealed it and keys rotate: the first key seals, every key opens. The
// additional data binds a value to its connection, so a sealed value copied to another
// connection does not open. A value without the prefix is plaintext JSON, stored before a key
// was configured; it is read as it is and sealed at the next write (or by
// Engine.ReencryptCredentials).

// EncryptionKeySize is the size of a key of Config.EncryptionKeys: AES-256.
const EncryptionKeySize = 32

var sealedMagic = []byte("\x00NE1")

const (
	keyIDLen    = 8
	nonceLen    = 12
	sealedStart = 4 + keyIDLen + nonceLen
)

// sealer seals and opens values with the engine's keys; without keys it passes them through.
type sealer struct {
	keys []sealKey // keys[0] seals
}

type sealKey struct {
	id   []byte
	aead cipher.AEAD
}

func newSealer(keys [][]byte) (*sealer, error) {
	s := &sealer{}
	for i, k := range keys {
		if len(k) != EncryptionKeySize {
			return nil, configError("encryption key %d is %d bytes, want %d (AES-256)", i, len(k), EncryptionKeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, configError("encryption key %d: %v", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, configError("encryption key %d: %v", i, err)
		}
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte("nango encryption key id"))
		id := mac.Sum(nil)[:keyIDLen]
		for j, o := range s.keys {
			if bytes.Equal(o.id, id) {
				return nil, configError("encryption keys %d and %d are the same key", j, i)
			}
		}
		s.keys = append(s.keys, sealKey{id: id, aead: aead})
	}
	return s, nil
}

func (s *sealer) enabled() bool { return len(s.keys) > 0 }

// sealed reports whether v is a sealed value (rather than plaintext).
func sealed(v []byte) bool { return bytes.HasPrefix(v, sealedMagic) }

// seal encrypts plain with the first key, or returns it as it is without keys.
func (s *sealer) seal(plain, aad []byte) ([]byte, error) {
	if !s.enabled() {
		return plain, nil
	}
	k := s.keys[0]
	out := make([]byte, sealedStart, sealedStart+len(plain)+k.aead.Overhead())
	copy(out, sealedMagic)
	copy(out[4:], k.id)
	if _, err := rand.Read(out[4+keyIDLen : sealedStart]); err != nil {
		return nil, fmt.Errorf("nango: encrypting: %w", err)
	}
	return k.aead.Seal(out, out[4+keyIDLen:sealedStart], plain, aad), nil
}

// open decrypts a sealed value with the key it names; plaintext passes as it is.
func (s *sealer) open(v, aad []byte) ([]byte, error) {
	if !sealed(v) {
		return v, nil
	}
	if len(v) < sealedStart {
		return nil, errors.New("nango: an encrypted value is cut short")
	}
	id := v[4 : 4+keyIDLen]
	for _, k := range s.keys {
		if bytes.Equal(k.id, id) {
			plain, err := k.aead.Open(nil, v[4+keyIDLen:sealedStart], v[sealedStart:], aad)
			if err != nil {
				return nil, errors.New("nango: an encrypted value does not decrypt: it is damaged or belongs to another connection")
			}
			return plain, nil
		}
	}
	if !s.enabled() {
		return nil, fmt.Errorf("%w (key id %s)", ErrNoEncryptionKey, hex.EncodeToString(id))
	}
	return nil, fmt.Errorf("%w (key id %s)", ErrUnknownEncryptionKey, hex.EncodeToString(id))
}

// knows reports whether the sealed value v names one of the sealer's keys.
func (s *sealer) knows(v []byte) bool {
	for _, k := range s.keys {
		if bytes.Equal(k.id, v[4:4+keyIDLen]) {
			return true
		}
	}
	return false
}

// sealedWithFirst reports whether v is sealed with the key that seals now.
func (s *sealer) sealedWithFirst(v []byte) bool {
	return !s.enabled() || (sealed(v) && len(v) >= sealedStart && bytes.Equal(v[4:4+keyIDLen], s.keys[0].id))
}

func credentialsAAD(integration, connection string) []byte {
	return []byte("credentials\x00" + integration + "\x00" + connection)
}

// sealCredentials encodes c for the store, encrypted when the engine has keys.
func (e *Engine) sealCredentials(integration, connection string, c Credentials) ([]byte, error) {
	data, err := encodeCredentials(c)
	if err != nil {
		return nil, err
	}
	return e.sealer.seal(data, credentialsAAD(integration, connection))
}

// openCredentials decodes credentials read from the store.
func (e *Engine) openCredentials(integration, connection string, data []byte) (Credentials, error) {
	plain, err := e.sealer.open(data, credentialsAAD(integration, connection))
	if err != nil {
		return Credentials{}, err
	}
	return decodeCredentials(plain)
}

// warnUnencrypted logs once, when the engine starts, that credentials are stored in the clear
// if the engine has no keys and an integration takes credentials.
func (e *Engine) warnUnencrypted() {
	if e.sealer.enabled() {
		return
	}
	e.mu.RLock()
	withAuth := false
	for _, in := range e.integrations {
		withAuth = withAuth || in.Auth != nil
	}
	e.mu.RUnlock()
	if withAuth {
		e.unencryptedOnce.Do(func() {
			e.logger.Warn("connection credentials are stored unencrypted: set Config.EncryptionKeys to encrypt them")
		})
	}
}

// ReencryptCredentials seals with the first of Config.EncryptionKeys the stored credentials
// and connection data keys (in Config.DataKeyStore too) that are in the clear or sealed with
// another key, after a key was added or rotated; with a DataKeyStore, it also moves there the
// data keys still kept in the engine's store. Record payloads and checkpoints are sealed with
// the connections' data keys, which this re-wraps, so they stay as they are. Once it has run
// without error, older keys can be removed (but see ReencryptRecords for payloads stored
// before any key was set, and keep the old key until every sync has saved a checkpoint if
// checkpoints were sealed before data keys existed). It returns how many connections and data
// keys it rewrote or moved; those it cannot open are left as they are and reported in the
// error (at most maxReencryptErrors of them), without stopping the others. Without keys it
// does nothing. It rewrites each connection whole: run it while no run refreshes a token
// (before Engine.Run, or with the scheduler paused).
func (e *Engine) ReencryptCredentials(ctx context.Context) (int, error) {
	if !e.sealer.enabled() {
		return 0, nil
	}
	conns, err := e.store.ConnectionList(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("nango: re-encrypting credentials: %w", err)
	}
	current := func(c *store.Connection) bool {
		return (len(c.Credentials) == 0 || e.sealer.sealedWithFirst(c.Credentials)) &&
			(!wrappedHere(c.DataKey) || e.sealer.sealedWithFirst(c.DataKey))
	}
	n, failed := 0, 0
	var errs []error
	for _, sc := range conns {
		if current(sc) {
			continue
		}
		aad := credentialsAAD(sc.Integration, sc.ID)
		dkAAD := dataKeyAAD(sc.Integration, sc.ID)
		// Read, re-sealed and written in one step: a token refreshed meanwhile is what gets
		// re-sealed, never overwritten with the listed copy.
		_, err := e.store.ConnectionUpdate(ctx, sc.Integration, sc.ID, func(c *store.Connection) error {
			if current(c) {
				return nil
			}
			if len(c.Credentials) > 0 && !e.sealer.sealedWithFirst(c.Credentials) {
				plain, err := e.sealer.open(c.Credentials, aad)
				if err != nil {
					return err
				}
				if c.Credentials, err = e.sealer.seal(plain, aad); err != nil {
					return err
				}
			}
			if wrappedHere(c.DataKey) && !e.sealer.sealedWithFirst(c.DataKey) {
				if !sealed(c.DataKey) {
					return errors.New("its data key is stored unwrapped")
				}
				key, err := e.sealer.open(c.DataKey, dkAAD)
				if err != nil {
					return fmt.Errorf("its data key: %w", err)
				}
				if c.DataKey, err = e.sealer.seal(key, dkAAD); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			if failed++; failed <= maxReencryptErrors {
				errs = append(errs, fmt.Errorf("connection %q of %q: %w", sc.ID, sc.Integration, err))
			}
			continue
		}
		n++
	}
	if e.keys.ks != nil {
		moved, mErrs := e.moveDataKeys(ctx, conns)
		kept, kErrs, err := e.keys.rewrapKeyStore(ctx)
		if err != nil {
			return n + moved, fmt.Errorf("nango: re-encrypting credentials: %w", err)
		}
		n += moved + kept
		for _, err := range append(mErrs, kErrs...) {
			if failed++; failed <= maxReencryptErrors {
				errs = append(errs, err)
			}
		}
	}
	if failed > 0 {
		if failed > maxReencryptErrors {
			errs = append(errs, fmt.Errorf("and %d more", failed-maxReencryptErrors))
		}
		return n, fmt.Errorf("nango: re-encrypting credentials: %d failed: %w", failed, errors.Join(errs...))
	}
	return n, nil
}

// moveDataKeys moves to Config.DataKeyStore the data keys of conns kept in the engine's store.
func (e *Engine) moveDataKeys(ctx context.Context, conns []*store.Connection) (int, []error) {
	n := 0
	var errs []error
	for _, sc := range conns {
		if !wrappedHere(sc.DataKey) {
			continue
		}
		c, err := e.store.ConnectionGet(ctx, sc.Integration, sc.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err == nil && sealed(c.DataKey) {
			var dk *dataKey
			if dk, err = e.keys.unwrap(c.Integration, c.ID, c.DataKey); err == nil {
				var moved bool
				if moved, err = e.keys.move(ctx, c.Integration, c.ID, c.DataKey, dk); moved {
					n++
				}
			}
		}
		if err != nil && !errors.Is(err, ErrDataKeyNotFound) { // not when it is being deleted
			errs = append(errs, fmt.Errorf("connection %q of %q: moving its data key: %w", sc.ID, sc.Integration, err))
		}
	}
	return n, errs
}

// wrappedHere reports whether a connection's stored DataKey is the wrapped key itself, kept in
// the engine's store, rather than a reference to Config.DataKeyStore.
func wrappedHere(v []byte) bool {
	return len(v) > 0 && !inKeyStore(v) && !beingDeleted(v)
}

// maxReencryptErrors bounds the failures ReencryptCredentials lists.
const maxReencryptErrors = 10

// A sealed checkpoint is stored as a JSON string, since stores keep checkpoints as JSON:
// sealedCheckpointPrefix then the sealed value in unpadded base64url.
const sealedCheckpointPrefix = `"nango-sealed:1:`

func checkpointAAD(k store.CheckpointKey) []byte {
	return []byte("checkpoint\x00" + k.Integration + "\x00" + k.Sync + "\x00" + k.Connection)
}

// openCheckpoint returns a stored checkpoint's JSON: decrypted if it is sealed, as it is if it
// was stored in the clear.
func (e *Engine) openCheckpoint(ctx context.Context, k store.CheckpointKey, data []byte) ([]byte, error) {
	return e.keys.openCheckpoint(ctx, k, data)
}

// sealCheckpointWith seals a checkpoint's JSON with s, as a JSON string.
func sealCheckpointWith(s *sealer, k store.CheckpointKey, data []byte) ([]byte, error) {
	v, err := s.seal(data, checkpointAAD(k))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(sealedCheckpointPrefix)+base64.RawURLEncoding.EncodedLen(len(v))+1)
	out = append(out, sealedCheckpointPrefix...)
	out = base64.RawURLEncoding.AppendEncode(out, v)
	return append(out, '"'), nil
}

// checkpointSealed returns the sealed value of a stored checkpoint, or ok false when it is
// stored in the clear.
func checkpointSealed(data []byte) (v []byte, ok bool, err error) {
	if !bytes.HasPrefix(data, []byte(sealedCheckpointPrefix)) || !bytes.HasSuffix(data, []byte(`"`)) {
		return nil, false, nil
	}
	v, err = base64.RawURLEncoding.DecodeString(string(data[len(sealedCheckpointPrefix) : len(data)-1]))
	if err != nil || !sealed(v) || len(v) < sealedStart {
		return nil, false, errors.New("nango: an encrypted checkpoint is damaged")
	}
	return v, true, nil
}
