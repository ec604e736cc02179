package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Optional is one field of an update: the field changes to Value only when
// Set is true.
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some returns an Optional that sets the field to v.
func Some[T any](v T) Optional[T] {
	return Optional[T]{Set: true, Value: v}
}

// URLUpdate lists the fields of a URL to change. A zero UserID value sets
// the owner to none, a nil Title value clears the title, and a zero
// RedirectType value puts the link back on the server's default status.
type URLUpdate struct {
	OriginalURL  Optional[string]
	Title        Optional[*string]
	IsActive     Optional[bool]
	UserID       Optional[uint64]
	ExpiresAt    Optional[time.Time]
	MaxClicks    Optional[uint64]
	RedirectType Optional[int]
}

// TimeLayout is the layout of timestamps in event details and in the API:
// UTC, seconds, no zone.
const TimeLayout = "2006-01-02T15:04:05"

// now returns the current time as the store records it: UTC, whole seconds.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Second)
}

func getURL(tx *bolt.Tx, id uint64) (URL, error) {
	return readURL(txBuckets{tx}, id)
}

func readURL(b buckets, id uint64) (URL, error) {
	u, err := readURLRecord(b, id)
	if isNotFound(err) {
		return u, err
	}
	u.ClickCount = btoi(b.bucket(bucketClicks).Get(itob(id)))
	return u, err
}

// readURLRecord reads the URL with the given id without its click count.
func readURLRecord(b buckets, id uint64) (URL, error) {
	v := b.bucket(bucketURLs).Get(itob(id))
	if v == nil {
		return URL{}, fmt.Errorf("%w: no url with id %d", ErrNotFound, id)
	}
	return decodeURL(id, v)
}

// putURL writes u and its index entries, replacing old if not nil. A code
// that old had and u no longer has is kept as a tombstone.
func putURL(tx *bolt.Tx, u *URL, old *URL) error {
	return writeURL(txBuckets{tx}, u, old)
}

func writeURL(b buckets, u *URL, old *URL) error {
	if u.MaxClicks > MaxClickLimit {
		return fmt.Errorf("max_clicks %d is larger than %d", u.MaxClicks, uint64(MaxClickLimit))
	}
	codes, users, inactive := b.bucket(bucketURLCodes), b.bucket(bucketURLUsers), b.bucket(bucketURLInactive)
	key := itob(u.ID)
	if old != nil {
		if old.ShortCode != u.ShortCode {
			if err := codes.Delete([]byte(old.ShortCode)); err != nil {
				return err
			}
			if err := b.bucket(bucketTombstones).Put([]byte(old.ShortCode), key); err != nil {
				return err
			}
		}
		if err := users.Delete(pairKey(itob(old.UserID), u.ID)); err != nil {
			return err
		}
		if err := inactive.Delete(key); err != nil {
			return err
		}
	}

	if err := codes.Put([]byte(u.ShortCode), key); err != nil {
		return err
	}
	if u.UserID != 0 {
		if err := users.Put(pairKey(itob(u.UserID), u.ID), nil); err != nil {
			return err
		}
	}
	if !u.IsActive {
		if err := inactive.Put(key, nil); err != nil {
			return err
		}
	}
	return b.bucket(bucketURLs).Put(key, encodeURL(u))
}

// CreateURL stores a new URL with a new id and returns it. An empty
// ShortCode is replaced by a generated one; a given one that is taken, now
// or by a deleted URL, gives ErrConflict. A user id that names no user gives
// ErrNotFound. It also writes the URL's created event.
func (s *Store) CreateURL(u URL) (URL, error) {
	custom := u.ShortCode
	err := s.update(func(tx *bolt.Tx) error {
		if u.UserID != 0 && !s.remoteUsers && !userExists(tx, u.UserID) {
			return fmt.Errorf("%w: user_id %d names no user", ErrNotFound, u.UserID)
		}
		u.ShortCode = custom
		if u.ShortCode == "" {
			code, err := s.drawCode(tx)
			if err != nil {
				return err
			}
			u.ShortCode = code
		} else if err := codeConflict(txBuckets{tx}, []byte(u.ShortCode), 0); err != nil {
			return err
		}

		id, err := s.nextID(tx.Bucket(bucketURLs))
		if err != nil {
			return err
		}
		u.ID, u.ClickCount = id, 0
		if u.CreatedAt.IsZero() {
			u.CreatedAt = now()
		}
		if u.UpdatedAt.IsZero() {
			u.UpdatedAt = u.CreatedAt
		}
		if err := putURL(tx, &u, nil); err != nil {
			return err
		}
		if err := addCount(tx, metaURLs, 1); err != nil {
			return err
		}
		details := createdDetails{ShortCode: u.ShortCode, OriginalURL: u.OriginalURL}
		return s.appendEvent(tx, u.ID, u.UserID, EventCreated, u.CreatedAt, details)
	})
	return u, err
}

type createdDetails struct {
	ShortCode   string `json:"short_code"`
	OriginalURL string `json:"original_url"`
}

type updatedDetails struct {
	Field    string `json:"field"`
	NewValue any    `json:"new_value"`
}

type deletedDetails struct {
	Reason string `json:"reason"`
}

// GetURL returns the URL with the given id, or ErrNotFound.
func (s *Store) GetURL(id uint64) (URL, error) {
	var u URL
	err := s.viewIndexed(func(tx *bolt.Tx) error {
		var err error
		u, err = getURL(tx, id)
		return err
	})
	return u, err
}

// GetURLByCode returns the URL with the given short code, or ErrNotFound.
func (s *Store) GetURLByCode(code string) (URL, error) {
	var u URL
	err := s.viewIndexed(func(tx *bolt.Tx) error {
		var err error
		u, err = urlByCode(tx, code, true)
		return err
	})
	return u, err
}

// LookupCode returns the URL with the given short code, or ErrNotFound,
// without its ClickCount. It runs one short read transaction that reads no
// page beyond the code and the URL, for the redirect path.
func (s *Store) LookupCode(code string) (URL, error) {
	var u URL
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		u, err = urlByCode(tx, code, false)
		return err
	})
	return u, err
}

// urlByCode returns the URL that the code index gives for code, with its
// ClickCount if withCount is set. A record with another code comes from a
// damaged index entry and gives ErrCorrupt, because the code's redirects
// and clicks would otherwise go to another link.
func urlByCode(tx *bolt.Tx, code string, withCount bool) (URL, error) {
	id, err := codeID(tx, code)
	if err != nil {
		return URL{}, err
	}
	var u URL
	if withCount {
		u, err = getURL(tx, id)
	} else {
		u, err = readURLRecord(txBuckets{tx}, id)
	}
	if err == nil && u.ShortCode != code {
		err = fmt.Errorf("%w: the code index sends %q to url %d, whose code is %q; run linkbolt check", ErrCorrupt, code, u.ID, u.ShortCode)
	}
	return u, err
}

// codeID returns the id of the URL with the given short code.
func codeID(tx *bolt.Tx, code string) (uint64, error) {
	id := tx.Bucket(bucketURLCodes).Get([]byte(code))
	if id == nil {
		return 0, fmt.Errorf("%w: no url with short_code %q", ErrNotFound, code)
	}
	return btoi(id), nil
}

// UpdateURL changes the fields set in up, sets updated_at, writes one
// updated event per field whose value changed, and returns the whole URL.
func (s *Store) UpdateURL(id uint64, up URLUpdate) (URL, error) {
	var u URL
	err := s.update(func(tx *bolt.Tx) error {
		old, err := getURL(tx, id)
		if err != nil {
			return err
		}
		if up.UserID.Set && up.UserID.Value != 0 && !s.remoteUsers && !userExists(tx, up.UserID.Value) {
			return fmt.Errorf("%w: user_id %d names no user", ErrNotFound, up.UserID.Value)
		}
		u = old
		changes := applyURLUpdate(&u, up)
		u.UpdatedAt = now()
		if err := putURL(tx, &u, &old); err != nil {
			return err
		}
		for _, c := range changes {
			if err := s.appendEvent(tx, u.ID, u.UserID, EventUpdated, u.UpdatedAt, c); err != nil {
				return err
			}
		}
		return nil
	})
	return u, err
}

// applyURLUpdate changes u and returns the details of one updated event per
// field whose value changed.
func applyURLUpdate(u *URL, up URLUpdate) []updatedDetails {
	var changes []updatedDetails
	change := func(field string, differs bool, value any) {
		if differs {
			changes = append(changes, updatedDetails{Field: field, NewValue: value})
		}
	}
	if v := up.OriginalURL; v.Set {
		change("original_url", v.Value != u.OriginalURL, v.Value)
		u.OriginalURL = v.Value
	}
	if v := up.Title; v.Set {
		change("title", !equalTitle(v.Value, u.Title), v.Value)
		u.Title = v.Value
	}
	if v := up.IsActive; v.Set {
		change("is_active", v.Value != u.IsActive, v.Value)
		u.IsActive = v.Value
	}
	if v := up.UserID; v.Set {
		change("user_id", v.Value != u.UserID, nullableID(v.Value))
		u.UserID = v.Value
	}
	if v := up.ExpiresAt; v.Set {
		change("expires_at", !v.Value.Equal(u.ExpiresAt), nullableTime(v.Value))
		u.ExpiresAt = v.Value
	}
	if v := up.MaxClicks; v.Set {
		change("max_clicks", v.Value != u.MaxClicks, nullableID(v.Value))
		u.MaxClicks = v.Value
	}
	if v := up.RedirectType; v.Set {
		change("redirect_type", v.Value != u.RedirectType, nullableStatus(v.Value))
		u.RedirectType = v.Value
	}
	return changes
}

func equalTitle(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// codeConflict returns an error wrapping ErrConflict that names the url
// holding code, or nil when code is free or held by the url with id self.
// A code stays held after its url was deleted or purged, or changed it.
func codeConflict(b buckets, code []byte, self uint64) error {
	if holder := b.bucket(bucketURLCodes).Get(code); holder != nil && btoi(holder) != self {
		return fmt.Errorf("%w: short_code %q belongs to url %d", ErrConflict, code, btoi(holder))
	}
	holder := b.bucket(bucketTombstones).Get(code)
	if holder == nil || btoi(holder) == self {
		return nil
	}
	id := btoi(holder)
	if b.bucket(bucketURLs).Get(itob(id)) != nil {
		return fmt.Errorf("%w: short_code %q was the code of url %d before it changed", ErrConflict, code, id)
	}
	return fmt.Errorf("%w: short_code %q belonged to deleted url %d and is never issued again", ErrConflict, code, id)
}

// nullableID returns nil for zero, so that it encodes as JSON null.
func nullableID(v uint64) any {
	if v == 0 {
		return nil
	}
	return v
}

// nullableStatus returns nil for zero, the server's default redirect
// status, so that it encodes as JSON null.
func nullableStatus(v int) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullableTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(TimeLayout)
}

// DeleteURL removes a URL, keeps its code as a tombstone so that it is
// never issued again, writes a deleted event and returns the removed URL.
// The URL's events stay.
func (s *Store) DeleteURL(id uint64) (URL, error) {
	var u URL
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		u, err = getURL(tx, id)
		if err != nil {
			return err
		}
		if err := deleteURL(tx, &u); err != nil {
			return err
		}
		details := deletedDetails{Reason: "user_requested"}
		return s.appendEvent(tx, u.ID, u.UserID, EventDeleted, now(), details)
	})
	return u, err
}

func deleteURL(tx *bolt.Tx, u *URL) error {
	key := itob(u.ID)
	steps := []struct {
		bucket []byte
		key    []byte
	}{
		{bucketURLs, key},
		{bucketURLCodes, []byte(u.ShortCode)},
		{bucketURLUsers, pairKey(itob(u.UserID), u.ID)},
		{bucketURLInactive, key},
		{bucketClicks, key},
	}
	for _, st := range steps {
		if err := tx.Bucket(st.bucket).Delete(st.key); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketTombstones).Put([]byte(u.ShortCode), key); err != nil {
		return err
	}
	return addCount(tx, metaURLs, -1)
}

// ListURLs returns one page of the URLs that match f, in id order, and the
// number of all matches.
func (s *Store) ListURLs(f URLFilter, p Page) ([]URL, uint64, error) {
	var urls []URL
	var total uint64
	err := s.viewIndexed(func(tx *bolt.Tx) error {
		ids, n := listURLIDs(tx, f, p)
		total = n
		for _, id := range ids {
			u, err := getURL(tx, id)
			if err != nil {
				return listedRecord(err, "url", id)
			}
			urls = append(urls, u)
		}
		return nil
	})
	return urls, total, err
}

// listURLIDs walks the narrowest index for f and checks the other filters
// against their indexes, without decoding any record.
func listURLIDs(tx *bolt.Tx, f URLFilter, p Page) ([]uint64, uint64) {
	pg := newPager(p)
	inactive := tx.Bucket(bucketURLInactive)
	byUser := tx.Bucket(bucketURLUsers)
	match := func(id uint64) bool {
		if f.IsActive != nil && (inactive.Get(itob(id)) == nil) != *f.IsActive {
			return false
		}
		if f.UserID != nil && byUser.Get(pairKey(itob(*f.UserID), id)) == nil {
			return false
		}
		return true
	}

	switch {
	case f.ShortCode != nil:
		if id := tx.Bucket(bucketURLCodes).Get([]byte(*f.ShortCode)); id != nil && match(btoi(id)) {
			pg.add(btoi(id))
		}
	case f.UserID != nil:
		scanPrefix(byUser, itob(*f.UserID), func(id uint64) bool { return pg.addIf(id, match) })
	case f.IsActive != nil && !*f.IsActive:
		scanPrefix(inactive, nil, func(id uint64) bool { return pg.addIf(id, match) })
	case f.IsActive != nil:
		scanPrefix(tx.Bucket(bucketURLs), nil, func(id uint64) bool { return pg.addIf(id, match) })
	default:
		pg.total = btoi(tx.Bucket(bucketMeta).Get(metaURLs))
		scanPrefix(tx.Bucket(bucketURLs), nil, pg.addUntilFull)
	}
	return pg.ids, pg.total
}

// marshalDetails encodes event details as a JSON object.
func marshalDetails(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(v)
}
