package store

import (
	"strings"
	"testing"
)

func TestRepeatedName(t *testing.T) {
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
		name, ok := RepeatedName([]byte(tt.doc))
		if ok != (tt.want != "") || name != tt.want {
			t.Errorf("RepeatedName(%s) = %q, %v; want %q", tt.doc, name, ok, tt.want)
		}
	}
}

func TestDepth(t *testing.T) {
	tests := []struct {
		doc  string
		want int
	}{
		{doc: `1`, want: 0},
		{doc: `"{[{["`, want: 0},
		{doc: `{}`, want: 1},
		{doc: `{"a":[1,{"b":"}\"{"}],"c":{}}`, want: 3},
		{doc: `[[[]],[]]`, want: 3},
		{doc: strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70), want: 70},
	}
	for _, tt := range tests {
		if got := Depth([]byte(tt.doc)); got != tt.want {
			t.Errorf("Depth(%.40s) = %d, want %d", tt.doc, got, tt.want)
		}
	}
}
