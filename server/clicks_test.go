package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkbolt/linkbolt/store"
)

// TestConcurrentFlushesShareCommits makes every commit slow while clicks
// keep arriving, then has many readers wait for the clicks at once. The
// readers that wait while a commit runs must share the next commit rather
// than take one each.
func TestConcurrentFlushesShareCommits(t *testing.T) {
	_, srv := startAPIOnStore(t, Options{}, nil)
	var commits atomic.Int64
	srv.store.SetCommitHook(func(time.Duration, error) {
		commits.Add(1)
		time.Sleep(20 * time.Millisecond)
	})

	stop := make(chan struct{})
	var clicking sync.WaitGroup
	clicking.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			srv.clicks.record(store.Click{URLID: 1, Time: time.Now()})
			time.Sleep(time.Millisecond)
		}
	})

	const readers = 20
	var reading sync.WaitGroup
	for range readers {
		reading.Go(func() { srv.clicks.flush(context.Background()) })
	}
	reading.Wait()
	close(stop)
	clicking.Wait()

	if n := commits.Load(); n > readers/2 {
		t.Errorf("%d readers waiting for clicks took %d commits, want them to share", readers, n)
	}
}
