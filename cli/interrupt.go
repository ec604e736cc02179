package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// stopAnnotation is the command annotation that states how a command stops
// on SIGINT and SIGTERM. A command without it leaves nothing behind when
// it stops at any point, so the first signal ends it at once.
const stopAnnotation = "linkbolt_stop"

// Values of stopAnnotation.
const (
	// stopByContext: the signal ends the command's context, and the
	// command removes its temporary files before it returns.
	stopByContext = "context"

	// stopBySelf: the command catches the signals itself, as serve does
	// for its shutdown in steps.
	stopBySelf = "self"
)

// stopsByContext returns the annotations of a command that stops through
// its context.
func stopsByContext() map[string]string {
	return map[string]string{stopAnnotation: stopByContext}
}

// interruptedError is the cause of the context of a command that SIGINT
// or SIGTERM stopped.
type interruptedError struct{ sig os.Signal }

func (e *interruptedError) Error() string {
	return "interrupted by " + signalName(e.sig)
}

// exitCode returns the exit code for the signal: 128 plus its number, the
// status that a shell shows for a process that the signal ended.
func (e *interruptedError) exitCode() int {
	if e.sig == syscall.SIGTERM {
		return exitTerminated
	}
	return exitInterrupted
}

// signalName returns the conventional name of SIGINT and SIGTERM.
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// handleSignals catches SIGINT and SIGTERM for the command that args
// select, as its stopAnnotation states. It returns the context to run the
// command with, which a signal ends with an *interruptedError as its
// cause, and a function that stops catching the signals.
//
// Only the first signal is caught. A second one ends the process at once
// with the default action, for a step that cannot stop early, such as the
// commit of an import into a file.
func handleSignals(root *cobra.Command, args []string, errOut io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	mode := ""
	if cmd, _, err := root.Find(args); err == nil {
		mode = cmd.Annotations[stopAnnotation]
	}
	if mode == stopBySelf {
		return ctx, func() { cancel(nil) }
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			interrupted := &interruptedError{sig}
			if mode != stopByContext {
				fmt.Fprintln(errOut, "linkbolt:", interrupted)
				os.Exit(interrupted.exitCode())
			}
			cancel(interrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// interruptedRequest returns the error of a request to url that a signal
// cut short. A request that changes data may have been applied before the
// client stopped waiting, so its error names that risk.
func interruptedRequest(interrupted *interruptedError, method, url string) error {
	if method == http.MethodGet || method == http.MethodHead {
		return interrupted
	}
	return fmt.Errorf("%w while waiting for the response to %s %s; the server may have applied the request, "+
		"so check before you send it again", interrupted, method, url)
}
