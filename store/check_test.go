package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// checkFixture is a store with every kind of record and index entry, and
// the ids that the damage cases refer to.
type checkFixture struct {
	path         string
	alice, bob   User
	owned        URL // owned by alice, active, with clicks
	inactive     URL // owned by bob, inactive
	unowned      URL // no owner
	deletedCode  string
	ownedCreated Event // the created event of owned, with alice as user
}

// buildCheckFixture writes a consistent store through the public API and
// closes it.
func buildCheckFixture(t *testing.T) checkFixture {
	t.Helper()
	fx := checkFixture{path: filepath.Join(t.TempDir(), "good.db")}
	s, err := Open(fx.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	fx.alice = mustUser(t, s, "alice")
	fx.bob = mustUser(t, s, "Bob")
	carol := mustUser(t, s, "carol")
	fx.owned = mustURL(t, s, URL{UserID: fx.alice.ID, ShortCode: "alpha1"})
	fx.inactive = mustURL(t, s, URL{UserID: fx.bob.ID, ShortCode: "beta22"})
	fx.unowned = mustURL(t, s, URL{ShortCode: "gamma3"})
	carolURL := mustURL(t, s, URL{UserID: carol.ID})
	deleted := mustURL(t, s, URL{ShortCode: "delta4"})
	fx.deletedCode = deleted.ShortCode

	if _, err := s.UpdateURL(fx.inactive.ID, URLUpdate{IsActive: Some(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteURL(deleted.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(carol.ID); err != nil {
		t.Fatal(err)
	}
	clicks := []Click{
		{URLID: fx.owned.ID, UserID: fx.alice.ID, Time: time.Now(), Referrer: "https://ref.example/"},
		{URLID: fx.owned.ID, Time: time.Now(), UserAgent: "Googlebot", Bot: true},
		{URLID: deleted.ID, Time: time.Now()},
		{URLID: carolURL.ID, Time: time.Now()},
	}
	if err := s.RecordClicks(clicks); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEvent(Event{URLID: fx.unowned.ID, UserID: fx.bob.ID, Type: "shared"}); err != nil {
		t.Fatal(err)
	}

	created := EventCreated
	events, _, err := s.ListEvents(EventFilter{URLID: &fx.owned.ID, Type: &created}, Page{1, 10})
	if err != nil || len(events) != 1 {
		t.Fatalf("created event of url %d: %v, %d events", fx.owned.ID, err, len(events))
	}
	fx.ownedCreated = events[0]
	return fx
}

// copyFile copies the file at src to a new file in a temporary directory.
func copyFile(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// damageFile runs fn in a write transaction on the file with bbolt alone,
// bypassing every rule of the store.
func damageFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatalf("damaging %s: %v", path, err)
	}
}

func problemList(r CheckReport) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString("\n\t" + p.String())
	}
	return b.String()
}

func TestCheckConsistentStore(t *testing.T) {
	fx := buildCheckFixture(t)
	before, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}

	report, err := Check(fx.path, nil)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !report.OK() || len(report.Problems) != 0 {
		t.Errorf("check found %d problems in a consistent store:%s", report.Total, problemList(report))
	}
	if !report.RecordsChecked {
		t.Error("RecordsChecked = false, want true")
	}
	if report.SchemaVersion != schemaVersion {
		t.Errorf("SchemaVersion = %d, want %d", report.SchemaVersion, schemaVersion)
	}
	if report.Size != int64(len(before)) {
		t.Errorf("Size = %d, want the file size %d", report.Size, len(before))
	}
	// alice and Bob; carol was deleted. Five URLs minus the deleted one.
	// Events: 5 created, 1 updated, 1 deleted, 4 clicks, 1 custom.
	want := Counts{Users: 2, URLs: 4, Events: 12}
	if report.Records != want {
		t.Errorf("Records = %+v, want %+v", report.Records, want)
	}

	after, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("check changed the file")
	}
}

func TestCheckAfterImportsAndPurges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "writes.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		run  func() error
	}{
		{"import users with a repeated name", func() error {
			return s.ImportUsers([]User{
				{ID: 10, Username: "dup", Email: "a@example.com", CreatedAt: created},
				{ID: 11, Username: "DUP", Email: "b@example.com", CreatedAt: created},
			})
		}},
		{"import urls with a missing owner", func() error {
			return s.ImportURLs([]URL{
				{ID: 20, UserID: 10, ShortCode: "keep", OriginalURL: "https://example.com/1", IsActive: true, CreatedAt: created},
				{ID: 21, UserID: 999, ShortCode: "orphan", OriginalURL: "https://example.com/2", CreatedAt: created},
			})
		}},
		{"import url with a new code", func() error {
			return s.ImportURLs([]URL{{ID: 20, UserID: 11, ShortCode: "moved", OriginalURL: "https://example.com/1", IsActive: true, CreatedAt: created}})
		}},
		{"import url back under its old code", func() error {
			return s.ImportURLs([]URL{{ID: 20, UserID: 11, ShortCode: "keep", OriginalURL: "https://example.com/1", IsActive: true, CreatedAt: created}})
		}},
		{"import events of missing records", func() error {
			return s.ImportEvents([]Event{
				{ID: 30, URLID: 20, UserID: 10, Type: EventClick, Timestamp: created, Details: json.RawMessage(`{}`)},
				{ID: 31, URLID: 777, UserID: 888, Type: "custom", Timestamp: created, Details: json.RawMessage(`{"k":1}`)},
			})
		}},
		{"rename user", func() error {
			_, err := s.UpdateUser(10, UserUpdate{Username: ptr("renamed")})
			return err
		}},
		{"delete owner", func() error {
			_, err := s.DeleteUser(11)
			return err
		}},
		{"purge inactive links", func() error {
			_, err := s.Purge(PurgeFilter{Inactive: true}, false)
			return err
		}},
		{"purge events of deleted links", func() error {
			_, err := s.Purge(PurgeFilter{Deleted: true}, false)
			return err
		}},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	report, err := Check(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() {
		t.Errorf("check found %d problems:%s", report.Total, problemList(report))
	}
	want := Counts{Users: 1, URLs: 1, Events: 1}
	if report.Records != want {
		t.Errorf("Records = %+v, want %+v", report.Records, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCheckNamesDamage(t *testing.T) {
	fx := buildCheckFixture(t)
	user := func(u User) []byte { return encodeUser(&u) }

	tests := []struct {
		name   string
		damage func(tx *bolt.Tx) error
		kind   ProblemKind
		bucket []byte
		text   string // a part of the message
		total  int    // every problem that the damage causes
	}{
		{
			name: "user does not decode",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketUsers).Put(itob(fx.alice.ID), []byte{recordFormat, 0xff})
			},
			kind: ProblemRecord, bucket: bucketUsers, text: "user 1 does not decode",
			total: 1,
		},
		{
			name: "user with trailing bytes",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketUsers).Put(itob(fx.alice.ID), append(user(fx.alice), 0))
			},
			kind: ProblemRecord, bucket: bucketUsers, text: "bytes differ",
			total: 1,
		},
		{
			name:   "user of unknown format",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketUsers).Put(itob(fx.bob.ID), []byte{9}) },
			kind:   ProblemRecord, bucket: bucketUsers, text: "unknown record format",
			total: 1,
		},
		{
			name:   "record key not an id",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketUsers).Put([]byte("x"), user(fx.alice)) },
			kind:   ProblemRecord, bucket: bucketUsers, text: "not an 8-byte id",
			total: 1,
		},
		{
			name: "record id zero",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEvents).Put(itob(0), encodeEvent(&Event{Type: "x", Details: json.RawMessage("{}")}))
			},
			kind: ProblemRecord, bucket: bucketEvents, text: "event id 0 is outside 1 to",
			// The event also lacks its two index entries and is not
			// counted in meta.
			total: 4,
		},
		{
			name: "nested bucket among records",
			damage: func(tx *bolt.Tx) error {
				_, err := tx.Bucket(bucketURLs).CreateBucket(itob(77))
				return err
			},
			kind: ProblemRecord, bucket: bucketURLs, text: "nested bucket",
			total: 1,
		},
		{
			name: "username entry missing",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketUserNames).Delete(pairKey(foldKey("alice"), fx.alice.ID))
			},
			kind: ProblemMissingIndex, bucket: bucketUserNames, text: `user 1 has no entry for username "alice"`,
			total: 1,
		},
		{
			name: "username entry of missing user",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketUserNames).Put(pairKey([]byte("ghost"), 99), nil)
			},
			kind: ProblemIndex, bucket: bucketUserNames, text: `entry "ghost" points to user 99, which does not exist`,
			total: 1,
		},
		{
			name: "email entry with other email",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketUserEmails).Put(pairKey([]byte("x@example.com"), fx.bob.ID), nil)
			},
			kind: ProblemIndex, bucket: bucketUserEmails, text: `whose email is "bob@example.com"`,
			total: 1,
		},
		{
			name:   "short code entry missing",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLCodes).Delete([]byte("alpha1")) },
			kind:   ProblemMissingIndex, bucket: bucketURLCodes, text: `url 1 has no entry for short code "alpha1"`,
			total: 1,
		},
		{
			name:   "short code entry of missing url",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLCodes).Put([]byte("zzz"), itob(99)) },
			kind:   ProblemIndex, bucket: bucketURLCodes, text: `entry "zzz" points to url 99, which does not exist`,
			total: 1,
		},
		{
			name: "short code entry of other url",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketURLCodes).Put([]byte("alpha1"), itob(fx.unowned.ID))
			},
			kind: ProblemIndex, bucket: bucketURLCodes, text: `entry "alpha1" points to url 3, whose short code is "gamma3"`,
			// url 1 finds its code held by url 3 as well.
			total: 2,
		},
		{
			name:   "short code entry not an id",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLCodes).Put([]byte("zzz"), []byte("x")) },
			kind:   ProblemIndex, bucket: bucketURLCodes, text: "not an 8-byte url id",
			total: 1,
		},
		{
			name: "owner entry missing",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketURLUsers).Delete(pairKey(itob(fx.alice.ID), fx.owned.ID))
			},
			kind: ProblemMissingIndex, bucket: bucketURLUsers, text: "url 1 has no entry for its owner, user 1",
			total: 1,
		},
		{
			name: "owner entry of unowned url",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketURLUsers).Put(pairKey(itob(fx.alice.ID), fx.unowned.ID), nil)
			},
			kind: ProblemIndex, bucket: bucketURLUsers, text: "points to url 3, which has no user_id",
			total: 1,
		},
		{
			name: "owner entry of other owner",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketURLUsers).Put(pairKey(itob(fx.bob.ID), fx.owned.ID), nil)
			},
			kind: ProblemIndex, bucket: bucketURLUsers, text: "entry 2 points to url 1, whose user_id is 1",
			total: 1,
		},
		{
			name:   "owner entry malformed",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLUsers).Put([]byte("short"), nil) },
			kind:   ProblemIndex, bucket: bucketURLUsers, text: "is malformed",
			total: 1,
		},
		{
			name:   "inactive entry missing",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLInactive).Delete(itob(fx.inactive.ID)) },
			kind:   ProblemMissingIndex, bucket: bucketURLInactive, text: "url 2 is inactive but has no entry",
			total: 1,
		},
		{
			name:   "inactive entry of active url",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLInactive).Put(itob(fx.owned.ID), nil) },
			kind:   ProblemIndex, bucket: bucketURLInactive, text: "points to url 1, which is active",
			total: 1,
		},
		{
			name:   "inactive entry of missing url",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLInactive).Put(itob(99), nil) },
			kind:   ProblemIndex, bucket: bucketURLInactive, text: "points to url 99, which does not exist",
			total: 1,
		},
		{
			name: "url does not decode",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketURLs).Put(itob(fx.unowned.ID), []byte{recordFormat, 0})
			},
			kind: ProblemRecord, bucket: bucketURLs, text: "url 3 does not decode",
			// The index entries of a record that does not decode are not
			// compared with it.
			total: 1,
		},
		{
			name: "event details not an object",
			damage: func(tx *bolt.Tx) error {
				ev := fx.ownedCreated
				ev.Details = json.RawMessage("[1]")
				return tx.Bucket(bucketEvents).Put(itob(ev.ID), encodeEvent(&ev))
			},
			kind: ProblemRecord, bucket: bucketEvents, text: "not a JSON object",
			total: 1,
		},
		{
			name: "event details not valid UTF-8",
			damage: func(tx *bolt.Tx) error {
				ev := fx.ownedCreated
				ev.Details = json.RawMessage("{\"note\":\"caf\xe9\"}")
				return tx.Bucket(bucketEvents).Put(itob(ev.ID), encodeEvent(&ev))
			},
			kind: ProblemRecord, bucket: bucketEvents, text: "details is not valid UTF-8",
			total: 1,
		},
		{
			name: "url max_clicks above limit",
			damage: func(tx *bolt.Tx) error {
				u := fx.unowned
				u.MaxClicks = MaxClickLimit + 1
				return tx.Bucket(bucketURLs).Put(itob(u.ID), encodeURL(&u))
			},
			kind: ProblemRecord, bucket: bucketURLs, text: "max_clicks 9223372036854775808 is larger than 9223372036854775807",
			total: 1,
		},
		{
			name: "event url entry missing",
			damage: func(tx *bolt.Tx) error {
				ev := fx.ownedCreated
				return tx.Bucket(bucketEventURLs).Delete(pairKey(itob(ev.URLID), ev.ID))
			},
			kind: ProblemMissingIndex, bucket: bucketEventURLs, text: "has no entry for url 1",
			total: 1,
		},
		{
			name: "event user entry of other user",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEventUsers).Put(pairKey(itob(fx.bob.ID), fx.ownedCreated.ID), nil)
			},
			kind: ProblemIndex, bucket: bucketEventUsers, text: "whose user_id is 1",
			total: 1,
		},
		{
			name: "event user entry missing",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEventUsers).Delete(pairKey(itob(fx.alice.ID), fx.ownedCreated.ID))
			},
			kind: ProblemMissingIndex, bucket: bucketEventUsers, text: "has no entry for user 1",
			total: 1,
		},
		{
			name: "event type entry of missing event",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEventTypes).Put(pairKey([]byte(EventClick), 999), nil)
			},
			kind: ProblemIndex, bucket: bucketEventTypes, text: `entry "click" points to event 999, which does not exist`,
			total: 1,
		},
		{
			name: "event type entry missing",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEventTypes).Delete(pairKey([]byte(EventCreated), fx.ownedCreated.ID))
			},
			kind: ProblemMissingIndex, bucket: bucketEventTypes, text: `has no entry for type "created"`,
			total: 1,
		},
		{
			name:   "tombstone of live code",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketTombstones).Put([]byte("alpha1"), itob(42)) },
			kind:   ProblemTombstone, bucket: bucketTombstones, text: `short code "alpha1" of deleted url 42 is live again for url 1`,
			total: 1,
		},
		{
			name: "tombstone not an id",
			damage: func(tx *bolt.Tx) error {
				return tx.Bucket(bucketTombstones).Put([]byte(fx.deletedCode), []byte("?"))
			},
			kind: ProblemTombstone, bucket: bucketTombstones, text: "not an 8-byte url id",
			total: 1,
		},
		{
			name:   "click count of missing url",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketClicks).Put(itob(99), itob(5)) },
			kind:   ProblemClickCount, bucket: bucketClicks, text: "click count 5 belongs to url 99, which does not exist",
			total: 1,
		},
		{
			name:   "click count disagrees with events",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketClicks).Put(itob(fx.owned.ID), itob(1000)) },
			kind:   ProblemClickCount, bucket: bucketClicks, text: "is 1000, but it has 1 click events not from bots",
			total: 1,
		},
		{
			name:   "click count malformed",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketClicks).Put(itob(fx.owned.ID), []byte{1}) },
			kind:   ProblemClickCount, bucket: bucketClicks, text: "not an 8-byte url id and count",
			total: 1,
		},
		{
			name:   "user count wrong",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaUsers, itob(7)) },
			kind:   ProblemCount, bucket: bucketMeta, text: "count_users is 7, but bucket users has 2 records",
			total: 1,
		},
		{
			name:   "event count missing",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaEvents) },
			kind:   ProblemCount, bucket: bucketMeta, text: "count_events is 0, but bucket events has 12 records",
			total: 1,
		},
		{
			name:   "url count malformed",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaURLs, []byte{4}) },
			kind:   ProblemCount, bucket: bucketMeta, text: "count_urls is 04, not an 8-byte integer",
			total: 1,
		},
		{
			name:   "url sequence below highest id",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketURLs).SetSequence(fx.owned.ID) },
			kind:   ProblemSequence, bucket: bucketURLs, text: "sequence is 1, below url 4 in the id range 1 to",
			total: 1,
		},
		{
			name:   "schema version missing",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaSchema) },
			kind:   ProblemSchema, bucket: bucketMeta, text: "schema version is missing",
			total: 1,
		},
		{
			name:   "schema version older",
			damage: func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchema, itob(0)) },
			kind:   ProblemSchema, bucket: bucketMeta, text: "schema version is 0, want 1",
			total: 1,
		},
		{
			name:   "bucket missing",
			damage: func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketEventTypes) },
			kind:   ProblemBucket, bucket: bucketEventTypes, text: "bucket is missing",
			total: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := copyFile(t, fx.path)
			damageFile(t, path, tt.damage)

			report, err := Check(path, nil)
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if report.OK() {
				t.Fatal("check found no problem")
			}
			found := false
			for _, p := range report.Problems {
				if p.Kind == tt.kind && p.Bucket == string(tt.bucket) && strings.Contains(p.Message, tt.text) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s problem in %s containing %q; problems:%s", tt.kind, tt.bucket, tt.text, problemList(report))
			}
			if report.Total != tt.total {
				t.Errorf("Total = %d, want %d; problems:%s", report.Total, tt.total, problemList(report))
			}
		})
	}
}

func TestCheckMissingBucketSkipsRecords(t *testing.T) {
	fx := buildCheckFixture(t)
	path := copyFile(t, fx.path)
	damageFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketClicks) })

	report, err := Check(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.RecordsChecked {
		t.Error("RecordsChecked = true with a bucket missing")
	}
	if report.Records != (Counts{}) {
		t.Errorf("Records = %+v, want none read", report.Records)
	}
}

// rootPageOffset returns the file offset of the root page of a bucket that
// is too large to be stored inline.
func rootPageOffset(t *testing.T, path string, bucket []byte) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var root uint64
	err = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bucket).Root())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if root == 0 {
		t.Fatalf("bucket %s is inline, want a page of its own", bucket)
	}
	return int64(root) * int64(db.Info().PageSize)
}

func TestCheckReportsDamagedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pages.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		mustUser(t, s, fmt.Sprintf("user%03d", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A page header is the page id (8 bytes) and then the 2-byte flags
	// that give its type. Zero flags are no valid type.
	offset := rootPageOffset(t, path, bucketUsers)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(binary.LittleEndian.AppendUint16(nil, 0), offset+8); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	report, err := Check(path, nil)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if report.OK() {
		t.Fatal("check found no problem in a damaged page")
	}
	for _, p := range report.Problems {
		if p.Kind != ProblemFile {
			t.Errorf("problem of kind %s, want only %s: %s", p.Kind, ProblemFile, p)
		}
	}
	if report.RecordsChecked {
		t.Error("RecordsChecked = true, want the records left unread on a damaged file")
	}
}

func TestCheckListsAtMostMaxProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const users = MaxCheckProblems + 50
	batch := make([]User, users)
	for i := range batch {
		id := uint64(i + 1)
		batch[i] = User{ID: id, Username: fmt.Sprintf("user%d", id), Email: fmt.Sprintf("user%d@example.com", id)}
	}
	if err := s.ImportUsers(batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// An empty username index leaves every user without its entry.
	damageFile(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketUserNames); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketUserNames)
		return err
	})

	report, err := Check(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Total != users {
		t.Errorf("Total = %d, want %d", report.Total, users)
	}
	if len(report.Problems) != MaxCheckProblems {
		t.Errorf("listed %d problems, want %d", len(report.Problems), MaxCheckProblems)
	}
}

func TestCheckNewerSchema(t *testing.T) {
	fx := buildCheckFixture(t)
	path := copyFile(t, fx.path)
	damageFile(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchema, itob(schemaVersion+1))
	})

	_, err := Check(path, nil)
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("check of a newer schema: got %v, want an error naming the newer version", err)
	}
}

func TestCheckIDRange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "range.db")
	s, err := Open(path, &Options{IDs: IDRange{First: 1000, Last: 1999}})
	if err != nil {
		t.Fatal(err)
	}
	mustUser(t, s, "inrange")
	// An imported id outside the range leaves the sequence alone.
	if err := s.ImportUsers([]User{{ID: 5000, Username: "outside", Email: "outside@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		ids  IDRange
		ok   bool
	}{
		{name: "store range", ids: IDRange{First: 1000, Last: 1999}, ok: true},
		// Without a range, check reads the one the store recorded.
		{name: "recorded range", ids: IDRange{}, ok: true},
		{name: "another range", ids: IDRange{First: 1, Last: MaxID}, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report, err := Check(path, &Options{IDs: tt.ids})
			if err != nil {
				t.Fatal(err)
			}
			if report.OK() != tt.ok {
				t.Errorf("OK() = %v, want %v; problems:%s", report.OK(), tt.ok, problemList(report))
			}
			for _, p := range report.Problems {
				if p.Kind != ProblemSequence {
					t.Errorf("problem %s, want only sequence problems", p)
				}
			}
		})
	}
}

func TestOpenReadOnly(t *testing.T) {
	fx := buildCheckFixture(t)
	const lockWait = 100 * time.Millisecond

	t.Run("reads and rejects writes", func(t *testing.T) {
		s, err := Open(fx.path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, err := s.GetUser(fx.alice.ID)
		if err != nil || u.Username != "alice" {
			t.Errorf("GetUser = %+v, %v; want alice", u, err)
		}
		if _, err := s.CreateUser(User{Username: "dave", Email: "dave@example.com"}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("CreateUser: got %v, want ErrUnavailable", err)
		}
		if _, err := s.Purge(PurgeFilter{Inactive: true}, false); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Purge: got %v, want ErrUnavailable", err)
		}
		if res, err := s.Purge(PurgeFilter{Inactive: true}, true); err != nil || res.Links != 1 {
			t.Errorf("Purge dry run = %+v, %v; want 1 link", res, err)
		}
		if !errors.Is(s.Err(), ErrUnavailable) {
			t.Errorf("Err() = %v, want ErrUnavailable", s.Err())
		}
	})

	t.Run("shares the lock with readers", func(t *testing.T) {
		first, err := Open(fx.path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		second, err := Open(fx.path, &Options{ReadOnly: true, Timeout: lockWait})
		if err != nil {
			t.Fatalf("second read-only open: %v", err)
		}
		second.Close()
		if _, err := Open(fx.path, &Options{Timeout: lockWait}); !errors.Is(err, ErrInUse) {
			t.Errorf("read-write open beside a reader: got %v, want ErrInUse", err)
		}
	})

	t.Run("fails while a writer holds the file", func(t *testing.T) {
		w, err := Open(fx.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, err := Open(fx.path, &Options{ReadOnly: true, Timeout: lockWait}); !errors.Is(err, ErrInUse) {
			t.Errorf("read-only open: got %v, want ErrInUse", err)
		}
		if _, err := Check(fx.path, &Options{Timeout: lockWait}); !errors.Is(err, ErrInUse) {
			t.Errorf("check: got %v, want ErrInUse", err)
		}
	})

	t.Run("creates no file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		if _, err := Open(path, &Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read-only open of a missing file: got %v, want ErrNotExist", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read-only open created %s: %v", path, err)
		}
	})
}
