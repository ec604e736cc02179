package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger builds the process logger once, from the global flags. The
// root command checks them for every command first, so that a bad value
// is a usage error wherever it is given.
func newLogger(w io.Writer, g *globalOptions) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("invalid %s %q: use debug, info, warn or error", flagName(g.flags, "log-level"), g.logLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("invalid %s %q: use json or text", flagName(g.flags, "log-format"), g.logFormat)}
}
