package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger builds the process logger once, from the global flags.
func newLogger(w io.Writer, g *globalOptions) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", g.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("invalid --log-format %q: use json or text", g.logFormat)}
}
