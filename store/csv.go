package store

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxRowErrors is the number of invalid rows a CSVError lists. Rows past it
// are only counted.
const maxRowErrors = 50

// maxQuotedValue is the number of bytes of a cell that a row error quotes.
const maxQuotedValue = 40

// utf8BOM is the byte order mark that some spreadsheet programs write at
// the start of a UTF-8 file.
const utf8BOM = "\xef\xbb\xbf"

// RowError is one invalid row of a CSV file. Line counts from 1, and the
// header is line 1. A row with a quoted line break is named by its first
// line.
type RowError struct {
	Line   int
	Reason string
}

// CSVError is returned when rows of a CSV file are invalid. Rows lists the
// first maxRowErrors (50) invalid rows in file order, and Total counts all of
// them.
type CSVError struct {
	Rows  []RowError
	Total int
}

// Error lists the count and the line and reason of each listed row.
func (e *CSVError) Error() string {
	var b strings.Builder
	noun := "rows"
	if e.Total == 1 {
		noun = "row"
	}
	fmt.Fprintf(&b, "%d invalid %s: ", e.Total, noun)
	for i, row := range e.Rows {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "line %d: %s", row.Line, row.Reason)
	}
	if more := e.Total - len(e.Rows); more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

// add records an invalid row, listing it while fewer than maxRowErrors are.
func (e *CSVError) add(line int, reason string) {
	e.Total++
	if len(e.Rows) < maxRowErrors {
		e.Rows = append(e.Rows, RowError{Line: line, Reason: reason})
	}
}

// csvColumn is a column that a parser reads. An optional column may be
// absent from the header.
type csvColumn struct {
	name     string
	optional bool
}

// Columns of users.csv, indexed by the userCol* constants.
var userColumns = []csvColumn{
	{name: "id"},
	{name: "username"},
	{name: "email"},
	{name: "created_at"},
}

const (
	userColID = iota
	userColUsername
	userColEmail
	userColCreatedAt
)

// Columns of urls.csv, indexed by the urlCol* constants.
var urlColumns = []csvColumn{
	{name: "id"},
	{name: "user_id"},
	{name: "short_code"},
	{name: "original_url"},
	{name: "title", optional: true},
	{name: "is_active"},
	{name: "created_at"},
	{name: "updated_at", optional: true},
	{name: "expires_at", optional: true},
	{name: "max_clicks", optional: true},
	{name: "redirect_type", optional: true},
}

const (
	urlColID = iota
	urlColUserID
	urlColShortCode
	urlColOriginalURL
	urlColTitle
	urlColIsActive
	urlColCreatedAt
	urlColUpdatedAt
	urlColExpiresAt
	urlColMaxClicks
	urlColRedirectType
)

// Columns of events.csv, indexed by the eventCol* constants.
var eventColumns = []csvColumn{
	{name: "id"},
	{name: "url_id"},
	{name: "user_id"},
	{name: "event_type"},
	{name: "timestamp"},
	{name: "details", optional: true},
}

const (
	eventColID = iota
	eventColURLID
	eventColUserID
	eventColType
	eventColTimestamp
	eventColDetails
)

// ParseUsersCSV reads a whole users CSV file with the columns id, username,
// email and created_at, found by header name in any order. Extra columns are
// ignored. It checks the form of each cell only: username and email must be
// non-empty UTF-8. check, if not nil, is called with every row that parsed,
// may change the record, and its error becomes the reason of that row.
//
// Ids are decimal integers from 1 to MaxID without sign or spaces. Times are
// YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS with optional fractional
// seconds and an optional Z or ±HH:MM offset, UTC when there is none. They
// are returned in UTC, truncated to whole seconds.
//
// A repeated id replaces the earlier row. The users are returned sorted by
// id, one per id, with their number, which counts a repeated id once. If
// any row is invalid, or the file is not valid CSV, the error is a
// *CSVError and no users are returned. An error of r is returned wrapped.
func ParseUsersCSV(r io.Reader, check func(*User) error) ([]User, int, error) {
	parse := func(rows *csvRows) (User, error) { return parseUserRow(rows.values) }
	return parseCSV(r, userColumns, parse, check, func(u *User) uint64 { return u.ID })
}

// parseCSV reads every row of a CSV file with parse, then check, and
// returns the records sorted by id, one per id, and their number, or a
// *CSVError listing the invalid rows.
func parseCSV[T any](r io.Reader, columns []csvColumn, parse func(*csvRows) (T, error), check func(*T) error, id func(*T) uint64) ([]T, int, error) {
	rows, err := newCSVRows(r, columns)
	if err != nil {
		return nil, 0, err
	}

	var records []T
	for rows.next() {
		rec, err := parse(rows)
		if err == nil && check != nil {
			err = check(&rec)
		}
		if err != nil {
			rows.reject(err.Error())
			continue
		}
		if rows.valid() {
			records = append(records, rec)
		}
	}
	if err := rows.close(); err != nil {
		return nil, 0, err
	}
	records = sortUniqueByID(records, id)
	return records, len(records), nil
}

// ParseURLsCSV reads a whole urls CSV file with the columns id, user_id,
// short_code, original_url, title, is_active, created_at and updated_at,
// found by header name in any order. The title and updated_at columns may
// be absent: the title is then nil and updated_at equals created_at, as it
// does for an empty updated_at cell. An empty user_id means no owner, and 0
// is invalid. is_active is true, false, 1 or 0 in any case. original_url
// must be non-empty UTF-8, and its form as a URL is left to check. Ids and
// times follow the rules of ParseUsersCSV. check, if not nil, is called with
// every row that parsed, may change the record, and its error becomes the
// reason of that row.
//
// The link option columns expires_at, max_clicks and redirect_type may be
// absent, and an absent column reads as empty cells. An empty expires_at
// means the link never expires, an empty max_clicks means no click limit
// and 0 is invalid, and an empty redirect_type means the server's default.
// Otherwise max_clicks is a decimal integer from 1 to MaxClickLimit
// without sign or spaces, and redirect_type is 301, 302, 307 or 308.
//
// A repeated id replaces the earlier row, but a short code used by two ids
// makes the later row invalid. The URLs are returned sorted by id, one per
// id, with their number. If any row is invalid, or the file is
// not valid CSV, the error is a *CSVError and no URLs are returned. An error of r is returned wrapped.
func ParseURLsCSV(r io.Reader, check func(*URL) error) ([]URL, int, error) {
	// codes maps each short code to the first id and line that used it.
	type codeOwner struct {
		id   uint64
		line int
	}
	codes := make(map[string]codeOwner)

	parse := func(rows *csvRows) (URL, error) {
		u, err := parseURLRow(rows.values, rows.has(urlColTitle))
		if err != nil {
			return u, err
		}
		owner, used := codes[u.ShortCode]
		switch {
		case !used:
			codes[u.ShortCode] = codeOwner{id: u.ID, line: rows.line}
		case owner.id != u.ID:
			err = fmt.Errorf("short_code %s is already used by id %d on line %d",
				quoteCell(u.ShortCode), owner.id, owner.line)
		}
		return u, err
	}
	return parseCSV(r, urlColumns, parse, check, func(u *URL) uint64 { return u.ID })
}

// ParseEventsCSV reads a whole events CSV file with the columns id, url_id,
// user_id, event_type, timestamp and details, found by header name in any
// order. The details column may be absent, and an absent or empty details
// cell becomes {}. Otherwise details must be a JSON object, and it is stored
// compacted. An empty user_id means no user, and 0 is invalid. event_type
// must be non-empty UTF-8. Ids and times follow the rules of ParseUsersCSV.
// check, if not nil, is called with every row that parsed, may change the
// record, and its error becomes the reason of that row.
//
// A repeated id replaces the earlier row. The events are returned sorted by
// id, one per id, with their number. If any row is invalid, or
// the file is not valid CSV, the error is a *CSVError and no events are
// returned. An error of r is returned wrapped.
func ParseEventsCSV(r io.Reader, check func(*Event) error) ([]Event, int, error) {
	parse := func(rows *csvRows) (Event, error) { return parseEventRow(rows.values) }
	return parseCSV(r, eventColumns, parse, check, func(ev *Event) uint64 { return ev.ID })
}

func parseUserRow(values []string) (User, error) {
	var u User
	var err error
	if u.ID, err = parseCSVID("id", values[userColID]); err != nil {
		return u, err
	}
	if u.Username, err = parseCSVText("username", values[userColUsername]); err != nil {
		return u, err
	}
	if u.Email, err = parseCSVText("email", values[userColEmail]); err != nil {
		return u, err
	}
	if u.CreatedAt, err = parseCSVTime("created_at", values[userColCreatedAt]); err != nil {
		return u, err
	}
	return u, nil
}

func parseURLRow(values []string, hasTitle bool) (URL, error) {
	var u URL
	var err error
	if u.ID, err = parseCSVID("id", values[urlColID]); err != nil {
		return u, err
	}
	if u.UserID, err = parseCSVOptionalID("user_id", values[urlColUserID]); err != nil {
		return u, err
	}
	if u.ShortCode, err = parseCSVShortCode(values[urlColShortCode]); err != nil {
		return u, err
	}
	if u.OriginalURL, err = parseCSVText("original_url", values[urlColOriginalURL]); err != nil {
		return u, err
	}
	if title := values[urlColTitle]; hasTitle && title != "" {
		if !utf8.ValidString(title) {
			return u, errors.New("title is not valid UTF-8")
		}
		title = strings.Clone(title)
		u.Title = &title
	}
	if u.IsActive, err = parseCSVBool("is_active", values[urlColIsActive]); err != nil {
		return u, err
	}
	if u.CreatedAt, err = parseCSVTime("created_at", values[urlColCreatedAt]); err != nil {
		return u, err
	}

	// An absent column and an empty cell both mean the URL was never updated.
	u.UpdatedAt = u.CreatedAt
	if cell := values[urlColUpdatedAt]; cell != "" {
		if u.UpdatedAt, err = parseCSVTime("updated_at", cell); err != nil {
			return u, err
		}
	}
	return u, parseURLOptions(&u, values)
}

// parseURLOptions reads the optional link option cells into u. An empty
// cell leaves the zero value, which means no expiry, no click limit and the
// server's default redirect.
func parseURLOptions(u *URL, values []string) error {
	var err error
	if cell := values[urlColExpiresAt]; cell != "" {
		if u.ExpiresAt, err = parseCSVTime("expires_at", cell); err != nil {
			return err
		}
	}
	if u.MaxClicks, err = parseCSVOptionalInt("max_clicks", values[urlColMaxClicks], MaxClickLimit); err != nil {
		return err
	}
	u.RedirectType, err = parseCSVRedirectType(values[urlColRedirectType])
	return err
}

func parseEventRow(values []string) (Event, error) {
	var ev Event
	var err error
	if ev.ID, err = parseCSVID("id", values[eventColID]); err != nil {
		return ev, err
	}
	if ev.URLID, err = parseCSVID("url_id", values[eventColURLID]); err != nil {
		return ev, err
	}
	if ev.UserID, err = parseCSVOptionalID("user_id", values[eventColUserID]); err != nil {
		return ev, err
	}
	if ev.Type, err = parseCSVEventType(values[eventColType]); err != nil {
		return ev, err
	}
	if ev.Timestamp, err = parseCSVTime("timestamp", values[eventColTimestamp]); err != nil {
		return ev, err
	}
	if ev.Details, err = parseCSVDetails(values[eventColDetails]); err != nil {
		return ev, err
	}
	return ev, nil
}

// csvRows reads the rows of one CSV file after its header, with each row's
// cells reordered to match a list of csvColumn, and collects invalid rows.
type csvRows struct {
	reader *csv.Reader
	width  int // number of fields in the header

	// positions holds the field index of each wanted column, or -1 when an
	// optional column is absent.
	positions []int
	columns   []csvColumn

	// values holds the cells of the current row in column order, with ""
	// for absent columns. line is the current row's first line.
	values []string
	line   int

	errs    CSVError
	readErr error
}

// newCSVRows strips a UTF-8 BOM from r, reads the header and maps it to
// columns. Header names match case-insensitively after trimming spaces. A
// missing header, a missing required column or a column named twice gives a
// *CSVError.
//
// NOTE: encoding/csv keeps a whole record in memory with no size limit, so
// callers that read untrusted input must bound its size.
func newCSVRows(r io.Reader, columns []csvColumn) (*csvRows, error) {
	br := bufio.NewReader(r)
	prefix, err := br.Peek(len(utf8BOM))
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read csv: %w", err)
	}
	if string(prefix) == utf8BOM {
		br.Discard(len(utf8BOM))
	}

	reader := csv.NewReader(br)
	reader.FieldsPerRecord = -1
	reader.ReuseRecord = true
	rows := &csvRows{
		reader:    reader,
		positions: make([]int, len(columns)),
		columns:   columns,
		values:    make([]string, len(columns)),
	}

	header, err := reader.Read()
	if err == io.EOF {
		rows.errs.add(1, "missing header row")
		return nil, &rows.errs
	}
	if err != nil {
		rows.setReadError(err)
		return nil, rows.close()
	}
	line, _ := reader.FieldPos(0)
	rows.width = len(header)

	// found maps each header name to its field index. Only a wanted column
	// named twice is an error, because other columns are ignored.
	found := make(map[string]int, len(header))
	for i, name := range header {
		name = strings.ToLower(strings.TrimSpace(name))
		if _, seen := found[name]; seen && isCSVColumn(columns, name) {
			rows.errs.add(line, fmt.Sprintf("column %s appears twice in the header", quoteCell(name)))
			return nil, &rows.errs
		}
		found[name] = i
	}

	var missing []string
	for i, column := range columns {
		pos, ok := found[column.name]
		switch {
		case ok:
			rows.positions[i] = pos
		case column.optional:
			rows.positions[i] = -1
		default:
			missing = append(missing, column.name)
		}
	}
	if len(missing) > 0 {
		noun := "column"
		if len(missing) > 1 {
			noun = "columns"
		}
		rows.errs.add(line, fmt.Sprintf("missing required %s %s in the header", noun, strings.Join(missing, ", ")))
		return nil, &rows.errs
	}
	return rows, nil
}

func isCSVColumn(columns []csvColumn, name string) bool {
	return slices.ContainsFunc(columns, func(c csvColumn) bool { return c.name == name })
}

// next reads the next row into values and line. It returns false at the end
// of the file and at the first CSV syntax error or read error, because the
// row boundaries after a broken quote are unknown. A row with the wrong
// number of fields, or with a NUL byte in a column that is read, is
// rejected and skipped.
func (c *csvRows) next() bool {
	for {
		record, err := c.reader.Read()
		if err == io.EOF {
			return false
		}
		if err != nil {
			c.setReadError(err)
			return false
		}

		c.line, _ = c.reader.FieldPos(0)
		if len(record) != c.width {
			c.reject(fmt.Sprintf("row has %d fields, the header has %d", len(record), c.width))
			continue
		}
		for i, pos := range c.positions {
			c.values[i] = ""
			if pos >= 0 {
				c.values[i] = record[pos]
			}
		}
		if i := slices.IndexFunc(c.values, hasNUL); i >= 0 {
			c.reject(fmt.Sprintf("column %s contains a NUL byte, which linkbolt does not store", c.columns[i].name))
			continue
		}
		return true
	}
}

// hasNUL reports whether a cell contains a NUL byte. No text field stores
// one, because CSV exports would carry it raw and many tools end the text
// there.
func hasNUL(cell string) bool {
	return strings.IndexByte(cell, 0) >= 0
}

// has reports whether the column at index i of the column list is in the
// header.
func (c *csvRows) has(i int) bool {
	return c.positions[i] >= 0
}

// reject records the current row as invalid.
func (c *csvRows) reject(reason string) {
	c.errs.add(c.line, reason)
}

// valid reports whether no row so far was invalid. Parsers stop keeping
// records once it is false, because the result is discarded.
func (c *csvRows) valid() bool {
	return c.errs.Total == 0
}

// setReadError records err from the CSV reader: a syntax error becomes a row
// error on the line where the broken record starts, anything else is an
// error of the underlying reader.
func (c *csvRows) setReadError(err error) {
	var parseErr *csv.ParseError
	if !errors.As(err, &parseErr) {
		c.readErr = fmt.Errorf("read csv: %w", err)
		return
	}

	reason := fmt.Sprintf("invalid CSV syntax at column %d: %v", parseErr.Column, parseErr.Err)
	if parseErr.Line != parseErr.StartLine {
		reason = fmt.Sprintf("invalid CSV syntax at line %d, column %d: %v",
			parseErr.Line, parseErr.Column, parseErr.Err)
	}
	c.errs.add(parseErr.StartLine, reason)
}

// close returns the read error, else a *CSVError if any row was invalid,
// else nil.
func (c *csvRows) close() error {
	if c.readErr != nil {
		return c.readErr
	}
	if c.errs.Total > 0 {
		return &c.errs
	}
	return nil
}

// sortUniqueByID sorts records by id in place and keeps the last record of
// each id. Records that are already in ascending id order skip the sort.
func sortUniqueByID[T any](records []T, id func(*T) uint64) []T {
	sorted := true
	for i := 1; i < len(records); i++ {
		if id(&records[i]) <= id(&records[i-1]) {
			sorted = false
			break
		}
	}
	if sorted {
		return records
	}

	// A stable sort keeps the rows of one id in file order, so the last of
	// each run is the row that came last in the file.
	slices.SortStableFunc(records, func(a, b T) int {
		return cmp.Compare(id(&a), id(&b))
	})
	unique := records[:0]
	for i := range records {
		if i+1 < len(records) && id(&records[i+1]) == id(&records[i]) {
			continue
		}
		unique = append(unique, records[i])
	}
	clear(records[len(unique):])
	return unique
}

// parseCSVID parses a required id: decimal digits only, from 1 to MaxID.
func parseCSVID(column, cell string) (uint64, error) {
	return parseCSVInt(column, cell, MaxID)
}

// parseCSVInt parses a required positive integer: decimal digits only,
// from 1 to limit.
func parseCSVInt(column, cell string, limit uint64) (uint64, error) {
	if cell == "" {
		return 0, fmt.Errorf("%s is empty", column)
	}
	for i := 0; i < len(cell); i++ {
		if cell[i] < '0' || cell[i] > '9' {
			return 0, fmt.Errorf("%s %s is not a positive integer", column, quoteCell(cell))
		}
	}
	n, err := strconv.ParseUint(cell, 10, 64)
	if err != nil || n > limit {
		return 0, fmt.Errorf("%s %s is larger than %d", column, quoteCell(cell), limit)
	}
	if n == 0 {
		return 0, fmt.Errorf("%s %s is not a positive integer", column, quoteCell(cell))
	}
	return n, nil
}

// parseCSVOptionalID parses an id that may be empty, which gives 0.
func parseCSVOptionalID(column, cell string) (uint64, error) {
	return parseCSVOptionalInt(column, cell, MaxID)
}

// parseCSVOptionalInt parses a positive integer up to limit that may be
// empty, which gives 0.
func parseCSVOptionalInt(column, cell string, limit uint64) (uint64, error) {
	if cell == "" {
		return 0, nil
	}
	n, err := parseCSVInt(column, cell, limit)
	if err != nil && cell == "0" {
		return 0, fmt.Errorf("%s \"0\" is not a positive integer (leave the cell empty for none)", column)
	}
	return n, err
}

// parseCSVText returns a copy of a required text cell. The copy keeps the
// record from holding on to the whole row that the CSV reader allocated.
func parseCSVText(column, cell string) (string, error) {
	if cell == "" {
		return "", fmt.Errorf("%s is empty", column)
	}
	if !utf8.ValidString(cell) {
		return "", fmt.Errorf("%s is not valid UTF-8", column)
	}
	return strings.Clone(cell), nil
}

// parseCSVShortCode returns a copy of a short code that ValidCode accepts.
func parseCSVShortCode(cell string) (string, error) {
	if cell == "" {
		return "", errors.New("short_code is empty")
	}
	if !ValidCode(cell) {
		return "", fmt.Errorf("short_code %s is not 1 to %d characters of A-Z, a-z, 0-9, _ and -",
			quoteCell(cell), maxCodeLength)
	}
	return strings.Clone(cell), nil
}

// parseCSVBool parses true, false, 1 or 0, case-insensitively.
func parseCSVBool(column, cell string) (bool, error) {
	switch {
	case cell == "1" || strings.EqualFold(cell, "true"):
		return true, nil
	case cell == "0" || strings.EqualFold(cell, "false"):
		return false, nil
	case cell == "":
		return false, fmt.Errorf("%s is empty", column)
	}
	return false, fmt.Errorf("%s %s is not true, false, 1 or 0", column, quoteCell(cell))
}

// parseCSVRedirectType parses an optional redirect status: empty gives 0,
// else one of 301, 302, 307 or 308.
func parseCSVRedirectType(cell string) (int, error) {
	switch cell {
	case "":
		return 0, nil
	case "301", "302", "307", "308":
		return atoiDigits(cell), nil
	}
	return 0, fmt.Errorf("redirect_type %s is not 301, 302, 307 or 308 (leave the cell empty for the default)", quoteCell(cell))
}

// parseCSVEventType returns the event type. A known type is returned as the
// package constant, so that the record does not keep the row's memory.
func parseCSVEventType(cell string) (string, error) {
	for _, known := range []string{EventCreated, EventUpdated, EventDeleted, EventClick} {
		if cell == known {
			return known, nil
		}
	}
	return parseCSVText("event_type", cell)
}

// parseCSVDetails checks that a details cell is a JSON object that passes
// CheckDetails, and returns it compacted. An empty cell gives {}.
func parseCSVDetails(cell string) (json.RawMessage, error) {
	if cell == "" {
		return json.RawMessage(`{}`), nil
	}
	if !utf8.ValidString(cell) {
		return nil, errors.New("details is not valid UTF-8")
	}
	compact := bytes.NewBuffer(make([]byte, 0, len(cell)))
	if err := json.Compact(compact, []byte(cell)); err != nil {
		return nil, fmt.Errorf("details is not valid JSON: %v", err)
	}

	details := compact.Bytes()
	kind := "a number"
	switch details[0] {
	case '{':
		if err := CheckDetails(details); err != nil {
			return nil, fmt.Errorf("details %v", err)
		}
		return details, nil
	case '[':
		kind = "an array"
	case '"':
		kind = "a string"
	case 't', 'f':
		kind = "a boolean"
	case 'n':
		kind = "null"
	}
	return nil, fmt.Errorf("details is %s, not a JSON object", kind)
}

// parseCSVTime parses a timestamp and returns it in UTC, truncated to whole
// seconds. The accepted forms are YYYY-MM-DD HH:MM:SS and
// YYYY-MM-DDTHH:MM:SS, each with optional fractional seconds and an
// optional Z or ±HH:MM offset. A time without an offset is UTC. The result
// must fall in the years 1 to 9999, the range that time.Time encodes as
// JSON, and after the zero time, which the store reads as no time.
func parseCSVTime(column, cell string) (time.Time, error) {
	if cell == "" {
		return time.Time{}, fmt.Errorf("%s is empty", column)
	}
	t, ok := parseTimestamp(cell)
	if !ok {
		return time.Time{}, fmt.Errorf("%s %s is not a YYYY-MM-DD HH:MM:SS or RFC 3339 time",
			column, quoteCell(cell))
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%s %s is the zero time 0001-01-01 00:00:00, which stands for no time; use a later one",
			column, quoteCell(cell))
	}
	return t, nil
}

// parseTimestamp parses the forms that parseCSVTime accepts. It does not
// use time.Parse, which also accepts one-digit hours and a comma before the
// fraction.
func parseTimestamp(s string) (time.Time, bool) {
	const layout = "dddd-dd-dd dd:dd:dd"
	if len(s) < len(layout) {
		return time.Time{}, false
	}
	for i := 0; i < len(layout); i++ {
		c := s[i]
		switch layout[i] {
		case 'd':
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
		case ' ':
			if c != ' ' && c != 'T' && c != 't' {
				return time.Time{}, false
			}
		default:
			if c != layout[i] {
				return time.Time{}, false
			}
		}
	}
	year := atoiDigits(s[0:4])
	month := time.Month(atoiDigits(s[5:7]))
	day := atoiDigits(s[8:10])
	hour := atoiDigits(s[11:13])
	minute := atoiDigits(s[14:16])
	second := atoiDigits(s[17:19])
	if hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}

	// Fractional seconds are dropped, so only their form is checked.
	rest := s[len(layout):]
	if strings.HasPrefix(rest, ".") {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		rest = rest[n:]
	}
	offset, ok := parseZoneOffset(rest)
	if !ok {
		return time.Time{}, false
	}

	// time.Date moves an out-of-range day, such as February 30, into the
	// next month. A changed date means that the input is not a real day.
	t := time.Date(year, month, day, hour, minute, second, 0, time.UTC)
	if t.Year() != year || t.Month() != month || t.Day() != day {
		return time.Time{}, false
	}
	t = t.Add(-offset)
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// parseZoneOffset parses "", "Z" or ±HH:MM into an offset east of UTC.
func parseZoneOffset(s string) (time.Duration, bool) {
	switch s {
	case "", "Z", "z":
		return 0, true
	}
	if len(s) != len("+00:00") || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return 0, false
	}
	for _, i := range []int{1, 2, 4, 5} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	hours := atoiDigits(s[1:3])
	minutes := atoiDigits(s[4:6])
	if hours > 23 || minutes > 59 {
		return 0, false
	}
	offset := time.Duration(hours)*time.Hour + time.Duration(minutes)*time.Minute
	if s[0] == '-' {
		offset = -offset
	}
	return offset, true
}

// atoiDigits converts a string of ASCII digits that the caller checked.
func atoiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// quoteCell quotes a cell for an error message, cutting it to about
// maxQuotedValue bytes at a character boundary.
func quoteCell(cell string) string {
	if len(cell) <= maxQuotedValue {
		return strconv.Quote(cell)
	}
	cut := maxQuotedValue
	for cut > 0 && !utf8.RuneStart(cell[cut]) {
		cut--
	}
	return strconv.Quote(cell[:cut]) + "..."
}
