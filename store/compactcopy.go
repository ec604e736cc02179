package store

import (
	"context"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// bucketCopier writes the buckets of one database into another in write
// transactions of at most compactTxMaxSize bytes of keys and values, and
// stops when its context ends. bbolt's own Compact cannot be stopped.
type bucketCopier struct {
	ctx  context.Context
	dst  *bolt.DB
	tx   *bolt.Tx // the open write transaction, or nil
	size int64    // bytes of keys and values put in tx
}

// copyBuckets copies every bucket of src, with its keys, values, nested
// buckets and sequence, into dst, which must be empty. The pages of dst
// are filled completely, because the keys arrive in order. On failure,
// including the end of ctx, the last transaction is rolled back and the
// error is returned; earlier transactions stay in dst.
func copyBuckets(ctx context.Context, dst, src *bolt.DB) (err error) {
	// A damaged page of src may fault or panic inside bbolt.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)

	c := &bucketCopier{ctx: ctx, dst: dst}
	err = src.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return c.copyBucket([][]byte{name}, b)
		})
	})
	if err != nil {
		if c.tx != nil {
			c.tx.Rollback()
		}
		return err
	}
	return c.commit()
}

// copyBucket creates the bucket at path in dst and copies b into it. path
// names the bucket from the top level down.
func (c *bucketCopier) copyBucket(path [][]byte, b *bolt.Bucket) error {
	parent, err := c.parent(path)
	if err != nil {
		return err
	}
	var created *bolt.Bucket
	if parent == nil {
		created, err = c.tx.CreateBucket(path[0])
	} else {
		created, err = parent.CreateBucket(path[len(path)-1])
	}
	if err != nil {
		return err
	}
	if err := created.SetSequence(b.Sequence()); err != nil {
		return err
	}

	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		// A nil value marks a nested bucket.
		if v == nil {
			if nested := b.Bucket(k); nested != nil {
				if err := c.copyBucket(append(path[:len(path):len(path)], k), nested); err != nil {
					return err
				}
				continue
			}
		}
		if err := c.put(path, k, v); err != nil {
			return err
		}
	}
	return nil
}

// put writes one key and value into the bucket at path. It commits first
// when the pair would take the transaction past compactTxMaxSize, and
// returns the cause of the context once it has ended. The slices stay
// valid until the commit, because they point into the read transaction
// of the source, which lasts for the whole copy.
func (c *bucketCopier) put(path [][]byte, k, v []byte) error {
	select {
	case <-c.ctx.Done():
		return context.Cause(c.ctx)
	default:
	}
	n := int64(len(k) + len(v))
	if c.tx != nil && c.size+n > compactTxMaxSize {
		if err := c.commit(); err != nil {
			return err
		}
	}
	b, err := c.bucket(path)
	if err != nil {
		return err
	}
	c.size += n
	return b.Put(k, v)
}

// bucket returns the bucket at path in the open transaction, which it
// begins when none is open. Keys arrive in order, so every page but the
// last of each bucket is filled completely.
func (c *bucketCopier) bucket(path [][]byte) (*bolt.Bucket, error) {
	if err := c.begin(); err != nil {
		return nil, err
	}
	b := c.tx.Bucket(path[0])
	for _, name := range path[1:] {
		b = b.Bucket(name)
	}
	b.FillPercent = 1
	return b, nil
}

// parent returns the bucket that holds the bucket at path, or nil for a
// bucket at the top level, in the open transaction.
func (c *bucketCopier) parent(path [][]byte) (*bolt.Bucket, error) {
	if len(path) == 1 {
		return nil, c.begin()
	}
	return c.bucket(path[:len(path)-1])
}

// begin starts a write transaction unless one is open.
func (c *bucketCopier) begin() error {
	if c.tx != nil {
		return nil
	}
	tx, err := c.dst.Begin(true)
	if err != nil {
		return err
	}
	c.tx, c.size = tx, 0
	return nil
}

// commit commits the open transaction, if any.
func (c *bucketCopier) commit() error {
	if c.tx == nil {
		return nil
	}
	err := c.tx.Commit()
	c.tx = nil
	return err
}
