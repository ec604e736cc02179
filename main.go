// Command linkbolt is a URL shortener in one binary.
package main

import (
	"os"

	"github.com/linkbolt/linkbolt/cli"
)

func main() {
	os.Exit(cli.Execute())
}
