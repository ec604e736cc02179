package store

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxDetailsDepth is the deepest that the details of an event may nest
// objects and arrays, the details object itself counting as 1. A list of
// events wraps each one in two more levels, and JSON readers have limits
// of their own: encoding/json stops at 10,000.
const MaxDetailsDepth = 64

// CheckDetails returns why the JSON document doc may not be the details of
// an event, or nil. An object at any depth may not have a name twice,
// because encoding/json keeps the last value of such a name and other
// readers may keep the first. Objects and arrays may nest at most
// MaxDetailsDepth levels. doc must be valid JSON.
func CheckDetails(doc []byte) error {
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
			return nil
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
				return fmt.Errorf("has the name %s more than once", quoteCell(name))
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
		if len(open) > MaxDetailsDepth {
			return fmt.Errorf("nests more than %d levels deep", MaxDetailsDepth)
		}
	}
}
