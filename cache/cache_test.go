package cache

import (
	"fmt"
	"reflect"
	"testing"
)

func TestGetAfterAdd(t *testing.T) {
	c, err := New(16, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{URLID: 1, Location: []string{"https://example.com/"}, Active: true}
	c.Add("abc", want, c.Generation())

	tests := []struct {
		name string
		code string
		want Result
	}{
		{"hit", "abc", Hit},
		{"other case is another code", "ABC", Unknown},
		{"unknown", "zzz", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := c.Get(tt.code)
			if res != tt.want {
				t.Fatalf("result = %v, want %v", res, tt.want)
			}
			if res == Hit && !reflect.DeepEqual(got, want) {
				t.Errorf("entry = %+v, want %+v", got, want)
			}
		})
	}
}

func TestMissingEntries(t *testing.T) {
	c, _ := New(16, 16)
	c.AddMissing("nope", c.Generation())
	if _, res := c.Get("nope"); res != Missing {
		t.Fatalf("result = %v, want Missing", res)
	}
	c.Remove("nope")
	if _, res := c.Get("nope"); res != Unknown {
		t.Errorf("after Remove: result = %v, want Unknown", res)
	}
}

func TestStaleFillIsDropped(t *testing.T) {
	c, _ := New(16, 16)
	gen := c.Generation()

	// An update removes the code while a reader holds the old value.
	c.Remove("abc")
	c.Add("abc", Entry{Location: []string{"https://old.example/"}}, gen)
	if _, res := c.Get("abc"); res != Unknown {
		t.Errorf("stale fill was kept: result %v", res)
	}
	c.AddMissing("new", gen)
	if _, res := c.Get("new"); res != Unknown {
		t.Errorf("stale missing entry was kept: result %v", res)
	}
}

func TestPurge(t *testing.T) {
	c, _ := New(16, 16)
	c.Add("a", Entry{URLID: 1}, c.Generation())
	c.AddMissing("b", c.Generation())
	c.Purge()
	if c.Len() != 0 {
		t.Errorf("Len after Purge = %d", c.Len())
	}
	if _, res := c.Get("b"); res != Unknown {
		t.Errorf("missing entry survived Purge: %v", res)
	}
}

func TestBoundedSize(t *testing.T) {
	c, _ := New(100, 16)
	for i := range 1000 {
		c.Add(fmt.Sprint(i), Entry{URLID: uint64(i)}, c.Generation())
	}
	if c.Len() > 100 {
		t.Errorf("Len = %d, want at most 100", c.Len())
	}
	if st := c.Stats(); st.Evictions < 900 {
		t.Errorf("evictions = %d, want at least 900", st.Evictions)
	}
}

func TestScanKeepsHotEntries(t *testing.T) {
	c, _ := New(100, 16)
	hot := Entry{URLID: 42}
	c.Add("hot", hot, c.Generation())
	c.Get("hot") // a second use moves it to the frequent queue

	for i := range 10_000 {
		c.Add(fmt.Sprint("scan", i), Entry{}, c.Generation())
	}
	if _, res := c.Get("hot"); res != Hit {
		t.Error("a scan of one-time codes evicted a hot entry")
	}
}

func TestNewSizes(t *testing.T) {
	tests := []struct {
		name          string
		size, missing int
		ok            bool
	}{
		{"defaults", 0, 0, true},
		{"smallest", MinSize, MinSize, true},
		{"negative", -1, 0, false},
		{"one entry", 1, 0, false},
		{"below minimum", MinSize - 1, 0, false},
		{"missing below minimum", 100, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.size, tt.missing)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%d, %d) error = %v, want ok %v", tt.size, tt.missing, err, tt.ok)
			}
			if c != nil {
				c.Add("a", Entry{}, c.Generation())
			}
		})
	}
}
