package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressRefresh is the shortest interval between two redraws of a bar.
const progressRefresh = 100 * time.Millisecond

// terminalOutput returns w when it is a terminal, and nil otherwise, so
// that progress bars never reach a pipe, a file or a test buffer.
func terminalOutput(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return w
}

// progress is a progress bar of a long transfer. A nil *progress shows
// nothing, so callers need no checks. Drawing errors are ignored, because
// a bar is only a display.
type progress struct {
	bar *progressbar.ProgressBar
}

// startProgress draws a bar on w with total steps, counted in bytes when
// bytes is set. A negative total draws a spinner until setTotal. A nil w,
// or a total of 0, which leaves nothing to show, gives a nil bar.
func startProgress(w io.Writer, total int64, description string, bytes bool) *progress {
	if w == nil || total == 0 {
		return nil
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowBytes(bytes),
		progressbar.OptionThrottle(progressRefresh),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return &progress{bar: bar}
}

// setTotal changes the number of steps, for a total learnt after the start.
func (p *progress) setTotal(total int64) {
	if p != nil && total > 0 && total != p.bar.GetMax64() {
		p.bar.ChangeMax64(total)
	}
}

func (p *progress) add(n int) {
	if p != nil {
		_ = p.bar.Add(n)
	}
}

// Write counts the bytes of b as done, so that a bar can follow an
// io.TeeReader. It never fails.
func (p *progress) Write(b []byte) (int, error) {
	p.add(len(b))
	return len(b), nil
}

// finish fills the bar and ends its line. A bar of a failed transfer is
// ended without filling it.
func (p *progress) finish(err error) {
	if p == nil {
		return
	}
	if err == nil {
		_ = p.bar.Finish()
		return
	}
	_ = p.bar.Exit()
}

// stallTimer cancels a context once no bytes moved for its timeout. It
// bounds uploads and downloads that take longer than one request timeout
// as a whole but keep moving.
type stallTimer struct {
	timer  *time.Timer
	d      time.Duration
	cancel context.CancelCauseFunc
}

// stallError is the cause of a transfer canceled by a stallTimer.
type stallError struct{ d time.Duration }

func (e stallError) Error() string {
	return fmt.Sprintf("no data moved for %v; raise --timeout if the server is slow", e.d)
}

// newStallTimer returns a context that a stallTimer cancels after d without
// progress, and the timer. The caller calls stop once the transfer ended.
func newStallTimer(parent context.Context, d time.Duration) (context.Context, *stallTimer) {
	ctx, cancel := context.WithCancelCause(parent)
	s := &stallTimer{d: d, cancel: cancel}
	s.timer = time.AfterFunc(d, func() { cancel(stallError{d}) })
	return ctx, s
}

// reader returns r that restarts the timer on every read of some bytes.
func (s *stallTimer) reader(r io.Reader) io.Reader {
	return stallReader{r: r, s: s}
}

// stop ends the timer and releases the context.
func (s *stallTimer) stop() {
	s.timer.Stop()
	s.cancel(nil)
}

type stallReader struct {
	r io.Reader
	s *stallTimer
}

func (sr stallReader) Read(p []byte) (int, error) {
	n, err := sr.r.Read(p)
	if n > 0 {
		sr.s.timer.Reset(sr.s.d)
	}
	return n, err
}
