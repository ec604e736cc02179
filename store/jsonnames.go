package store

import (
	"bytes"
	"encoding/json"
)

// RepeatedName returns the first name that an object in the JSON document
// doc has twice, at any depth. encoding/json keeps the last value of such
// a name and other readers may keep the first, so the details of an event
// must not have one. doc must be valid JSON.
func RepeatedName(doc []byte) (string, bool) {
	// A frame is an open object or array. names is nil for an array, and
	// wantName is set while an object waits for its next name.
	type frame struct {
		names    map[string]bool
		wantName bool
	}
	var open []frame
	// valueDone marks the end of a value inside the innermost container.
	valueDone := func() {
		if n := len(open); n > 0 && open[n-1].names != nil {
			open[n-1].wantName = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		n := len(open)
		if n > 0 && open[n-1].wantName {
			name, ok := tok.(string)
			if !ok {
				// The closing brace of the object.
				open = open[:n-1]
				valueDone()
				continue
			}
			if open[n-1].names[name] {
				return name, true
			}
			open[n-1].names[name] = true
			open[n-1].wantName = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			open = append(open, frame{names: make(map[string]bool), wantName: true})
		case json.Delim('['):
			open = append(open, frame{})
		case json.Delim(']'):
			open = open[:n-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// MaxDetailsDepth is how deeply the details of an event may nest objects
// and arrays, the details object itself counting as 1. Readers of JSON
// limit nesting too (encoding/json stops at 10,000 levels), and a list of
// events wraps each one in two more.
const MaxDetailsDepth = 64

// Depth returns how deeply doc, valid JSON, nests objects and arrays: 0
// for a scalar, 1 for an object or array of scalars.
func Depth(doc []byte) int {
	depth, deepest := 0, 0
	inString := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		switch {
		case inString && c == '\\':
			i++ // the escaped character
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
