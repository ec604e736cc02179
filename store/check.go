package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// MaxCheckProblems is the number of problems that a CheckReport lists.
// CheckReport.Total counts the rest as well.
const MaxCheckProblems = 100

// ProblemKind is the class of an inconsistency that Check finds.
type ProblemKind string

// Kinds of problems that Check reports.
const (
	// ProblemFile is damage to bbolt's own structures (pages, freelist,
	// branch order) or a read of the file that failed.
	ProblemFile ProblemKind = "file"

	// ProblemBucket is a bucket of the schema that is missing. The record
	// and index checks are skipped when one is.
	ProblemBucket ProblemKind = "bucket"

	// ProblemSchema is a schema version that is missing or not the one
	// this binary writes.
	ProblemSchema ProblemKind = "schema"

	// ProblemRecord is a record whose key is not a valid id or whose value
	// does not decode.
	ProblemRecord ProblemKind = "record"

	// ProblemIndex is an index entry that is malformed, points to no
	// record, or points to a record whose field has another value.
	ProblemIndex ProblemKind = "index"

	// ProblemMissingIndex is a record without one of its index entries.
	ProblemMissingIndex ProblemKind = "missing_index"

	// ProblemTombstone is a short code that is both live and a tombstone,
	// or a tombstone whose value is not a URL id.
	ProblemTombstone ProblemKind = "tombstone"

	// ProblemClickCount is a click count of a URL that does not exist, or
	// one that is not an 8-byte counter.
	ProblemClickCount ProblemKind = "click_count"

	// ProblemCount is a record count in the meta bucket that differs from
	// the number of records.
	ProblemCount ProblemKind = "count"

	// ProblemSequence is a bucket sequence below the highest id of that
	// bucket inside the id range, so that a new record would take the id
	// of an existing one.
	ProblemSequence ProblemKind = "sequence"
)

// Problem is one inconsistency found by Check.
type Problem struct {
	Kind ProblemKind

	// Bucket is the bucket where the problem was found; empty for the file
	// as a whole.
	Bucket string

	// Message names the keys, ids and values at fault.
	Message string
}

// String returns the kind, the bucket and the message on one line.
func (p Problem) String() string {
	if p.Bucket == "" {
		return fmt.Sprintf("%s: %s", p.Kind, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", p.Kind, p.Bucket, p.Message)
}

// CheckReport is the result of Check.
type CheckReport struct {
	// SchemaVersion is the version stored in the file; zero when missing.
	SchemaVersion uint64

	// Size is the size of the file in bytes.
	Size int64

	// Records counts the user, URL and event records that were read.
	Records Counts

	// PendingClicks counts the click events whose index entries by URL
	// and by user and click counts are not yet written, after a crash. The
	// next read-write open writes them; until then the check expects them
	// missing.
	PendingClicks int

	// RecordsChecked is false when damage to bbolt's structures or a
	// missing bucket stopped the check before it read the records.
	RecordsChecked bool

	// Problems lists the first MaxCheckProblems problems in the order
	// found.
	Problems []Problem

	// Total counts every problem found, listed or not.
	Total int
}

// OK reports whether Check found no problem.
func (r *CheckReport) OK() bool {
	return r.Total == 0
}

// Check opens the file at path read-only and verifies it. It checks:
//   - bbolt's own consistency, the schema version and that every record
//     decodes;
//   - that every index entry points to a record with the indexed value,
//     and every record has its index entries;
//   - that no short code is both live and a tombstone;
//   - that click counts exist only for existing URLs and equal their click
//     events that are not from bots;
//   - that the counts in meta equal the records;
//   - that each bucket sequence is at least the highest id of its bucket
//     inside opts.IDs (the default range when opts is nil).
//
// URLs and events whose user or URL id names no record pass, because
// imports keep such ids and the events of deleted links stay. When bbolt's
// own check fails, the records are not read, because bbolt can panic or
// fault on the damaged pages.
//
// Damage is returned in the report. The error is non-nil only when the file
// cannot be opened: it wraps ErrInUse while a read-write store, such as a
// running server, holds the file.
func Check(path string, opts *Options) (CheckReport, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.ReadOnly = true
	// The stat comes first because its error names a missing file once,
	// where the error of Open names it twice.
	info, err := os.Stat(path)
	if err != nil {
		return CheckReport{}, err
	}
	s, err := Open(path, &o)
	if errors.Is(err, errReadFailed) {
		// bbolt stopped at damage while it opened the file. The page walk
		// reads the file without bbolt and lists what it finds.
		if problems, _, scanErr := scanPages(path); scanErr == nil && len(problems) > 0 {
			report := CheckReport{Size: info.Size()}
			for _, p := range problems {
				report.add(ProblemFile, nil, "%s", p)
			}
			return report, nil
		}
	}
	if err != nil {
		return CheckReport{}, err
	}
	defer s.Close()

	report := CheckReport{Size: info.Size()}
	pageProblems, damaged, err := scanPages(path)
	if err != nil {
		return CheckReport{}, err
	}
	for _, p := range pageProblems {
		report.add(ProblemFile, nil, "%s", p)
	}
	if damaged {
		return report, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		c := &checker{tx: tx, ids: s.ids, report: &report}
		c.run()
		return nil
	})
	return report, err
}

// checker walks one read transaction and collects problems.
type checker struct {
	tx      *bolt.Tx
	ids     IDRange
	report  *CheckReport
	pending map[uint64]pendingClick
}

func (c *checker) add(kind ProblemKind, bucket []byte, format string, args ...any) {
	c.report.add(kind, bucket, format, args...)
}

func (r *CheckReport) add(kind ProblemKind, bucket []byte, format string, args ...any) {
	r.Total++
	if len(r.Problems) < MaxCheckProblems {
		p := Problem{Kind: kind, Bucket: string(bucket), Message: fmt.Sprintf(format, args...)}
		r.Problems = append(r.Problems, p)
	}
}

func (c *checker) run() {
	before := c.report.Total
	for err := range c.tx.Check() {
		c.add(ProblemFile, nil, "%s", boltCheckMessage(err))
	}
	if c.report.Total > before || !c.checkBuckets() {
		return
	}
	c.checkSchema()
	c.report.RecordsChecked = true

	// A panic while reading the records, inside bbolt or in a decoder, is
	// reported as one more problem instead of ending the program.
	defer func() {
		if r := recover(); r != nil {
			c.add(ProblemFile, nil, "reading the records stopped: %v", r)
		}
	}()

	c.readPending()
	c.checkUsers()
	c.checkURLs()
	c.checkEvents()
	for _, ix := range c.pairIndexes() {
		c.checkPairIndex(ix)
	}
	c.checkCodes()
	c.checkInactive()
	c.checkTombstones()
	c.checkClicks()
}

// checkBuckets reports each missing bucket and returns whether all exist.
func (c *checker) checkBuckets() bool {
	ok := true
	for _, name := range allBuckets {
		// A file written before clicks were indexed late has no bucket of
		// pending clicks until its next read-write open.
		if c.tx.Bucket(name) == nil && !bytes.Equal(name, bucketClickIndex) {
			c.add(ProblemBucket, name, "bucket is missing")
			ok = false
		}
	}
	return ok
}

func (c *checker) checkSchema() {
	v := c.tx.Bucket(bucketMeta).Get(metaSchema)
	switch {
	case v == nil:
		c.add(ProblemSchema, bucketMeta, "schema version is missing")
	case len(v) != 8:
		c.add(ProblemSchema, bucketMeta, "schema version %x is not an 8-byte integer", v)
	case btoi(v) != schemaVersion:
		c.report.SchemaVersion = btoi(v)
		c.add(ProblemSchema, bucketMeta, "schema version is %d, want %d", btoi(v), schemaVersion)
	default:
		c.report.SchemaVersion = btoi(v)
	}
}

// recordBucket is a bucket of records keyed by id, with its count in meta.
type recordBucket struct {
	name     []byte
	countKey []byte
	noun     string
}

// scanRecords calls fn with every record of rb whose key is 8 bytes long,
// then checks the count in meta and the bucket sequence against those
// records. It returns their number.
func (c *checker) scanRecords(rb recordBucket, fn func(id uint64, v []byte)) uint64 {
	b := c.tx.Bucket(rb.name)
	var n, highest uint64
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v == nil {
			c.add(ProblemRecord, rb.name, "key %x is a nested bucket, want a record", k)
			continue
		}
		if len(k) != 8 {
			c.add(ProblemRecord, rb.name, "key %x is not an 8-byte id", k)
			continue
		}
		n++
		id := btoi(k)
		if id == 0 || id > MaxID {
			c.add(ProblemRecord, rb.name, "%s id %d is outside 1 to %d", rb.noun, id, uint64(MaxID))
		}
		if id >= c.ids.First && id <= c.ids.Last {
			highest = max(highest, id)
		}
		fn(id, v)
	}

	c.checkCount(rb, n)
	if seq := b.Sequence(); seq < highest {
		c.add(ProblemSequence, rb.name, "sequence is %d, below %s %d in the id range %d to %d, so a new %s would reuse an id",
			seq, rb.noun, highest, c.ids.First, c.ids.Last, rb.noun)
	}
	return n
}

func (c *checker) checkCount(rb recordBucket, n uint64) {
	v := c.tx.Bucket(bucketMeta).Get(rb.countKey)
	switch {
	case v != nil && len(v) != 8:
		c.add(ProblemCount, bucketMeta, "%s is %x, not an 8-byte integer", rb.countKey, v)
	case btoi(v) != n:
		c.add(ProblemCount, bucketMeta, "%s is %d, but bucket %s has %d records", rb.countKey, btoi(v), rb.name, n)
	}
}

var (
	userRecords  = recordBucket{name: bucketUsers, countKey: metaUsers, noun: "user"}
	urlRecords   = recordBucket{name: bucketURLs, countKey: metaURLs, noun: "url"}
	eventRecords = recordBucket{name: bucketEvents, countKey: metaEvents, noun: "event"}
)

// checkUsers checks that every user decodes and has its username and email
// index entries.
func (c *checker) checkUsers() {
	names, emails := c.tx.Bucket(bucketUserNames), c.tx.Bucket(bucketUserEmails)
	c.report.Records.Users = c.scanRecords(userRecords, func(id uint64, v []byte) {
		u, err := decodeUser(id, v)
		if err == nil && !bytes.Equal(encodeUser(&u), v) {
			err = errTrailing
		}
		if err != nil {
			c.add(ProblemRecord, bucketUsers, "user %d does not decode: %s", id, decodeReason(err))
			return
		}
		if names.Get(pairKey(foldKey(u.Username), id)) == nil {
			c.add(ProblemMissingIndex, bucketUserNames, "user %d has no entry for username %q", id, u.Username)
		}
		if emails.Get(pairKey(foldKey(u.Email), id)) == nil {
			c.add(ProblemMissingIndex, bucketUserEmails, "user %d has no entry for email %q", id, u.Email)
		}
	})
}

// checkURLs checks that every URL decodes and has its code, owner and
// inactive index entries.
func (c *checker) checkURLs() {
	codes, owners, inactive := c.tx.Bucket(bucketURLCodes), c.tx.Bucket(bucketURLUsers), c.tx.Bucket(bucketURLInactive)
	c.report.Records.URLs = c.scanRecords(urlRecords, func(id uint64, v []byte) {
		u, err := decodeURL(id, v)
		if err == nil && !bytes.Equal(encodeURL(&u), v) {
			err = errTrailing
		}
		if err != nil {
			c.add(ProblemRecord, bucketURLs, "url %d does not decode: %s", id, decodeReason(err))
			return
		}

		holder := codes.Get([]byte(u.ShortCode))
		switch {
		case holder == nil:
			c.add(ProblemMissingIndex, bucketURLCodes, "url %d has no entry for short code %q", id, u.ShortCode)
		case btoi(holder) != id:
			c.add(ProblemIndex, bucketURLCodes, "short code %q of url %d points to url %d", u.ShortCode, id, btoi(holder))
		}
		if u.UserID != 0 && owners.Get(pairKey(itob(u.UserID), id)) == nil {
			c.add(ProblemMissingIndex, bucketURLUsers, "url %d has no entry for its owner, user %d", id, u.UserID)
		}
		if !u.IsActive && inactive.Get(itob(id)) == nil {
			c.add(ProblemMissingIndex, bucketURLInactive, "url %d is inactive but has no entry", id)
		}
	})
}

// checkEvents checks that every event decodes, which includes that its
// details are a JSON object, and has its URL, user and type index entries.
func (c *checker) checkEvents() {
	byURL, byUser, byType := c.tx.Bucket(bucketEventURLs), c.tx.Bucket(bucketEventUsers), c.tx.Bucket(bucketEventTypes)
	c.report.Records.Events = c.scanRecords(eventRecords, func(id uint64, v []byte) {
		ev, err := decodeEvent(id, v)
		if err == nil && !bytes.Equal(encodeEvent(&ev), v) {
			err = errTrailing
		}
		if err != nil {
			c.add(ProblemRecord, bucketEvents, "event %d does not decode: %s", id, decodeReason(err))
			return
		}

		if p, ok := c.pending[id]; ok {
			if ev.Type != EventClick || ev.URLID != p.url || ev.UserID != p.user || countsAsClick(&ev) == p.bot {
				c.add(ProblemIndex, bucketClickIndex, "pending click of event %d (url %d, user %d, bot %t) does not match the event", id, p.url, p.user, p.bot)
			}
		} else {
			if byURL.Get(pairKey(itob(ev.URLID), id)) == nil {
				c.add(ProblemMissingIndex, bucketEventURLs, "event %d has no entry for url %d", id, ev.URLID)
			}
			if ev.UserID != 0 && byUser.Get(pairKey(itob(ev.UserID), id)) == nil {
				c.add(ProblemMissingIndex, bucketEventUsers, "event %d has no entry for user %d", id, ev.UserID)
			}
		}
		if byType.Get(pairKey([]byte(ev.Type), id)) == nil {
			c.add(ProblemMissingIndex, bucketEventTypes, "event %d has no entry for type %q", id, ev.Type)
		}
	})
	events := c.tx.Bucket(bucketEvents)
	for _, id := range slices.Sorted(maps.Keys(c.pending)) {
		if events.Get(itob(id)) == nil {
			c.add(ProblemIndex, bucketClickIndex, "pending click of event %d names no event", id)
		}
	}
}

// readPending reads the clicks that wait to be indexed. Their events are
// checked against them and left out of the click counts.
func (c *checker) readPending() {
	set, err := readPendingClicks(c.tx)
	if err != nil {
		c.add(ProblemRecord, bucketClickIndex, "%v", err)
	}
	c.report.PendingClicks = len(set.clicks)
	c.pending = make(map[uint64]pendingClick, len(set.clicks))
	for _, p := range set.clicks {
		c.pending[p.event] = p
	}
}

// errTrailing marks a record that decodes but whose bytes differ from its
// encoding, such as one with bytes after the last field.
var errTrailing = fmt.Errorf("%w: bytes differ from the encoding of the decoded fields", ErrCorrupt)

// decodeReason returns why a record does not decode, without the name of
// the record, which a check report gives in its own words.
func decodeReason(err error) string {
	var de *decodeError
	if errors.As(err, &de) {
		return de.reason
	}
	return err.Error()
}

// lookup is the outcome of reading the record that an index entry points
// to.
type lookup int

const (
	recordFound lookup = iota
	recordMissing

	// recordBroken is a record that does not decode; the record scan
	// reported it already.
	recordBroken
)

func (c *checker) user(id uint64) (User, lookup) {
	v := c.tx.Bucket(bucketUsers).Get(itob(id))
	if v == nil {
		return User{}, recordMissing
	}
	u, err := decodeUser(id, v)
	if err != nil || !bytes.Equal(encodeUser(&u), v) {
		return u, recordBroken
	}
	return u, recordFound
}

func (c *checker) url(id uint64) (URL, lookup) {
	v := c.tx.Bucket(bucketURLs).Get(itob(id))
	if v == nil {
		return URL{}, recordMissing
	}
	u, err := decodeURL(id, v)
	if err != nil || !bytes.Equal(encodeURL(&u), v) {
		return u, recordBroken
	}
	return u, recordFound
}

func (c *checker) event(id uint64) (Event, lookup) {
	v := c.tx.Bucket(bucketEvents).Get(itob(id))
	if v == nil {
		return Event{}, recordMissing
	}
	ev, err := decodeEvent(id, v)
	if err != nil || !bytes.Equal(encodeEvent(&ev), v) {
		return ev, recordBroken
	}
	return ev, recordFound
}

// pairIndex is a composite index: each key is a value followed by the
// 8-byte id of the record that has it.
type pairIndex struct {
	name []byte
	noun string // the kind of record the ids name
	what string // the indexed field

	// idPrefix is set when the value is itself an 8-byte id.
	idPrefix bool

	// value returns the value the record with the id has, or nil when the
	// record has no entry in this index.
	value func(id uint64) ([]byte, lookup)
}

func (c *checker) pairIndexes() []pairIndex {
	ownerKey := func(owner uint64) []byte {
		if owner == 0 {
			return nil
		}
		return itob(owner)
	}
	return []pairIndex{
		{name: bucketUserNames, noun: "user", what: "username", value: func(id uint64) ([]byte, lookup) {
			u, l := c.user(id)
			return foldKey(u.Username), l
		}},
		{name: bucketUserEmails, noun: "user", what: "email", value: func(id uint64) ([]byte, lookup) {
			u, l := c.user(id)
			return foldKey(u.Email), l
		}},
		{name: bucketURLUsers, noun: "url", what: "user_id", idPrefix: true, value: func(id uint64) ([]byte, lookup) {
			u, l := c.url(id)
			return ownerKey(u.UserID), l
		}},
		{name: bucketEventURLs, noun: "event", what: "url_id", idPrefix: true, value: func(id uint64) ([]byte, lookup) {
			ev, l := c.event(id)
			return itob(ev.URLID), l
		}},
		{name: bucketEventUsers, noun: "event", what: "user_id", idPrefix: true, value: func(id uint64) ([]byte, lookup) {
			ev, l := c.event(id)
			return ownerKey(ev.UserID), l
		}},
		{name: bucketEventTypes, noun: "event", what: "event_type", value: func(id uint64) ([]byte, lookup) {
			ev, l := c.event(id)
			return []byte(ev.Type), l
		}},
	}
}

// checkPairIndex checks that every entry of ix points to an existing record
// that has the entry's value.
func (c *checker) checkPairIndex(ix pairIndex) {
	show := func(v []byte) string {
		if ix.idPrefix {
			return fmt.Sprint(btoi(v))
		}
		return fmt.Sprintf("%q", v)
	}
	cur := c.tx.Bucket(ix.name).Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v == nil || len(k) < 8 || ix.idPrefix && len(k) != 16 {
			c.add(ProblemIndex, ix.name, "key %x is malformed", k)
			continue
		}
		value, id := k[:len(k)-8], btoi(k[len(k)-8:])
		want, found := ix.value(id)
		switch {
		case found == recordMissing:
			c.add(ProblemIndex, ix.name, "entry %s points to %s %d, which does not exist", show(value), ix.noun, id)
		case found == recordBroken:
		case want == nil:
			c.add(ProblemIndex, ix.name, "entry %s points to %s %d, which has no %s", show(value), ix.noun, id, ix.what)
		case !bytes.Equal(value, want):
			c.add(ProblemIndex, ix.name, "entry %s points to %s %d, whose %s is %s", show(value), ix.noun, id, ix.what, show(want))
		}
	}
}

// checkCodes checks that every short code points to a URL with that code.
func (c *checker) checkCodes() {
	cur := c.tx.Bucket(bucketURLCodes).Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(v) != 8 {
			c.add(ProblemIndex, bucketURLCodes, "entry %q has value %x, not an 8-byte url id", k, v)
			continue
		}
		u, found := c.url(btoi(v))
		switch {
		case found == recordMissing:
			c.add(ProblemIndex, bucketURLCodes, "entry %q points to url %d, which does not exist", k, btoi(v))
		case found == recordFound && u.ShortCode != string(k):
			c.add(ProblemIndex, bucketURLCodes, "entry %q points to url %d, whose short code is %q", k, btoi(v), u.ShortCode)
		}
	}
}

// checkInactive checks that every entry names an existing inactive URL.
func (c *checker) checkInactive() {
	cur := c.tx.Bucket(bucketURLInactive).Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v == nil || len(k) != 8 {
			c.add(ProblemIndex, bucketURLInactive, "key %x is malformed", k)
			continue
		}
		u, found := c.url(btoi(k))
		switch {
		case found == recordMissing:
			c.add(ProblemIndex, bucketURLInactive, "entry points to url %d, which does not exist", btoi(k))
		case found == recordFound && u.IsActive:
			c.add(ProblemIndex, bucketURLInactive, "entry points to url %d, which is active", btoi(k))
		}
	}
}

// checkTombstones checks that no tombstone is also a live short code.
func (c *checker) checkTombstones() {
	codes := c.tx.Bucket(bucketURLCodes)
	cur := c.tx.Bucket(bucketTombstones).Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(v) != 8 {
			c.add(ProblemTombstone, bucketTombstones, "tombstone %q has value %x, not an 8-byte url id", k, v)
			continue
		}
		if holder := codes.Get(k); holder != nil {
			c.add(ProblemTombstone, bucketTombstones, "short code %q of deleted url %d is live again for url %d", k, btoi(v), btoi(holder))
		}
	}
}

// checkClicks checks that every click count belongs to an existing URL and
// equals the number of that URL's click events that are not from bots.
func (c *checker) checkClicks() {
	want := c.clickEvents()
	urls := c.tx.Bucket(bucketURLs)
	cur := c.tx.Bucket(bucketClicks).Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if len(k) != 8 || len(v) != 8 {
			c.add(ProblemClickCount, bucketClicks, "entry %x = %x is not an 8-byte url id and count", k, v)
			if len(k) == 8 {
				delete(want, btoi(k))
			}
			continue
		}
		id := btoi(k)
		if urls.Get(k) == nil {
			c.add(ProblemClickCount, bucketClicks, "click count %d belongs to url %d, which does not exist", btoi(v), id)
			continue
		}
		if n := want[id]; btoi(v) != n {
			c.add(ProblemClickCount, bucketClicks, "click count of url %d is %d, but it has %d click events not from bots", id, btoi(v), n)
		}
		delete(want, id)
	}
	for id, n := range want {
		if urls.Get(itob(id)) != nil {
			c.add(ProblemClickCount, bucketClicks, "url %d has %d click events not from bots but no click count", id, n)
		}
	}
}

// clickEvents counts the click events that are not from bots, per URL.
func (c *checker) clickEvents() map[uint64]uint64 {
	counts := make(map[uint64]uint64)
	prefix := []byte(EventClick)
	scanPrefix(c.tx.Bucket(bucketEventTypes), prefix, func(id uint64) bool {
		if _, ok := c.pending[id]; ok {
			return true
		}
		if ev, found := c.event(id); found == recordFound && countsAsClick(&ev) {
			counts[ev.URLID]++
		}
		return true
	})
	return counts
}

// boltCheckMessage words an error of bbolt's check. bbolt turns a panic
// inside its check, on a damaged page, into an error that reads
// "panic: ..." or as a runtime error.
func boltCheckMessage(err error) string {
	msg := err.Error()
	if fmt.Sprintf("%T", err) == "bbolt.panicked" {
		return "the page check stopped on damaged data: " + strings.TrimPrefix(msg, "panic: ")
	}
	return msg
}
