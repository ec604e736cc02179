package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// noArgs rejects the positional arguments of a command that takes none.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: %s takes no arguments, only flags",
			args[0], cmd.CommandPath())}
	}
	return nil
}

// exactArgs returns the argument check of a command that takes one
// argument for each of names, in order, such as "USERNAME" and "EMAIL".
// Its errors name the missing arguments, or the first extra one, and end
// with the usage line.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return missingArgs(cmd, names[len(args):])
		case len(args) > len(names):
			return usageError{fmt.Errorf("unexpected argument %q after %s: %s",
				args[len(names)], names[len(names)-1], cmd.UseLine())}
		}
		return nil
	}
}

// minArgs returns the argument check of a command that takes one or more
// arguments, each a name such as "ID".
func minArgs(name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return missingArgs(cmd, []string{name})
		}
		return nil
	}
}

// missingArgs returns the usage error for the missing arguments names.
func missingArgs(cmd *cobra.Command, names []string) error {
	list := strings.Join(names, ", ")
	if n := len(names); n > 1 {
		list = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return usageError{fmt.Errorf("missing %s: %s", list, cmd.UseLine())}
}
