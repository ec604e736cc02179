package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt reads its file through a memory map and trusts the sizes and
// offsets written in each page. A damaged page can point outside the map,
// and a read there is a fault in a goroutine that bbolt starts, which no
// recover can catch. So Check and Compact first read the file with
// ReadAt and verify the bounds of every page that bbolt's own check would
// visit. The layout below is bbolt's file format, version 2.

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderLen    = 16
	pageElementLen   = 16
	bucketHeaderLen  = 16
	metaChecksumAt   = 56 // bytes of the meta fields before the checksum
	metaLen          = 64
	branchPage       = 0x01
	leafPage         = 0x02
	freelistPage     = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	maxBucketNesting = 64
)

// fileMeta is the part of a meta page that the page walk needs.
type fileMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// readMeta reads and validates the meta page at off. It returns the reason
// the page is invalid, or an empty string.
func readMeta(f io.ReaderAt, off int64) (fileMeta, string) {
	buf := make([]byte, pageHeaderLen+metaLen)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fileMeta{}, fmt.Sprintf("it cannot be read (%v)", err)
	}
	b := buf[pageHeaderLen:]
	le := binary.NativeEndian
	m := fileMeta{
		pageSize: le.Uint32(b[8:]),
		root:     le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]),
		pgid:     le.Uint64(b[40:]),
		txid:     le.Uint64(b[48:]),
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksumAt])
	switch {
	case le.Uint32(b) != boltMagic:
		return m, "its magic number is wrong"
	case le.Uint32(b[4:]) != boltVersion:
		return m, fmt.Sprintf("its format version is %d, want %d", le.Uint32(b[4:]), boltVersion)
	case le.Uint64(b[metaChecksumAt:]) != h.Sum64():
		return m, "its checksum does not match"
	case m.pageSize < 512 || m.pageSize > 16<<20 || m.pageSize&(m.pageSize-1) != 0:
		return m, fmt.Sprintf("its page size %d is not a power of 2 from 512 to 16 MiB", m.pageSize)
	}
	return m, ""
}

// pageScan walks the pages of one file.
type pageScan struct {
	f        io.ReaderAt
	size     int64
	meta     fileMeta
	visited  map[uint64]bool
	problems []string
	damaged  bool // a page lies or points outside its bounds
}

func (s *pageScan) fail(format string, args ...any) {
	s.damaged = true
	if len(s.problems) < MaxCheckProblems {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// scanPages verifies the meta pages of the file at path and the bounds of
// every page reachable from the newest valid one. It returns the problems
// found, and whether any of them is damage that bbolt must not read. A meta
// page that fails validation is a problem but not such damage, because
// bbolt then opens the file at the other meta page.
func scanPages(path string) (problems []string, damaged bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	s := &pageScan{f: f, size: info.Size(), visited: make(map[uint64]bool)}

	meta, problem, ok := chooseMeta(f)
	if !ok {
		s.fail("%s", problem)
		return s.problems, true, nil
	}
	s.meta = meta
	if problem != "" {
		s.problems = append(s.problems, problem)
	}

	ps := int64(s.meta.pageSize)
	if s.meta.pgid < 2 || s.meta.pgid > uint64(s.size/ps) {
		s.fail("the meta page counts %d pages of %d bytes, but the file holds %d bytes", s.meta.pgid, ps, s.size)
		return s.problems, true, nil
	}
	s.scanFreelist()
	s.scanBucket(s.meta.root, "root bucket", 0)
	return s.problems, s.damaged, nil
}

// chooseMeta reads both meta pages of f and returns the one bbolt opens
// the file at: the valid one with the larger transaction id. problem gives
// the reason a meta page is invalid, and ok is false when both are.
func chooseMeta(f io.ReaderAt) (meta fileMeta, problem string, ok bool) {
	m0, bad0 := readMeta(f, 0)
	m1, bad1 := fileMeta{}, ""
	if bad0 == "" {
		m1, bad1 = readMeta(f, int64(m0.pageSize))
	} else {
		// Without the page size of meta page 0, bbolt looks for meta
		// page 1 at each page size from 1 KiB to 16 MiB.
		for size := int64(1024); size <= 16<<20; size *= 2 {
			if m1, bad1 = readMeta(f, size); bad1 == "" && int64(m1.pageSize) == size {
				break
			}
		}
	}
	switch {
	case bad0 != "" && bad1 != "":
		return fileMeta{}, fmt.Sprintf("both meta pages are invalid: page 0 because %s, page 1 because %s", bad0, bad1), false
	case bad0 != "":
		return m1, lostCommit(0, bad0, 1, m1.txid), true
	case bad1 != "":
		return m0, lostCommit(1, bad1, 0, m0.txid), true
	case m1.txid > m0.txid:
		return m1, "", true
	}
	return m0, "", true
}

func lostCommit(bad int, reason string, good int, txid uint64) string {
	return fmt.Sprintf("meta page %d is invalid because %s, so the file opens at transaction %d of meta page %d. "+
		"If meta page %d held a later commit, that commit is lost; a crash during a commit can leave this, and the next write replaces the page",
		bad, reason, txid, good, bad)
}

// readPage reads page id with its overflow pages, or reports the failure.
// owner names the bucket or structure of the page, for the messages.
func (s *pageScan) readPage(id uint64, owner string) []byte {
	if id < 2 || id >= s.meta.pgid {
		s.fail("%s points to page %d, outside pages 2 to %d", owner, id, s.meta.pgid-1)
		return nil
	}
	ps := int64(s.meta.pageSize)
	head := make([]byte, pageHeaderLen)
	if _, err := s.f.ReadAt(head, int64(id)*ps); err != nil {
		s.fail("page %d of %s cannot be read: %v", id, owner, err)
		return nil
	}
	overflow := uint64(binary.NativeEndian.Uint32(head[12:]))
	if id+overflow >= s.meta.pgid {
		s.fail("page %d of %s has %d overflow pages, past the last page %d", id, owner, overflow, s.meta.pgid-1)
		return nil
	}
	buf := make([]byte, int64(overflow+1)*ps)
	if _, err := s.f.ReadAt(buf, int64(id)*ps); err != nil && !errors.Is(err, io.EOF) {
		s.fail("page %d of %s cannot be read: %v", id, owner, err)
		return nil
	}
	return buf
}

func (s *pageScan) scanFreelist() {
	if s.meta.freelist == noFreelist {
		return
	}
	p := s.readPage(s.meta.freelist, "the freelist")
	if p == nil {
		return
	}
	if flags := binary.NativeEndian.Uint16(p[8:]); flags != freelistPage {
		s.fail("freelist page %d has type %#x, want %#x", s.meta.freelist, flags, freelistPage)
		return
	}
	count, start := uint64(binary.NativeEndian.Uint16(p[10:])), uint64(pageHeaderLen)
	if count == 0xFFFF {
		count, start = binary.NativeEndian.Uint64(p[pageHeaderLen:]), pageHeaderLen+8
	}
	if count > (uint64(len(p))-start)/8 {
		s.fail("freelist page %d lists %d page ids, more than its %d bytes hold", s.meta.freelist, count, len(p))
	}
}

// scanBucket walks the pages of the bucket whose root is page id.
func (s *pageScan) scanBucket(id uint64, owner string, depth int) {
	if depth > maxBucketNesting {
		s.fail("%s is nested more than %d buckets deep", owner, maxBucketNesting)
		return
	}
	if s.visited[id] {
		s.fail("page %d of %s is reached twice", id, owner)
		return
	}
	s.visited[id] = true
	p := s.readPage(id, owner)
	if p == nil {
		return
	}
	children, ok := s.scanElements(p, fmt.Sprintf("page %d of %s", id, owner), depth)
	if !ok {
		return
	}
	for _, child := range children {
		if len(s.problems) >= MaxCheckProblems {
			return
		}
		s.scanBucket(child, owner, depth)
	}
}

// scanElements checks that the elements of page p lie inside it, walks
// the buckets that a leaf holds, and returns the children of a branch.
func (s *pageScan) scanElements(p []byte, where string, depth int) (children []uint64, ok bool) {
	if len(p) < pageHeaderLen {
		s.fail("%s is %d bytes, shorter than a page header", where, len(p))
		return nil, false
	}
	le := binary.NativeEndian
	flags, count := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if flags != branchPage && flags != leafPage {
		s.fail("%s has type %#x, want a branch or a leaf", where, flags)
		return nil, false
	}
	if pageHeaderLen+count*pageElementLen > len(p) {
		s.fail("%s has %d elements, more than its %d bytes hold", where, count, len(p))
		return nil, false
	}
	for i := range count {
		at := pageHeaderLen + i*pageElementLen
		e := p[at : at+pageElementLen]
		if flags == branchPage {
			pos, ksize := int64(le.Uint32(e)), int64(le.Uint32(e[4:]))
			if int64(at)+pos+ksize > int64(len(p)) {
				s.fail("key %d of %s lies past the end of the page", i, where)
				return nil, false
			}
			children = append(children, le.Uint64(e[8:]))
			continue
		}
		eflags, pos := le.Uint32(e), int64(le.Uint32(e[4:]))
		ksize, vsize := int64(le.Uint32(e[8:])), int64(le.Uint32(e[12:]))
		start := int64(at) + pos
		if start+ksize+vsize > int64(len(p)) {
			s.fail("key %d of %s lies past the end of the page", i, where)
			return nil, false
		}
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		name := fmt.Sprintf("bucket %q", p[start:start+min(ksize, 64)])
		v := p[start+ksize : start+ksize+vsize]
		if len(v) < bucketHeaderLen {
			s.fail("%s in %s has a header of %d bytes, want %d", name, where, len(v), bucketHeaderLen)
			return nil, false
		}
		if root := le.Uint64(v); root != 0 {
			s.scanBucket(root, name, depth+1)
			continue
		}
		// A bucket of root 0 is inline: its one page follows its header.
		if _, ok := s.scanElements(v[bucketHeaderLen:], "the inline page of "+name, depth+1); !ok {
			return nil, false
		}
	}
	return children, true
}
