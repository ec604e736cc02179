package store

import (
	"crypto/rand"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// IDRange is the closed range [First, Last] that a store draws new ids
// from. Every kind of record (user, URL, event) has its own sequence within
// the range. Imported records keep their ids, which may lie outside it.
type IDRange struct {
	First uint64
	Last  uint64
}

// normalize fills in the defaults of a zero range and checks the bounds.
func (r IDRange) normalize() (IDRange, error) {
	if r.First == 0 {
		r.First = 1
	}
	if r.Last == 0 {
		r.Last = MaxID
	}
	if r.First > r.Last || r.Last > MaxID {
		return r, fmt.Errorf("id range %d to %d is empty or above %d", r.First, r.Last, MaxID)
	}
	return r, nil
}

// nextID allocates the next id of bucket b. The bucket's sequence holds the
// highest id in use inside the range, so new ids are always above every id
// created or imported there.
func (s *Store) nextID(b *bolt.Bucket) (uint64, error) {
	id := max(b.Sequence()+1, s.ids.First)
	if id > s.ids.Last {
		return 0, fmt.Errorf("%w: no id left in %d to %d", ErrIDsExhausted, s.ids.First, s.ids.Last)
	}
	if err := b.SetSequence(id); err != nil {
		return 0, err
	}
	return id, nil
}

// MaxImportID is the largest id an import may use. New ids are drawn above
// the highest imported id, so the ids above MaxImportID stay free for them.
const MaxImportID = MaxID / 2

// useID records that an imported id is in use, so that later ids are drawn
// above it when it lies in the store's range. It rejects ids above
// MaxImportID, which would use up the ids left for new records.
func (s *Store) useID(b *bolt.Bucket, id uint64) error {
	if id > MaxImportID {
		return fmt.Errorf("id %d is above %d, the largest id an import may use, so that new records still get ids above every imported one", id, uint64(MaxImportID))
	}
	if id < s.ids.First || id > s.ids.Last || id <= b.Sequence() {
		return nil
	}
	return b.SetSequence(id)
}

// Code lengths and alphabet of generated short codes.
const (
	defaultCodeLength = 6
	maxCodeLength     = 64
	codeAlphabet      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// maxCodeDraws is how many random codes a create tries before it reports
// the code space as full. With 62^6 codes, 64 draws all fail only when
// nearly every code is taken.
const maxCodeDraws = 64

// randomCode returns a uniformly random code of n characters.
func randomCode(n int) string {
	// 248 is the largest multiple of 62 below 256: bytes at or above it are
	// redrawn so that every character is equally likely.
	const limit = 248
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		rand.Read(buf)
		for _, b := range buf {
			if b < limit && len(out) < n {
				out = append(out, codeAlphabet[b%62])
			}
		}
	}
	return string(out)
}

// ValidCode reports whether s can be a short code: 1 to 64 characters of
// [A-Za-z0-9_-].
func ValidCode(s string) bool {
	if len(s) == 0 || len(s) > maxCodeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// codeTaken reports whether code belongs to a URL or to a deleted one.
func codeTaken(tx *bolt.Tx, code string) bool {
	return tx.Bucket(bucketURLCodes).Get([]byte(code)) != nil ||
		tx.Bucket(bucketTombstones).Get([]byte(code)) != nil
}

// maxFilteredDraws bounds the draws of a store with a code filter. A shard
// of a cluster of N keeps about 1 draw in N, so this allows for clusters
// of far more than a thousand shards before maxCodeDraws passes.
const maxFilteredDraws = 1 << 16

// drawCode draws random codes until one is free and, with a code filter,
// passes it. Only draws that pass the filter count towards maxCodeDraws.
func (s *Store) drawCode(tx *bolt.Tx) (string, error) {
	tried := 0
	for range maxFilteredDraws {
		code := randomCode(s.codeLen)
		if s.codeFilter != nil && !s.codeFilter(code) {
			continue
		}
		if !codeTaken(tx, code) {
			return code, nil
		}
		if tried++; tried == maxCodeDraws {
			break
		}
	}
	return "", fmt.Errorf("%w: no free short code found in %d draws", ErrConflict, maxCodeDraws)
}
