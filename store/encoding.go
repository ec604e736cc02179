package store

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// Records are stored in a compact binary form: a format byte followed by the
// fields in a fixed order, integers as varints and strings with a length
// prefix. Decoding one takes a few hundred nanoseconds, well below the cost
// of the bbolt lookup that precedes it on a cache miss.
const recordFormat = 1

// encoder appends fields to a byte slice.
type encoder struct {
	buf []byte
}

func newEncoder() *encoder {
	return &encoder{buf: append(make([]byte, 0, 128), recordFormat)}
}

func (e *encoder) uint(v uint64) {
	e.buf = binary.AppendUvarint(e.buf, v)
}

func (e *encoder) int(v int64) {
	e.buf = binary.AppendVarint(e.buf, v)
}

func (e *encoder) bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) string(s string) {
	e.uint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// time writes a presence flag before the seconds, so that the zero time and
// the Unix epoch stay apart.
func (e *encoder) time(t time.Time) {
	e.bool(!t.IsZero())
	if !t.IsZero() {
		e.int(t.Unix())
	}
}

// decoder reads fields in the order an encoder wrote them. The first
// malformed field sets err and every later read returns a zero value.
type decoder struct {
	buf []byte
	err error
}

func newDecoder(buf []byte) *decoder {
	d := &decoder{buf: buf}
	if len(buf) == 0 || buf[0] != recordFormat {
		d.err = fmt.Errorf("%w: unknown record format", ErrCorrupt)
		return d
	}
	d.buf = buf[1:]
	return d
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad unsigned integer", ErrCorrupt)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad integer", ErrCorrupt)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.buf) == 0 {
		d.err = fmt.Errorf("%w: truncated", ErrCorrupt)
		return false
	}
	v := d.buf[0] == 1
	d.buf = d.buf[1:]
	return v
}

// string copies the bytes out, because bbolt's memory is valid only inside
// the transaction that read it.
func (d *decoder) string() string {
	n := d.uint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.buf)) {
		d.err = fmt.Errorf("%w: truncated string", ErrCorrupt)
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	return time.Unix(d.int(), 0).UTC()
}

func encodeUser(u *User) []byte {
	e := newEncoder()
	e.string(u.Username)
	e.string(u.Email)
	e.time(u.CreatedAt)
	return e.buf
}

func decodeUser(id uint64, buf []byte) (User, error) {
	d := newDecoder(buf)
	u := User{ID: id}
	u.Username = d.string()
	u.Email = d.string()
	u.CreatedAt = d.time()
	return u, d.err
}

func encodeURL(u *URL) []byte {
	e := newEncoder()
	e.uint(u.UserID)
	e.string(u.ShortCode)
	e.string(u.OriginalURL)
	e.bool(u.Title != nil)
	if u.Title != nil {
		e.string(*u.Title)
	}
	e.bool(u.IsActive)
	e.time(u.CreatedAt)
	e.time(u.UpdatedAt)
	e.time(u.ExpiresAt)
	e.uint(u.MaxClicks)
	e.uint(uint64(u.RedirectType))
	return e.buf
}

func decodeURL(id uint64, buf []byte) (URL, error) {
	d := newDecoder(buf)
	u := URL{ID: id}
	u.UserID = d.uint()
	u.ShortCode = d.string()
	u.OriginalURL = d.string()
	if d.bool() {
		title := d.string()
		u.Title = &title
	}
	u.IsActive = d.bool()
	u.CreatedAt = d.time()
	u.UpdatedAt = d.time()
	u.ExpiresAt = d.time()
	u.MaxClicks = d.uint()
	u.RedirectType = int(d.uint())
	return u, d.err
}

func encodeEvent(ev *Event) []byte {
	e := newEncoder()
	e.uint(ev.URLID)
	e.uint(ev.UserID)
	e.string(ev.Type)
	e.time(ev.Timestamp)
	e.string(string(ev.Details))
	return e.buf
}

func decodeEvent(id uint64, buf []byte) (Event, error) {
	d := newDecoder(buf)
	ev := Event{ID: id}
	ev.URLID = d.uint()
	ev.UserID = d.uint()
	ev.Type = d.string()
	ev.Timestamp = d.time()
	ev.Details = []byte(d.string())
	return ev, d.err
}

// itob encodes an id as a big-endian key, so that cursors walk ids in order.
func itob(id uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id)
}

func btoi(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// pairKey is the key of a composite index entry: a prefix followed by the
// id of the record it points to.
func pairKey(prefix []byte, id uint64) []byte {
	k := make([]byte, 0, len(prefix)+8)
	k = append(k, prefix...)
	return binary.BigEndian.AppendUint64(k, id)
}

// clickRecordLen is the usual size of a click's event record, details
// included, for sizing buffers.
const clickRecordLen = 192

// appendClickEvent appends the record of a click event with the given
// details, as encodeEvent would write it. The time is kept to the second.
func appendClickEvent(buf []byte, c *Click, details []byte) []byte {
	buf = append(buf, recordFormat)
	buf = binary.AppendUvarint(buf, c.URLID)
	buf = binary.AppendUvarint(buf, c.UserID)
	buf = binary.AppendUvarint(buf, uint64(len(EventClick)))
	buf = append(buf, EventClick...)
	if c.Time.IsZero() {
		buf = append(buf, 0)
	} else {
		buf = append(buf, 1)
		buf = binary.AppendVarint(buf, c.Time.Unix())
	}
	buf = binary.AppendUvarint(buf, uint64(len(details)))
	return append(buf, details...)
}

// appendClickDetails appends the details of a click as a JSON object, the
// bytes that json.Marshal writes for clickDetails.
func appendClickDetails(buf []byte, c *Click) []byte {
	buf = append(buf, `{"referrer":`...)
	buf = appendJSONString(buf, c.Referrer)
	buf = append(buf, `,"user_agent":`...)
	buf = appendJSONString(buf, c.UserAgent)
	if c.Bot {
		buf = append(buf, `,"bot":true`...)
	}
	return append(buf, '}')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it: HTML characters and U+2028 and U+2029 as \u sequences, and
// each byte of invalid UTF-8 as \ufffd.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
