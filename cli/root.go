// Package cli holds linkbolt's commands, one file per command.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/spf13/cobra"

	"github.com/linkbolt/linkbolt/store"
)

// Build information, set with -ldflags "-X".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitInUse   = 3

	// exitRejected means that the server rejected a request of a client
	// command with a 4xx status.
	exitRejected = 4

	// exitUnavailable means that the server could not be reached, did not
	// respond in time or returned a 5xx status.
	exitUnavailable = 5

	// exitInterrupted and exitTerminated mean that SIGINT or SIGTERM
	// stopped the command: 128 plus the signal number, as a shell reports
	// a process that the signal ended.
	exitInterrupted = 130
	exitTerminated  = 143
)

const exitCodesHelp = `Exit codes:
  0  success
  1  failure (the message says what failed)
  2  invalid command line or configuration
  3  the database file is in use by another process
  4  the server rejected the request (a 4xx status; the message gives the server's reason)
  5  the server could not be reached, timed out, failed (a 5xx status), redirected (a 3xx)
     or sent a backup that fails the checks of linkbolt check
  130  stopped by SIGINT, after it removed its temporary files (serve stops cleanly, exit 0)
  143  stopped by SIGTERM, after it removed its temporary files (serve stops cleanly, exit 0)`

// usageError marks an invalid command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// globalOptions are the flags of every command.
type globalOptions struct {
	logLevel  string
	logFormat string

	// flags are the root's persistent flags, to name the source of a bad
	// value in errors.
	flags *pflag.FlagSet
}

// newRootCommand builds the command tree. out and errOut receive the
// output, so that tests can run commands in-process.
func newRootCommand(out, errOut io.Writer) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "linkbolt",
		Short:         "A URL shortener in one binary",
		Long:          "linkbolt is a URL shortener: one process with the HTTP API, a cache and a bbolt database file.\n\n" + exitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{explainFlagError(err)} })

	flags := root.PersistentFlags()
	flags.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error (env LINKBOLT_LOG_LEVEL)")
	flags.StringVar(&g.logFormat, "log-format", "json", "log format: json or text (env LINKBOLT_LOG_FORMAT)")
	bindEnv(flags, map[string]string{"log-level": "LINKBOLT_LOG_LEVEL", "log-format": "LINKBOLT_LOG_FORMAT"})
	g.flags = flags
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := applyEnv(cmd); err != nil {
			return err
		}
		_, err := newLogger(io.Discard, g)
		return err
	}

	root.AddCommand(
		newServeCommand(g),
		newNginxConfCommand(),
		newRebalanceCommand(),
		newImportCommand(g),
		newCreateCommand(g),
		newListCommand(g),
		newGetCommand(g),
		newUpdateCommand(g),
		newDeleteCommand(g),
		newPurgeCommand(g),
		newExportCommand(g),
		newUserCommand(g),
		newBackupCommand(g),
		newBenchCommand(g),
		newCheckCommand(),
		newCompactCommand(),
		newVersionCommand(),
	)
	addExitCodesHelp(root)
	return root
}

// addExitCodesHelp appends exitCodesHelp to the long help of every command
// below parent, at any depth, unless the help lists exit codes of its own.
func addExitCodesHelp(parent *cobra.Command) {
	for _, c := range parent.Commands() {
		if !strings.Contains(c.Long, "Exit codes:") {
			long := c.Long
			if long == "" {
				long = c.Short
			}
			c.Long = long + "\n\n" + exitCodesHelp
		}
		addExitCodesHelp(c)
	}
}

// Execute runs the command line and returns the process exit code.
// SIGINT and SIGTERM stop the command as handleSignals describes.
func Execute() int {
	root := newRootCommand(os.Stdout, os.Stderr)
	ctx, stop := handleSignals(root, os.Args[1:], os.Stderr)
	defer stop()
	return execute(ctx, root, os.Args[1:], os.Stderr)
}

// run executes args without catching signals, for tests.
func run(args []string, out, errOut io.Writer) int {
	return execute(context.Background(), newRootCommand(out, errOut), args, errOut)
}

// execute runs root with args and ctx, and maps the error to an exit code,
// printing it once.
func execute(ctx context.Context, root *cobra.Command, args []string, errOut io.Writer) int {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}

	// After a signal, the error of the step that it cut short, such as a
	// canceled request, would blame the server. The signal is named
	// instead, unless the error already names it.
	if interrupted, ok := errors.AsType[*interruptedError](context.Cause(ctx)); ok {
		if _, named := errors.AsType[*interruptedError](err); !named {
			err = interrupted
		}
		fmt.Fprintln(errOut, "linkbolt:", err)
		return interrupted.exitCode()
	}
	fmt.Fprintln(errOut, "linkbolt:", err)

	var usage usageError
	switch {
	case errors.As(err, &usage), isCobraUsage(err):
		return exitUsage
	case errors.Is(err, store.ErrInUse):
		return exitInUse
	}
	if code, ok := clientExitCode(err); ok {
		return code
	}
	return exitFailure
}

// isCobraUsage reports errors that cobra returns for unknown commands and
// wrong argument counts.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "accepts ", "requires ", "unknown flag", "unknown shorthand"} {
		if len(msg) >= len(prefix) && msg[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// envAnnotation is the flag annotation that names a flag's environment
// variable.
const envAnnotation = "linkbolt_env"

// bindEnv records the environment variable of each named flag.
func bindEnv(flags *pflag.FlagSet, names map[string]string) {
	for flag, env := range names {
		if err := flags.SetAnnotation(flag, envAnnotation, []string{env}); err != nil {
			panic(err)
		}
	}
}

// applyEnv sets every flag that was not given on the command line from its
// environment variable, so that a flag always wins over the environment.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		names := f.Annotations[envAnnotation]
		if err != nil || f.Changed || len(names) == 0 {
			return
		}
		v, ok := os.LookupEnv(names[0])
		if !ok {
			return
		}
		if setErr := f.Value.Set(v); setErr != nil {
			if hint, ok := valueHint(f, setErr); ok {
				err = usageError{fmt.Errorf("invalid %s %q: %s", names[0], v, hint)}
				return
			}
			err = usageError{fmt.Errorf("invalid %s %q: %w", names[0], v, setErr)}
			return
		}
		f.Annotations[envSetAnnotation] = names[:1]
	})
	return err
}

// envSetAnnotation is the flag annotation that applyEnv adds to a flag
// whose value came from its environment variable.
const envSetAnnotation = "linkbolt_env_set"

// flagName returns the name that an error message gives to the flag name
// of flags: its environment variable when the value came from there, and
// --name otherwise. A nil flags gives --name.
func flagName(flags *pflag.FlagSet, name string) string {
	if flags != nil {
		if f := flags.Lookup(name); f != nil && len(f.Annotations[envSetAnnotation]) > 0 {
			return f.Annotations[envSetAnnotation][0]
		}
	}
	return "--" + name
}

// rangeAnnotation is the flag annotation that states the values a flag
// accepts, such as "an integer from 1 to 1000".
const rangeAnnotation = "linkbolt_range"

// userIDRange is the range of --user-id, the range of ids of the API.
var userIDRange = fmt.Sprintf("a user id from 1 to %d", store.MaxID)

// checkUserIDFlag returns a usage error when --user-id was given with an
// id outside userIDRange, which the server would reject.
func checkUserIDFlag(changed map[string]bool, id uint64) error {
	if changed["user-id"] && (id == 0 || id > store.MaxID) {
		return outOfRange("user-id", id, userIDRange)
	}
	return nil
}

// maxFlagDuration is the largest value of a duration flag: the largest
// time.Duration, about 292 years. A longer value does not parse.
const maxFlagDuration = time.Duration(math.MaxInt64)

// positiveDurationRange returns the range of a duration flag that must be
// above 0, with an example value.
func positiveDurationRange(example string) string {
	return fmt.Sprintf("a duration above 0 and at most %s, such as %s", maxFlagDuration, example)
}

// outOfRange returns the usage error of a value of flag that parses but
// lies outside the values it accepts, worded like the error of a value
// that does not parse.
func outOfRange(flag string, value any, accepted string) error {
	return usageError{fmt.Errorf("invalid --%s \"%v\": use %s", flag, value, accepted)}
}

// describeRanges records the values that each named flag accepts. A value
// that does not parse, such as 99999999999999999999 for an int flag, then
// gets a message that names the flag and this range, instead of the
// strconv or time error.
func describeRanges(flags *pflag.FlagSet, ranges map[string]string) {
	for flag, accepted := range ranges {
		if err := flags.SetAnnotation(flag, rangeAnnotation, []string{accepted}); err != nil {
			panic(err)
		}
	}
}

// explainFlagError replaces pflag's error for a value that does not parse
// with one that names the flag and the values it accepts. Other errors are
// returned as they are.
func explainFlagError(err error) error {
	var invalid *pflag.InvalidValueError
	if !errors.As(err, &invalid) {
		return err
	}
	hint, ok := valueHint(invalid.GetFlag(), err)
	if !ok {
		return err
	}
	return fmt.Errorf("invalid --%s %q: %s", invalid.GetFlag().Name, invalid.GetValue(), hint)
}

// valueHint returns what to send instead of a value of flag that failed
// to parse with err, and false when the flag states no range and is not a
// boolean.
func valueHint(flag *pflag.Flag, err error) (string, bool) {
	accepted := flag.Annotations[rangeAnnotation]
	if len(accepted) == 0 && flag.Value.Type() == "bool" {
		// The values that strconv.ParseBool accepts.
		return "use true or false (or 1 or 0)", true
	}
	if len(accepted) == 0 {
		return "", false
	}
	if errors.Is(err, strconv.ErrRange) {
		return "out of range; use " + accepted[0], true
	}
	return "use " + accepted[0], true
}
