package store

import (
	"strings"
	"testing"
)

func TestCheckDetailsRepeatedNames(t *testing.T) {
	tests := []struct {
		doc  string
		want string // "" when no name repeats
	}{
		{doc: `{}`},
		{doc: `{"a":1,"b":2}`},
		{doc: `{"a":1,"a":2}`, want: "a"},
		{doc: `{"a":{"b":1},"c":{"b":2}}`},
		{doc: `{"a":{"b":1,"b":2}}`, want: "b"},
		{doc: `{"a":[{"x":1},{"x":2}],"b":3}`},
		{doc: `{"a":[{"x":1,"x":2}]}`, want: "x"},
		{doc: `{"a":[1,[2,{}],{"y":[]}],"y":null,"a2":"a"}`},
		{doc: `{"a":{},"a":{}}`, want: "a"},
		{doc: `{"list":[],"list":[]}`, want: "list"},
		{doc: `{"k":"v","outer":{"k":"v"},"k":"w"}`, want: "k"},
		{doc: `{"\u0061":1,"a":2}`, want: "a"},
		{doc: `[{"a":1},{"a":1}]`},
		{doc: `"a"`},
	}
	for _, tt := range tests {
		err := CheckDetails([]byte(tt.doc))
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckDetails(%s) = %v, want nil", tt.doc, err)
			}
			continue
		}
		if want := `has the name "` + tt.want + `" more than once`; err == nil || err.Error() != want {
			t.Errorf("CheckDetails(%s) = %v, want %q", tt.doc, err, want)
		}
	}
}

func TestCheckDetailsDepth(t *testing.T) {
	nested := func(depth int) string {
		return strings.Repeat(`{"a":`, depth-1) + `{"b":"}\"{["}` + strings.Repeat(`}`, depth-1)
	}
	tests := []struct {
		doc  string
		deep bool
	}{
		{doc: nested(MaxDetailsDepth)},
		{doc: nested(MaxDetailsDepth + 1), deep: true},
		{doc: strings.Repeat(`[`, MaxDetailsDepth) + strings.Repeat(`]`, MaxDetailsDepth)},
		{doc: strings.Repeat(`[`, MaxDetailsDepth+1) + strings.Repeat(`]`, MaxDetailsDepth+1), deep: true},
		{doc: `{"a":[1,{"b":[]}],"c":{}}`},
	}
	for _, tt := range tests {
		err := CheckDetails([]byte(tt.doc))
		if !tt.deep && err != nil {
			t.Errorf("CheckDetails(%.40s...) = %v, want nil", tt.doc, err)
		}
		if tt.deep && (err == nil || err.Error() != "nests more than 64 levels deep") {
			t.Errorf("CheckDetails(%.40s...) = %v, want too deep", tt.doc, err)
		}
	}
}
