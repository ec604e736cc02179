package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
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
