package cache_test

import (
	"fmt"

	"github.com/linkbolt/linkbolt/cache"
)

// A reader takes the generation before it reads the store, so that its fill
// is dropped if the link changed meanwhile.
func Example() {
	c, err := cache.New(1000, 100)
	if err != nil {
		panic(err)
	}

	gen := c.Generation()
	c.Add("abc123", cache.Entry{URLID: 1, Location: []string{"https://example.com/"}, Active: true}, gen)
	c.AddMissing("nope", gen)

	e, res := c.Get("abc123")
	fmt.Println(res == cache.Hit, e.Location[0])
	_, res = c.Get("nope")
	fmt.Println(res == cache.Missing)
	// Output:
	// true https://example.com/
	// true
}
