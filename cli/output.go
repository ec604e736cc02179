package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// outputFormat is the value of --output. It implements pflag.Value, so
// that an unknown format is a flag error.
type outputFormat string

// Output formats.
const (
	// outputTable prints aligned columns for a person to read.
	outputTable outputFormat = "table"

	// outputJSON prints the API's JSON as one document for scripts.
	outputJSON outputFormat = "json"
)

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Set(v string) error {
	switch outputFormat(v) {
	case outputTable, outputJSON:
		*f = outputFormat(v)
		return nil
	}
	return fmt.Errorf("output format %q is not table or json", v)
}

func (f *outputFormat) Type() string { return "format" }

// maxTargetWidth is the number of characters of a target URL that a table
// shows.
const maxTargetWidth = 60

// writeJSON writes v as one indented JSON document. HTML characters are
// left as they are, so that JSON from the server passes through unchanged.
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns a writer that aligns tab-separated columns. The caller
// flushes it.
func newTable(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
}

// writeRow writes one row of a table: the cells, with escapeControls
// applied to each, separated by tabs and ended by a newline. Errors show
// when the table is flushed.
func writeRow(tw io.Writer, cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, escapeControls(c))
	}
	io.WriteString(tw, "\n")
}

// escapeControls replaces the control characters of s (C0, DEL and C1)
// and the Unicode bidirectional controls (such as U+202E RIGHT-TO-LEFT
// OVERRIDE) with Go escapes such as \n, \t, \x1b, \u009b and \u202e, and each byte that
// is not valid UTF-8 with \xNN. Stored text shown in a table then cannot
// break a row, reorder the text of its row or send a command to the
// terminal. Backslashes are kept as they are, so a cell that shows \n may
// also hold those two characters, and --output json shows the exact text.
func escapeControls(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, needsEscape) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < utf8.RuneSelf && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// needsEscape reports whether a table shows r as an escape: a control
// character, or one of the invisible characters that reorder the text
// around them (Unicode's Bidi_Control property: U+061C, U+200E, U+200F,
// U+202A to U+202E and U+2066 to U+2069).
func needsEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// truncateText cuts s to at most n characters, marking a cut with "...".
func truncateText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-3]) + "..."
}

// cell returns the text of a nullable string for a table: "-" for null.
func cell(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// idCell returns the text of a nullable id or count for a table: "-" for
// null.
func idCell(v *uint64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatUint(*v, 10)
}

// countNoun returns n and the noun, in the plural unless n is 1.
func countNoun(n int64, singular, plural string) string {
	if n == 1 {
		return "1 " + singular
	}
	return strconv.FormatInt(n, 10) + " " + plural
}
