package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
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
// malformed field sets reason and every later read returns a zero value.
type decoder struct {
	buf    []byte
	reason string
}

func newDecoder(buf []byte) *decoder {
	d := &decoder{buf: buf}
	if len(buf) == 0 || buf[0] != recordFormat {
		d.fail("unknown record format")
		return d
	}
	d.buf = buf[1:]
	return d
}

// fail records why the record does not decode, unless an earlier field
// failed already.
func (d *decoder) fail(reason string) {
	if d.reason == "" {
		d.reason = reason
	}
}

func (d *decoder) failed() bool {
	return d.reason != ""
}

// err returns nil when every field decoded, and otherwise a *decodeError
// that names the record by noun and id.
func (d *decoder) err(noun string, id uint64) error {
	if !d.failed() {
		return nil
	}
	return &decodeError{noun: noun, id: id, reason: d.reason}
}

func (d *decoder) uint() uint64 {
	if d.failed() {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad unsigned integer")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.failed() {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad integer")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bool() bool {
	if d.failed() {
		return false
	}
	if len(d.buf) == 0 {
		d.fail("truncated")
		return false
	}
	v := d.buf[0] == 1
	d.buf = d.buf[1:]
	return v
}

// bytes returns the next length-prefixed field of valid UTF-8, without
// copying it. field names it in the reason of a failure.
func (d *decoder) bytes(field string) []byte {
	n := d.uint()
	if d.failed() {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail(field + " is truncated")
		return nil
	}
	b := d.buf[:n]
	if !utf8.Valid(b) {
		d.fail(field + " is not valid UTF-8")
		return nil
	}
	d.buf = d.buf[n:]
	return b
}

// string copies the field out, because bbolt's memory is valid only inside
// the transaction that read it.
func (d *decoder) string(field string) string {
	return string(d.bytes(field))
}

// time reads a time, which every writer keeps in the years 1 to 9999 in
// UTC, the range that the API and the CSV files can carry.
func (d *decoder) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	t := time.Unix(d.int(), 0).UTC()
	if !d.failed() && (t.Year() < 1 || t.Year() > 9999) {
		d.fail(fmt.Sprintf("time %d is outside the years 1 to 9999", t.Unix()))
	}
	return t
}

// decodeError is a stored record that does not decode. It wraps
// ErrCorrupt, and its message names the record, so that a server log line
// or a check report leads to it.
type decodeError struct {
	noun   string // user, url or event
	id     uint64
	reason string
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("%v: %s %d does not decode: %s; run linkbolt check", ErrCorrupt, e.noun, e.id, e.reason)
}

func (e *decodeError) Unwrap() error {
	return ErrCorrupt
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
	u.Username = d.string("username")
	u.Email = d.string("email")
	u.CreatedAt = d.time()
	return u, d.err("user", id)
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
	u.ShortCode = d.string("short_code")
	u.OriginalURL = d.string("original_url")
	if d.bool() {
		title := d.string("title")
		u.Title = &title
	}
	u.IsActive = d.bool()
	u.CreatedAt = d.time()
	u.UpdatedAt = d.time()
	u.ExpiresAt = d.time()
	u.MaxClicks = d.uint()
	if u.MaxClicks > MaxClickLimit {
		d.fail(fmt.Sprintf("max_clicks %d is larger than %d", u.MaxClicks, uint64(MaxClickLimit)))
	}
	redirect := d.uint()
	if !d.failed() && redirect != 0 && !ValidRedirectStatus(int(redirect)) {
		d.fail(fmt.Sprintf("redirect_type %d is not 301, 302, 307 or 308", redirect))
	}
	u.RedirectType = int(redirect)
	return u, d.err("url", id)
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
	ev.Type = d.string("event_type")
	ev.Timestamp = d.time()

	// Every writer stores details as a compact JSON object. Anything else
	// would reach clients as it is, because the API sends details as raw
	// JSON.
	details := d.bytes("details")
	if !d.failed() && !isJSONObjectText(details) {
		d.fail("details is not a JSON object")
	}
	ev.Details = bytes.Clone(details)
	return ev, d.err("event", id)
}

// isJSONObjectText reports whether b is one JSON object and nothing else
// but white space. json.Valid runs the scanner that encoding/json runs on
// a json.RawMessage it marshals, so details that pass it also encode.
// Details in the form of click details skip it, because it took about a
// sixth of the time of BenchmarkListEvents, a page of 1,000 clicks.
func isJSONObjectText(b []byte) bool {
	if isFlatJSONObject(b) {
		return true
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i < len(b) && b[i] == '{' && json.Valid(b)
}

// isFlatJSONObject reports whether b is a JSON object without white space
// whose values are strings, true, false or null, the form that click
// details take. It accepts a subset of what json.Valid accepts and leaves
// every other form to it.
func isFlatJSONObject(b []byte) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	if len(b) == 2 {
		return true
	}
	i := 1
	for {
		i = jsonStringEnd(b, i)
		if i < 0 || i >= len(b) || b[i] != ':' {
			return false
		}
		i++
		switch {
		case i < len(b) && b[i] == '"':
			i = jsonStringEnd(b, i)
		case bytes.HasPrefix(b[i:], []byte("true")), bytes.HasPrefix(b[i:], []byte("null")):
			i += len("true")
		case bytes.HasPrefix(b[i:], []byte("false")):
			i += len("false")
		default:
			return false
		}
		if i < 0 || i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i == len(b)-1
		default:
			return false
		}
	}
}

// jsonStringEnd returns the index after the JSON string that starts at
// b[i], or -1 when no valid string starts there. Bytes from 0x80 up are
// left to the UTF-8 check of the decoder.
func jsonStringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c != '\\':
			continue
		}

		// An escape: one of the named characters, or u and four hex digits.
		i++
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
				return -1
			}
			i += 4
		default:
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
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
