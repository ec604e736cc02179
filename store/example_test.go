package store_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/linkbolt/linkbolt/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "linkbolt-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(filepath.Join(dir, "links.db"), nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()

	u, err := s.CreateURL(store.URL{ShortCode: "docs", OriginalURL: "https://example.com/docs", IsActive: true})
	if err != nil {
		panic(err)
	}
	got, err := s.GetURLByCode("docs")
	if err != nil {
		panic(err)
	}
	fmt.Println(u.ID, got.OriginalURL)
	// Output: 1 https://example.com/docs
}
