package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// Recorder defaults.
const (
	// DefaultClickQueue is how many clicks wait for the writer before new
	// ones are dropped.
	DefaultClickQueue = 65536

	// DefaultClickFlush is the longest a click waits in memory before its
	// commit, and so the most clicks a crash can lose.
	DefaultClickFlush = 10 * time.Millisecond

	// maxClickBatch is the most clicks written in one commit.
	maxClickBatch = 4096

	// clickRetry is how often a recorder that holds clicks while the disk
	// is full checks whether the store accepts writes again. The check
	// reads the store's state in memory and does not touch the disk.
	clickRetry = 100 * time.Millisecond
)

// RecorderOptions configures the click recorder. Zero values mean the
// defaults.
type RecorderOptions struct {
	Queue int
	Flush time.Duration
}

// recorder writes clicks in batches from one goroutine, so that a redirect
// only pays for a channel send.
type recorder struct {
	store   *store.Store
	log     *slog.Logger
	metrics *serverMetrics
	flushIn time.Duration

	queue   chan store.Click
	flushes chan chan struct{}
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	closed  atomic.Bool

	// pending counts clicks queued or in the batch and not yet committed,
	// so that flush returns at once when there are none.
	pending atomic.Int64

	// The fields below belong to the writer goroutine. timer fires when
	// the batch is due. holding is set while the store returns
	// store.ErrNoSpace, and then the batch is kept and the queue fills up
	// to its bound. failing is set while commits of clicks fail for any
	// other reason, so that the failure is logged once.
	timer   *time.Timer
	holding bool
	failing bool

	bots botVerdicts
}

func newRecorder(st *store.Store, opts RecorderOptions, m *serverMetrics, log *slog.Logger) (*recorder, error) {
	if opts.Queue < 0 || opts.Flush < 0 {
		return nil, errors.New("click queue and flush interval must not be negative")
	}
	if opts.Queue == 0 {
		opts.Queue = DefaultClickQueue
	}
	if opts.Flush == 0 {
		opts.Flush = DefaultClickFlush
	}
	rec := &recorder{
		store:   st,
		log:     log,
		metrics: m,
		flushIn: opts.Flush,
		queue:   make(chan store.Click, opts.Queue),
		flushes: make(chan chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go rec.run()
	return rec, nil
}

// record queues a click without blocking. A full queue or a stopped
// recorder drops the click and counts it.
func (rec *recorder) record(c store.Click) {
	if rec.closed.Load() {
		rec.metrics.clicksDropped.Inc()
		return
	}
	rec.pending.Add(1)
	select {
	case rec.queue <- c:
	default:
		rec.pending.Add(-1)
		rec.metrics.clicksDropped.Inc()
	}
}

// queued returns the number of clicks not yet committed.
func (rec *recorder) queued() int64 {
	return rec.pending.Load()
}

// flush returns once every click queued before the call is committed, or
// when ctx ends. Reads of events and click counts call it first.
func (rec *recorder) flush(ctx context.Context) {
	if rec.pending.Load() == 0 {
		return
	}
	reply := make(chan struct{})
	select {
	case rec.flushes <- reply:
	case <-rec.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-reply:
	case <-ctx.Done():
	}
}

// close stops intake, writes every queued click and stops the writer.
func (rec *recorder) close() error {
	rec.once.Do(func() {
		rec.closed.Store(true)
		close(rec.closing)
	})
	<-rec.done
	if n := rec.pending.Load(); n > 0 {
		return errors.New("clicks were lost at shutdown")
	}
	return nil
}

// run is the writer goroutine. It commits a batch when it is full, when
// the oldest click in it has waited flushIn, when a reader calls flush, and
// at close. While the disk is full it retries every clickRetry instead.
func (rec *recorder) run() {
	defer close(rec.done)
	batch := make([]store.Click, 0, maxClickBatch)
	var waiting []chan struct{}
	rec.timer = time.NewTimer(time.Hour)
	rec.timer.Stop()
	for {
		// A held batch takes no more clicks, so that the queue fills up
		// and record drops the clicks beyond its bound.
		queue := rec.queue
		if rec.holding {
			queue = nil
		}
		select {
		case c := <-queue:
			if len(batch) == 0 {
				rec.timer.Reset(rec.flushIn)
			}
			batch = append(batch, c)
			if len(batch) >= maxClickBatch {
				batch = rec.commit(batch)
			}
		case <-rec.timer.C:
			batch = rec.commit(batch)
		case reply := <-rec.flushes:
			// Every reader that waits by now shares one commit, so that
			// many concurrent reads cost one fsync, not one each.
			waiting = rec.waitingFlushes(append(waiting[:0], reply))
			batch = rec.commitWith(rec.drain(batch), rec.store.FlushClicks)
			for _, r := range waiting {
				close(r)
			}
		case <-rec.closing:
			// closed is set, so commit drops what it cannot write.
			rec.holding = false
			batch = rec.commit(rec.drain(batch))
			rec.timer.Stop()
			return
		}
	}
}

// waitingFlushes appends the flush requests that are already waiting.
func (rec *recorder) waitingFlushes(replies []chan struct{}) []chan struct{} {
	for {
		select {
		case reply := <-rec.flushes:
			replies = append(replies, reply)
		default:
			return replies
		}
	}
}

// drain moves every queued click into the batch, committing full batches
// on the way. It stops early while the batch is held for a disk that is
// still full. Once the store accepts writes again it takes the queue too,
// so that a reader's flush writes the clicks queued behind the held batch.
func (rec *recorder) drain(batch []store.Click) []store.Click {
	for !rec.waitingForSpace() {
		select {
		case c := <-rec.queue:
			batch = append(batch, c)
			if len(batch) >= maxClickBatch {
				batch = rec.commit(batch)
			}
		default:
			return batch
		}
	}
	return batch
}

// waitingForSpace reports whether the recorder holds its batch and the
// store still rejects writes for lack of space.
func (rec *recorder) waitingForSpace() bool {
	return rec.holding && errors.Is(rec.store.Err(), store.ErrNoSpace)
}

// commit marks the clicks of bots, writes the batch and returns it
// emptied. The store indexes the clicks later. On a full disk it keeps
// the batch and returns it unchanged, to retry once the store accepts
// writes again, unless the recorder is closing. Clicks that fail for any
// other reason are dropped and counted, because such a store accepts no
// writes until a restart.
func (rec *recorder) commit(batch []store.Click) []store.Click {
	return rec.commitWith(batch, rec.store.RecordClicks)
}

// commitWith is commit with the store method that writes the batch:
// RecordClicks, or FlushClicks for a reader that waits for the clicks.
func (rec *recorder) commitWith(batch []store.Click, write func([]store.Click) error) []store.Click {
	if len(batch) == 0 {
		return batch
	}
	if rec.waitingForSpace() && !rec.closed.Load() {
		rec.timer.Reset(clickRetry)
		return batch
	}
	for i := range batch {
		batch[i].Bot = batch[i].Bot || rec.bots.isBot(batch[i].UserAgent)
	}
	err := write(batch)
	switch {
	case err == nil:
		rec.metrics.clicksFlushed.Add(len(batch))
		if rec.holding || rec.failing {
			rec.log.Info("recording clicks resumed", "clicks", len(batch))
		}
		rec.holding, rec.failing = false, false
	case errors.Is(err, store.ErrNoSpace) && !rec.closed.Load():
		if !rec.holding {
			rec.log.Warn("holding clicks until the disk has space; clicks beyond the queue are dropped",
				"error", err, "clicks", len(batch), "queue", cap(rec.queue))
		}
		rec.holding = true
		rec.timer.Reset(clickRetry)
		return batch
	default:
		// One line per outage, not per batch.
		if !rec.failing {
			rec.log.Error("recording clicks failed; dropping clicks until writes succeed", "error", err, "clicks", len(batch))
		}
		rec.holding, rec.failing = false, true
		rec.metrics.clicksDropped.Add(len(batch))
	}
	rec.pending.Add(-int64(len(batch)))
	return batch[:0]
}
