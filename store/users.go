package store

import (
	"bytes"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// UserUpdate lists the fields of a user to change; a nil field is left as
// it is.
type UserUpdate struct {
	Username *string
	Email    *string
}

// foldKey is the index key of a username or email: uniqueness is
// case-insensitive.
func foldKey(s string) []byte {
	return []byte(strings.ToLower(s))
}

// indexHolder returns the id of a record other than self whose index entry
// has exactly the folded value, or 0. Index keys are the value followed by
// an 8-byte id, so a prefix match must also have that exact length.
func indexHolder(b *bolt.Bucket, value []byte, self uint64) uint64 {
	c := b.Cursor()
	for k, _ := c.Seek(value); k != nil && bytes.HasPrefix(k, value); k, _ = c.Next() {
		if len(k) != len(value)+8 {
			continue
		}
		if id := btoi(k[len(value):]); id != self {
			return id
		}
	}
	return 0
}

// checkUserUnique returns ErrConflict when another user has the username or
// email of u. old is the user before an update, or nil. A value that the
// update leaves as it was, without regard to case, is not checked. An
// import may have given two users the same one, and an update of another
// field must not fail on it.
func checkUserUnique(tx *bolt.Tx, u *User, old *User) error {
	name, email := foldKey(u.Username), foldKey(u.Email)
	if (old == nil || !bytes.Equal(name, foldKey(old.Username))) &&
		indexHolder(tx.Bucket(bucketUserNames), name, u.ID) != 0 {
		return fmt.Errorf("%w: username %q is already taken", ErrConflict, u.Username)
	}
	if (old == nil || !bytes.Equal(email, foldKey(old.Email))) &&
		indexHolder(tx.Bucket(bucketUserEmails), email, u.ID) != 0 {
		return fmt.Errorf("%w: email %q is already taken", ErrConflict, u.Email)
	}
	return nil
}

// putUser writes u and its index entries, replacing old if not nil.
func putUser(tx *bolt.Tx, u *User, old *User) error {
	return writeUser(txBuckets{tx}, u, old)
}

func writeUser(b buckets, u *User, old *User) error {
	names, emails := b.bucket(bucketUserNames), b.bucket(bucketUserEmails)
	if old != nil {
		if err := names.Delete(pairKey(foldKey(old.Username), old.ID)); err != nil {
			return err
		}
		if err := emails.Delete(pairKey(foldKey(old.Email), old.ID)); err != nil {
			return err
		}
	}
	if err := names.Put(pairKey(foldKey(u.Username), u.ID), nil); err != nil {
		return err
	}
	if err := emails.Put(pairKey(foldKey(u.Email), u.ID), nil); err != nil {
		return err
	}
	return b.bucket(bucketUsers).Put(itob(u.ID), encodeUser(u))
}

func getUser(tx *bolt.Tx, id uint64) (User, error) {
	return readUser(txBuckets{tx}, id)
}

func readUser(b buckets, id uint64) (User, error) {
	v := b.bucket(bucketUsers).Get(itob(id))
	if v == nil {
		return User{}, fmt.Errorf("%w: no user with id %d", ErrNotFound, id)
	}
	return decodeUser(id, v)
}

// CreateUser stores a new user with a new id and returns it. It returns
// ErrConflict when the username or email (case-insensitive) is taken.
func (s *Store) CreateUser(u User) (User, error) {
	err := s.update(func(tx *bolt.Tx) error {
		u.ID = 0
		if err := checkUserUnique(tx, &u, nil); err != nil {
			return err
		}
		id, err := s.nextID(tx.Bucket(bucketUsers))
		if err != nil {
			return err
		}
		u.ID = id
		if err := putUser(tx, &u, nil); err != nil {
			return err
		}
		return addCount(tx, metaUsers, 1)
	})
	return u, err
}

// GetUser returns the user with the given id, or ErrNotFound.
func (s *Store) GetUser(id uint64) (User, error) {
	var u User
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, id)
		return err
	})
	return u, err
}

// UpdateUser changes the fields set in up and returns the whole user.
func (s *Store) UpdateUser(id uint64, up UserUpdate) (User, error) {
	var u User
	err := s.update(func(tx *bolt.Tx) error {
		old, err := getUser(tx, id)
		if err != nil {
			return err
		}
		u = old
		if up.Username != nil {
			u.Username = *up.Username
		}
		if up.Email != nil {
			u.Email = *up.Email
		}
		if err := checkUserUnique(tx, &u, &old); err != nil {
			return err
		}
		return putUser(tx, &u, &old)
	})
	return u, err
}

// DeleteUser removes a user. The user's links stay and lose their owner.
// It returns the short codes of those links, whose cached owner is stale.
func (s *Store) DeleteUser(id uint64) ([]string, error) {
	var codes []string
	err := s.update(func(tx *bolt.Tx) error {
		codes = codes[:0]
		u, err := getUser(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserNames).Delete(pairKey(foldKey(u.Username), id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserEmails).Delete(pairKey(foldKey(u.Email), id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsers).Delete(itob(id)); err != nil {
			return err
		}
		codes, err = disownURLs(tx, id)
		if err != nil {
			return err
		}
		return addCount(tx, metaUsers, -1)
	})
	return codes, err
}

// disownURLs sets the owner of every URL of user to none.
func disownURLs(tx *bolt.Tx, user uint64) ([]string, error) {
	var ids []uint64
	prefix := itob(user)
	c := tx.Bucket(bucketURLUsers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, btoi(k[8:]))
	}

	var codes []string
	for _, id := range ids {
		u, err := getURL(tx, id)
		if err != nil {
			return nil, err
		}
		old := u
		u.UserID = 0
		if err := putURL(tx, &u, &old); err != nil {
			return nil, err
		}
		codes = append(codes, u.ShortCode)
	}
	return codes, nil
}

// ListUsers returns one page of users in id order and the number of users.
func (s *Store) ListUsers(p Page) ([]User, uint64, error) {
	var users []User
	var total uint64
	err := s.view(func(tx *bolt.Tx) error {
		total = btoi(tx.Bucket(bucketMeta).Get(metaUsers))
		c := tx.Bucket(bucketUsers).Cursor()
		k, v := c.First()
		for skip := p.offset(); k != nil && skip > 0; skip-- {
			k, v = c.Next()
		}
		for ; k != nil && len(users) < p.PerPage; k, v = c.Next() {
			u, err := decodeUser(btoi(k), v)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		return nil
	})
	return users, total, err
}

// userExists reports whether a user with the id exists.
func userExists(tx *bolt.Tx, id uint64) bool {
	return tx.Bucket(bucketUsers).Get(itob(id)) != nil
}
