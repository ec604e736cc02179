// Package store keeps users, links and events in one bbolt file. It is the
// only package that imports bbolt. Writes are acknowledged only after their
// commit, and concurrent writes share commits.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the buckets that this code reads and
// writes. Opening a file of an older version migrates it.
const schemaVersion = 1

// DefaultOpenTimeout is how long Open waits for the file lock before it
// reports ErrInUse.
const DefaultOpenTimeout = time.Second

// maxBatch is the largest number of writes that share one commit.
const maxBatch = 512

// MaxID is the largest id the store allocates: ids stay exact in a JSON
// number read as a float64.
const MaxID = 1<<53 - 1

// Bucket names.
var (
	bucketMeta        = []byte("meta")
	bucketUsers       = []byte("users")
	bucketUserNames   = []byte("users_by_name")
	bucketUserEmails  = []byte("users_by_email")
	bucketURLs        = []byte("urls")
	bucketURLCodes    = []byte("urls_by_code")
	bucketURLUsers    = []byte("urls_by_user")
	bucketURLInactive = []byte("urls_inactive")
	bucketTombstones  = []byte("tombstones")
	bucketClicks      = []byte("clicks")
	bucketEvents      = []byte("events")
	bucketEventURLs   = []byte("events_by_url")
	bucketEventUsers  = []byte("events_by_user")
	bucketEventTypes  = []byte("events_by_type")
	bucketClickIndex  = []byte("clicks_pending")
)

var allBuckets = [][]byte{
	bucketMeta, bucketUsers, bucketUserNames, bucketUserEmails,
	bucketURLs, bucketURLCodes, bucketURLUsers, bucketURLInactive,
	bucketTombstones, bucketClicks,
	bucketEvents, bucketEventURLs, bucketEventUsers, bucketEventTypes,
	bucketClickIndex,
}

// Keys of the meta bucket.
var (
	metaSchema = []byte("schema")
	metaUsers  = []byte("count_users")
	metaURLs   = []byte("count_urls")
	metaEvents = []byte("count_events")

	// metaIDFirst and metaIDLast record the id range of the last
	// read-write open, so that check and a read-only open of a shard's
	// file or backup know the range its ids were drawn from.
	metaIDFirst = []byte("id_first")
	metaIDLast  = []byte("id_last")
)

// Options configures Open. A nil *Options means the defaults.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file; zero means DefaultOpenTimeout.
	Timeout time.Duration

	// IDs is the range that new ids are drawn from; the zero value means
	// 1 to MaxID.
	IDs IDRange

	// MaxSize caps the size of the file in bytes; a commit that would grow
	// it further fails with ErrNoSpace, as on a full disk. Zero means no
	// cap.
	MaxSize int

	// SpaceProbeInterval is how often a store that returns ErrNoSpace
	// tries a probe commit to find out whether space was freed; zero means
	// DefaultSpaceProbeInterval.
	SpaceProbeInterval time.Duration

	// CodeLength is the length of generated short codes; zero means 6.
	CodeLength int

	// CodeFilter, if set, limits generated short codes to those for which
	// it returns true, such as the codes that a cluster shard owns.
	CodeFilter func(code string) bool

	// RemoteUsers stops CreateURL and UpdateURL from checking that a user
	// id names a local user, because in a cluster users live on other
	// shards and the caller checks them.
	RemoteUsers bool

	// ClickIndexDelay is the longest a recorded click waits for its index
	// entries and click count; zero means DefaultClickIndexDelay.
	ClickIndexDelay time.Duration

	// ReadOnly opens the file for reading only, under a shared lock that
	// other read-only opens may hold at the same time. Open then fails with
	// ErrInUse while a read-write store holds the file, creates no buckets
	// and migrates nothing, and every write returns ErrUnavailable.
	ReadOnly bool
}

// Store is an open database file. It is safe for concurrent use.
type Store struct {
	db         *bolt.DB
	ids        IDRange
	codeLen    int
	readOnly   bool
	probeEvery time.Duration

	// metaProblem is the reason one meta page was invalid at open, or "".
	metaProblem string

	codeFilter  func(string) bool
	remoteUsers bool

	// mu guards closed against sends to writes, so that no write is queued
	// after the writer drained the queue for the last time.
	mu     sync.RWMutex
	closed bool

	writes   chan *write
	stopping chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once

	// failed is the error of the commit that stopped writes, nil while
	// writes are accepted. Only the writer goroutine changes it.
	failed atomic.Pointer[error]

	// commitHook, if set, is called after every commit with its duration
	// and error, for metrics.
	commitHook atomic.Pointer[func(time.Duration, error)]

	// stateHook, if set, is called when writes stop or resume.
	stateHook atomic.Pointer[func(error)]

	// pending is the number of committed clicks not yet indexed, and
	// txPending the same within the transaction that the writer builds.
	// Only the writer goroutine changes them.
	pending    atomic.Int64
	txPending  int64
	indexDelay time.Duration
}

// write is one function waiting for its commit. A write of clicks leaves
// their indexing for later (deferIndex), or, for indexAll, indexes every
// pending click after it. Every other write runs after the pending clicks
// are indexed, so that it finds complete indexes and counts.
type write struct {
	fn         func(*bolt.Tx) error
	done       chan error
	deferIndex bool
	indexAll   bool
}

// Open opens or creates the database file at path and starts its writer.
// It returns an error wrapping ErrInUse when another process holds the file.
// With opts.ReadOnly the file must exist, and no writer starts.
func Open(path string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultOpenTimeout
	}
	ids, err := opts.IDs.normalize()
	if err != nil {
		return nil, err
	}
	codeLen := opts.CodeLength
	if codeLen == 0 {
		codeLen = defaultCodeLength
	}
	if codeLen < 4 || codeLen > maxCodeLength {
		return nil, fmt.Errorf("code length %d is outside 4 to %d", codeLen, maxCodeLength)
	}
	if opts.MaxSize < 0 || opts.SpaceProbeInterval < 0 || opts.ClickIndexDelay < 0 {
		return nil, errors.New("max size, space probe interval and click index delay must not be negative")
	}
	indexDelay := opts.ClickIndexDelay
	if indexDelay == 0 {
		indexDelay = DefaultClickIndexDelay
	}
	probeEvery := opts.SpaceProbeInterval
	if probeEvery == 0 {
		probeEvery = DefaultSpaceProbeInterval
	}

	metaProblem, err := checkFileKind(path)
	if err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout:      timeout,
		MaxSize:      opts.MaxSize,
		FreelistType: bolt.FreelistMapType,
		ReadOnly:     opts.ReadOnly,
	})
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	case errors.As(err, &pathErr):
		return nil, err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), err != nil && strings.HasPrefix(err.Error(), "file size too small"):
		return nil, fmt.Errorf("open %s: %w: it is not a bbolt database file, or both of its meta pages are damaged (%v)", path, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}

	s := &Store{
		db:          db,
		metaProblem: metaProblem,
		ids:         ids,
		codeLen:     codeLen,
		probeEvery:  probeEvery,
		indexDelay:  indexDelay,

		codeFilter:  opts.CodeFilter,
		remoteUsers: opts.RemoteUsers,

		writes:   make(chan *write, maxBatch),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if opts.ReadOnly {
		// No writer runs, so Close has nothing to wait for.
		s.readOnly = true
		close(s.stopped)
		if opts.IDs == (IDRange{}) {
			s.ids = recordedIDs(db, ids)
		}
		return s, nil
	}
	// Clicks left pending by a crash are indexed before any write.
	err = db.Update(func(tx *bolt.Tx) error {
		if _, _, err := indexPendingClicks(tx, 0); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaIDFirst, itob(ids.First)); err != nil {
			return err
		}
		return meta.Put(metaIDLast, itob(ids.Last))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: index pending clicks and record the id range: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

// recordedIDs returns the id range that the file's last read-write open
// recorded, or def for a file that recorded none or a damaged one.
func recordedIDs(db *bolt.DB, def IDRange) (ids IDRange) {
	ids = def
	defer func() {
		if recover() != nil {
			ids = def
		}
	}()
	_ = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		r := IDRange{First: btoi(meta.Get(metaIDFirst)), Last: btoi(meta.Get(metaIDLast))}
		if r.First == 0 || r.Last == 0 {
			return nil
		}
		if n, err := r.normalize(); err == nil {
			ids = n
		}
		return nil
	})
	return ids
}

// checkSchemaVersion rejects a file of a newer schema without writing. A
// missing meta bucket passes, so that Check can open a damaged file and
// report it.
func checkSchemaVersion(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return nil
	}
	if v := btoi(meta.Get(metaSchema)); v > schemaVersion {
		return newerSchemaError(v)
	}
	return nil
}

func newerSchemaError(v uint64) error {
	return fmt.Errorf("file has schema version %d, newer than this binary's %d; upgrade linkbolt", v, schemaVersion)
}

// checkFileKind rejects a path that exists but holds no database. bbolt
// fails unclearly on a directory or a device and waits forever on a named
// pipe. It takes an empty file, which may be a copy cut short, for a new
// database, and reads past the end of a file shorter than its meta page
// counts. For a file it accepts, it returns the reason one meta page is
// invalid, or "".
func checkFileKind(path string) (metaProblem string, err error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil
	case err != nil:
		return "", err
	case !info.Mode().IsRegular():
		return "", fmt.Errorf("open %s: it is %s, not a database file", path, DescribeFileType(info.Mode()))
	case info.Size() == 0:
		return "", fmt.Errorf("open %s: %w: the file is empty, so it is not a linkbolt database; "+
			"remove it to start a new database at this path", path, ErrCorrupt)
	}
	return checkMetaPages(path, info.Size())
}

// checkMetaPages reads the meta pages before bbolt does. It rejects a file
// shorter than the pages that its valid meta page counts, which bbolt
// would read past the end of, and returns the reason one meta page is
// invalid, because bbolt then opens the older commit without a word and
// the first commit writes over the page.
func checkMetaPages(path string, size int64) (metaProblem string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	meta, problem, ok := chooseMeta(f)
	if !ok {
		return "", nil // bbolt's open reports invalid meta pages
	}
	if want := int64(meta.pgid) * int64(meta.pageSize); want > size {
		return "", fmt.Errorf("open %s: %w: the file is %d bytes, but its meta page counts %d pages of %d bytes (%d bytes), "+
			"so it was cut short; restore it from a backup", path, ErrCorrupt, size, meta.pgid, meta.pageSize, want)
	}
	return problem, nil
}

// openBolt opens the file and prepares its buckets. bbolt reads a damaged
// file through its memory map and may then fault or panic; both become an
// error wrapping ErrCorrupt instead of a crash.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)

	db, err = bolt.Open(path, 0o600, o)
	if err != nil {
		return nil, err
	}
	if o.ReadOnly {
		err = db.View(checkSchemaVersion)
	} else {
		err = db.Update(initSchema)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// recoverCorrupt turns a panic of bbolt or of a decoder, or a memory fault
// under debug.SetPanicOnFault, into an error wrapping ErrCorrupt. It must
// be deferred directly.
func recoverCorrupt(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: %w (%v); restore it from a backup", ErrCorrupt, errReadFailed, p)
	}
}

// DescribeFileType names the type of a file that is not a regular one,
// such as "a named pipe", for messages.
func DescribeFileType(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// errReadFailed marks a panic or fault of bbolt on a damaged page, as
// opposed to a file that fails the checks before bbolt reads its pages.
var errReadFailed = errors.New("reading the file failed")

// initSchema creates missing buckets and checks the schema version.
func initSchema(tx *bolt.Tx) error {
	if err := checkForeign(tx); err != nil {
		return err
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := btoi(meta.Get(metaSchema))
	switch {
	case v == 0:
		return meta.Put(metaSchema, itob(schemaVersion))
	case v > schemaVersion:
		return newerSchemaError(v)
	}
	return nil
}

// checkForeign rejects a bbolt file of another program, or one damaged
// where its bucket names are: one that has buckets but not linkbolt's
// meta bucket. A new file has no bucket at all, and linkbolt creates all
// of its buckets in one commit, so a linkbolt file never has some buckets
// without meta. Writing linkbolt's buckets into such a file would change
// another program's data.
func checkForeign(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) != nil {
		return nil
	}
	var names []string
	err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if len(names) < 3 {
			names = append(names, fmt.Sprintf("%q", name))
		}
		return nil
	})
	if err != nil || len(names) == 0 {
		return err
	}
	return fmt.Errorf("%w: it has buckets such as %s, but not linkbolt's meta bucket, "+
		"so it is a bbolt database of another program or a damaged linkbolt file; run linkbolt check on it",
		ErrForeign, strings.Join(names, ", "))
}

// MetaProblem returns the reason one of the file's two meta pages was
// invalid at open, or "". bbolt then opened the file at the other, older
// commit, so the commit that the invalid page held, if any, is lost.
func (s *Store) MetaProblem() string {
	return s.metaProblem
}

// Close stops the writer after the writes already queued and closes the
// file. Writes after Close return ErrUnavailable.
func (s *Store) Close() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stopping)
	})
	<-s.stopped
	return s.db.Close()
}

// Path returns the path of the database file.
func (s *Store) Path() string {
	return s.db.Path()
}

// errReadOnly is the error of every write to a store opened read-only.
var errReadOnly = fmt.Errorf("%w: the file is opened read-only", ErrUnavailable)

// Err returns the error that made the store unavailable, or nil while it
// accepts writes. A read-only store is always unavailable for writes.
func (s *Store) Err() error {
	if s.readOnly {
		return errReadOnly
	}
	if p := s.failed.Load(); p != nil {
		return *p
	}
	select {
	case <-s.stopping:
		return ErrUnavailable
	default:
		return nil
	}
}

// Ping reads the file to check that it can still be read.
func (s *Store) Ping() error {
	return s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("%w: meta bucket missing", ErrCorrupt)
		}
		return nil
	})
}

// SetCommitHook registers fn to be called after every commit with its
// duration and error, probe commits included. It replaces any earlier
// hook. fn runs on the writer goroutine, so it must not write to the store.
func (s *Store) SetCommitHook(fn func(time.Duration, error)) {
	s.commitHook.Store(&fn)
}

// SetStateHook registers fn to be called when a failed commit stops
// writes, with the error that Err returns from then on, and with nil when
// a probe finds space again and writes resume. It replaces any earlier
// hook. fn runs on the writer goroutine, so it must not write to the store.
func (s *Store) SetStateHook(fn func(error)) {
	s.stateHook.Store(&fn)
}

// SpaceProbeInterval returns how often the store probes for free space
// while its writes fail with ErrNoSpace.
func (s *Store) SpaceProbeInterval() time.Duration {
	return s.probeEvery
}

// Size returns the size of the database file in bytes.
func (s *Store) Size() int64 {
	var size int64
	_ = s.view(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return size
}

// Counts returns the number of users, URLs and events.
func (s *Store) Counts() (Counts, error) {
	var c Counts
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		c.Users = btoi(meta.Get(metaUsers))
		c.URLs = btoi(meta.Get(metaURLs))
		c.Events = btoi(meta.Get(metaEvents))
		return nil
	})
	return c, err
}

// addCount adds delta to one of the record counters in meta.
func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	meta := tx.Bucket(bucketMeta)
	n := int64(btoi(meta.Get(key))) + delta
	if n < 0 {
		n = 0
	}
	return meta.Put(key, itob(uint64(n)))
}

// view runs fn in a read transaction. A file that is closed reads as
// ErrUnavailable, and a damaged one as ErrCorrupt rather than a crash, so
// that callers respond 503 rather than 500.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)

	err = s.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// dryRun runs fn in a write transaction of its own and rolls it back, so
// that fn's checks run against the store as it is and nothing is written.
// It waits for the write in progress, as bbolt allows one writer at a time.
func (s *Store) dryRun(fn func(*bolt.Tx) error) (err error) {
	if err := s.Err(); err != nil {
		return err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)

	tx, err := s.db.Begin(true)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return err
	}
	defer tx.Rollback()
	fillAppendedBuckets(tx)
	if _, _, err := indexPendingClicks(tx, 0); err != nil {
		return err
	}
	return fn(tx)
}

// update runs fn in a write transaction shared with other concurrent writes
// and returns once that transaction has committed. fn may run more than once
// (when another write in its batch fails), so it must not act outside tx.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	return s.queue(&write{fn: fn})
}

// queue sends w to the writer and waits for its commit.
func (s *Store) queue(w *write) error {
	if err := s.Err(); err != nil {
		return err
	}
	w.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrUnavailable
	}
	s.writes <- w
	s.mu.RUnlock()
	return <-w.done
}

// commitLoop is the single writer. It takes the first waiting write, adds
// whatever else is already queued, and commits them together: an idle store
// commits a lone write at once, and a busy one shares each commit's two
// fsyncs among many writes. While writes fail with ErrNoSpace it also runs
// a probe every probeEvery.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*write, 0, maxBatch)
	probe := time.NewTimer(s.probeEvery)
	probe.Stop()
	defer probe.Stop()
	var probeDue <-chan time.Time
	index := time.NewTimer(s.indexDelay)
	index.Stop()
	defer index.Stop()
	var indexDue <-chan time.Time
	for {
		select {
		case w := <-s.writes:
			batch = append(batch[:0], w)
			batch = s.fillBatch(batch)
			s.commit(batch)
		case <-indexDue:
			indexDue = nil
			s.commitIndex()
		case <-probeDue:
			s.probeSpace()
			probeDue = nil
		case <-s.stopping:
			s.drainWrites()
			s.commitIndex()
			return
		}
		if probeDue == nil && errors.Is(s.Err(), ErrNoSpace) {
			probe.Reset(s.probeEvery)
			probeDue = probe.C
		}
		if indexDue == nil && s.pending.Load() > 0 {
			index.Reset(s.indexDelay)
			indexDue = index.C
		}
	}
}

// commitIndex commits the index entries and counts of the pending clicks,
// if there are any and the store accepts writes. It cuts them into
// commits of about clickIndexChunk clicks each, so that a commit holds
// the pages of one range of URLs in memory, not of all of them. No other
// write runs between these commits.
func (s *Store) commitIndex() {
	for s.pending.Load() > 0 && s.failed.Load() == nil {
		w := &write{fn: s.indexClickChunk, deferIndex: true, done: make(chan error, 1)}
		s.commit([]*write{w})
		if err := <-w.done; err != nil {
			return
		}
	}
}

// fillBatch appends the writes already queued, without waiting.
func (s *Store) fillBatch(batch []*write) []*write {
	for len(batch) < maxBatch {
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		default:
			return batch
		}
	}
	return batch
}

// drainWrites commits the writes queued before Close.
func (s *Store) drainWrites() {
	batch := s.fillBatch(nil)
	for len(batch) > 0 {
		s.commit(batch)
		batch = s.fillBatch(batch[:0])
	}
}

// commit runs a batch in one transaction. A write whose function fails
// gets its error and the rest run again without it, so one bad request
// never fails the others.
func (s *Store) commit(batch []*write) {
	for len(batch) > 0 {
		if err := s.failed.Load(); err != nil {
			replyAll(batch, *err)
			return
		}

		failed := -1
		var fnErr error
		start := time.Now()
		s.txPending = s.pending.Load()
		err := s.commitTx(func(tx *bolt.Tx) error {
			fillAppendedBuckets(tx)
			indexAll := false
			for i, w := range batch {
				err := s.indexClicksBefore(tx, w)
				if err == nil {
					err = runWrite(w.fn, tx)
				}
				if err != nil {
					failed, fnErr = i, err
					return err
				}
				indexAll = indexAll || w.indexAll
			}
			if indexAll || s.txPending > maxPendingClicks {
				return s.indexClicks(tx)
			}
			return nil
		})
		if failed < 0 {
			s.afterCommit(time.Since(start), err)
		}

		switch {
		case err == nil:
			s.pending.Store(s.txPending)
			replyAll(batch, nil)
			return
		case failed >= 0:
			batch[failed].done <- fnErr
			batch = append(batch[:failed], batch[failed+1:]...)
		default:
			// The commit itself failed, so later writes are refused at
			// once: until a probe finds space for a full disk, and until a
			// restart for any other failure.
			err = s.stopWrites(err)
			replyAll(batch, err)
			return
		}
	}
}

// indexClicksBefore indexes the pending clicks before w, unless w is a
// write of clicks.
func (s *Store) indexClicksBefore(tx *bolt.Tx, w *write) error {
	if w.deferIndex {
		return nil
	}
	return s.indexClicks(tx)
}

// appendedBuckets are the buckets whose new keys mostly sort after all
// the keys before them: records by id, which grows, and events by type
// and id. bbolt fills a page only to its FillPercent when it splits one,
// and the default of one half leaves half of these pages empty for good.
var appendedBuckets = [][]byte{bucketURLs, bucketUsers, bucketEvents, bucketEventTypes, bucketClickIndex}

// fillAppendedBuckets lets the appended buckets fill their pages before
// a split. bbolt keeps the setting for the rest of tx.
func fillAppendedBuckets(tx *bolt.Tx) {
	for _, name := range appendedBuckets {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = 1
		}
	}
}

// commitTx runs fn in a bbolt write transaction. A damaged page can make
// bbolt panic or fault while it commits. bbolt then rolls the transaction
// back, and commitTx returns ErrCorrupt instead of ending the process.
func (s *Store) commitTx(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverCorrupt(&err)
	return s.db.Update(fn)
}

// runWrite runs one write of a batch, and turns a panic or fault on a
// damaged page into ErrCorrupt for that write alone, so that the other
// writes of the batch commit without it.
func runWrite(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer recoverCorrupt(&err)
	return fn(tx)
}

func (s *Store) afterCommit(d time.Duration, err error) {
	if hook := s.commitHook.Load(); hook != nil {
		(*hook)(d, err)
	}
}

func (s *Store) afterStateChange(err error) {
	if hook := s.stateHook.Load(); hook != nil {
		(*hook)(err)
	}
}

func replyAll(batch []*write, err error) {
	for _, w := range batch {
		w.done <- err
	}
}
