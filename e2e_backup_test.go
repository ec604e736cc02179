package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Bounds of the write load of the backup test.
const (
	backupWorkers = 8

	// backupMaxRequests bounds the whole load.
	backupMaxRequests = 3000

	// createsBeforeBackup is the number of acknowledged creates after which
	// the backup starts, and createsAfterBackup the number of creates sent
	// after it ended that the load waits for before it stops.
	createsBeforeBackup = 800
	createsAfterBackup  = 200
)

// loadClock orders the events of the load test. Each stamp is taken with
// one atomic add, so stamps follow the real-time order of the moments they
// mark: a response stamped before the backup's start stamp was received
// before the backup request was sent.
type loadClock struct{ n atomic.Int64 }

func (c *loadClock) stamp() int64 { return c.n.Add(1) }

// loadURL is a link created by the load.
type loadURL struct {
	created json.RawMessage // the 201 body
	sent    int64           // stamp before the create was sent
	acked   int64           // stamp after its 201 arrived
}

// loadWrite is one PUT or redirect of the load. acked is 0 when no
// response arrived.
type loadWrite struct {
	urlID  int64
	fields []string // the API fields it can change
	value  any      // the value a PUT set
	sent   int64
	acked  int64
}

// loadLog is what the load did, shared by its workers.
type loadLog struct {
	mu     sync.Mutex
	urls   map[int64]*loadURL
	ids    []int64 // keys of urls, for random picks
	writes []loadWrite

	// ready is closed once createsBeforeBackup creates are acknowledged.
	ready     chan struct{}
	readyOnce sync.Once

	// afterStamp, once set, is the stamp after which creates are counted
	// in createsAfter, and enough is closed when createsAfterBackup of
	// them were sent.
	afterStamp   atomic.Int64
	createsAfter atomic.Int64
	enough       chan struct{}
	enoughOnce   sync.Once
}

func newLoadLog() *loadLog {
	return &loadLog{urls: map[int64]*loadURL{}, ready: make(chan struct{}), enough: make(chan struct{})}
}

func (l *loadLog) addURL(id int64, u *loadURL) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.urls[id] = u
	l.ids = append(l.ids, id)
	if len(l.ids) >= createsBeforeBackup {
		l.readyOnce.Do(func() { close(l.ready) })
	}
}

// countSent counts a create sent at stamp.
func (l *loadLog) countSent(stamp int64) {
	if after := l.afterStamp.Load(); after != 0 && stamp > after {
		if l.createsAfter.Add(1) >= createsAfterBackup {
			l.enoughOnce.Do(func() { close(l.enough) })
		}
	}
}

func (l *loadLog) addWrite(w loadWrite) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
}

// pick returns a random id of a created link and its short code, or 0
// when there is none yet.
func (l *loadLog) pick() (int64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ids) == 0 {
		return 0, ""
	}
	id := l.ids[rand.IntN(len(l.ids))]
	var u apiURL
	json.Unmarshal(l.urls[id].created, &u)
	return id, u.ShortCode
}

// loadWorker sends creates, updates, redirects and user creates to p until
// stop is closed or the request budget is spent. The first unexpected
// response or failed request is stored in bad.
func loadWorker(p *serverProcess, worker int, clock *loadClock, log *loadLog, sent *atomic.Int64, stop <-chan struct{}, bad *atomic.Value) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if sent.Add(1) > backupMaxRequests {
			return
		}
		var err error
		switch i % 8 {
		case 0, 1, 2, 3:
			err = loadCreate(p, worker, i, clock, log)
		case 4:
			err = loadUpdate(p, "title", fmt.Sprintf("title %d-%d", worker, i), clock, log)
		case 5:
			// Every other is_active update deactivates its link.
			err = loadUpdate(p, "is_active", i%16 != 5, clock, log)
		case 6:
			err = loadRedirect(p, clock, log)
		case 7:
			body := fmt.Sprintf(`{"username":"load%d_%d","email":"load%d_%d@example.com"}`, worker, i, worker, i)
			err = sendExpect(p, http.MethodPost, "/users", body, http.StatusCreated)
		}
		if err != nil {
			bad.CompareAndSwap(nil, err.Error())
		}
	}
}

func loadCreate(p *serverProcess, worker, i int, clock *loadClock, log *loadLog) error {
	body := fmt.Sprintf(`{"original_url":"https://example.com/load/%d/%d","title":"created %d-%d"}`, worker, i, worker, i)
	sent := clock.stamp()
	log.countSent(sent)
	res, err := sendRequest(p.base, http.MethodPost, "/urls", "application/json", []byte(body))
	if err != nil {
		return fmt.Errorf("POST /urls: %w", err)
	}
	acked := clock.stamp()
	if res.status != http.StatusCreated {
		return fmt.Errorf("POST /urls: status %d, body %s", res.status, res.body)
	}
	var u apiURL
	if err := json.Unmarshal(res.body, &u); err != nil {
		return fmt.Errorf("POST /urls: body %q: %w", res.body, err)
	}
	log.addURL(u.ID, &loadURL{created: res.body, sent: sent, acked: acked})
	return nil
}

// loadUpdate sets one field of a random link. Every PUT also changes
// updated_at.
func loadUpdate(p *serverProcess, field string, value any, clock *loadClock, log *loadLog) error {
	id, _ := log.pick()
	if id == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string]any{field: value})
	w := loadWrite{urlID: id, fields: []string{field, "updated_at"}, value: value, sent: clock.stamp()}
	res, err := sendRequest(p.base, http.MethodPut, fmt.Sprintf("/urls/%d", id), "application/json", body)
	if err == nil {
		w.acked = clock.stamp()
	}
	log.addWrite(w)
	if err != nil {
		return fmt.Errorf("PUT /urls/%d: %w", id, err)
	}
	if res.status != http.StatusOK {
		return fmt.Errorf("PUT /urls/%d: status %d, body %s", id, res.status, res.body)
	}
	return nil
}

// loadRedirect requests the short code of a random link. An inactive link
// returns 404 and records no click.
func loadRedirect(p *serverProcess, clock *loadClock, log *loadLog) error {
	id, code := log.pick()
	if id == 0 {
		return nil
	}
	w := loadWrite{urlID: id, fields: []string{"click_count"}, sent: clock.stamp()}
	res, err := sendRequest(p.base, http.MethodGet, "/"+code, "", nil)
	if err == nil {
		w.acked = clock.stamp()
	}
	log.addWrite(w)
	if err != nil {
		return fmt.Errorf("GET /%s: %w", code, err)
	}
	if res.status != http.StatusFound && res.status != http.StatusNotFound {
		return fmt.Errorf("GET /%s: status %d, body %s", code, res.status, res.body)
	}
	return nil
}

func sendExpect(p *serverProcess, method, path, body string, want int) error {
	res, err := sendRequest(p.base, method, path, "application/json", []byte(body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.status != want {
		return fmt.Errorf("%s %s: status %d, want %d; body %s", method, path, res.status, want, res.body)
	}
	return nil
}

// listTotals holds the X-Total-Count of the three list routes.
type listTotals struct {
	urls, users, events int
}

// readTotals reads the totals. GET /urls commits the queued clicks before
// it counts, so the click of every redirect whose response arrived before
// the call is committed once it returns.
func readTotals(t *testing.T, p *serverProcess) listTotals {
	t.Helper()
	total := func(path string) int {
		res := p.get(t, path+"?per_page=1")
		expectStatus(t, "GET "+path, res, http.StatusOK)
		return totalCount(t, "GET "+path, res)
	}
	return listTotals{urls: total("/urls"), users: total("/users"), events: total("/events")}
}

// downloadBackup streams GET /admin/backup into path and returns the
// Content-Length header and the number of bytes written.
func downloadBackup(t *testing.T, p *serverProcess, path string) (contentLength, written int64) {
	t.Helper()
	resp, err := httpClient.Get(p.base + "/admin/backup")
	if err != nil {
		t.Fatalf("GET /admin/backup: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /admin/backup: status %d, body %s", resp.StatusCode, body)
	}
	contentLength, err = strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil {
		t.Fatalf("GET /admin/backup: Content-Length %q: %v", resp.Header.Get("Content-Length"), err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if written, err = io.Copy(f, resp.Body); err != nil {
		t.Fatalf("GET /admin/backup: reading the body: %v", err)
	}
	return contentLength, written
}

func TestBackupUnderWriteLoad(t *testing.T) {
	dir := t.TempDir()
	live := startServer(t, filepath.Join(dir, "live.db"))
	backupPath := filepath.Join(dir, "backup.db")
	httpBackupPath := filepath.Join(dir, "backup-http.db")

	var (
		clock loadClock
		log   = newLoadLog()
		sent  atomic.Int64
		bad   atomic.Value
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range backupWorkers {
		wg.Go(func() { loadWorker(live, w, &clock, log, &sent, stop, &bad) })
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		<-finished
	})
	t.Cleanup(stopLoad)

	select {
	case <-log.ready:
	case <-finished:
		t.Fatalf("the load ended before %d creates were acknowledged", createsBeforeBackup)
	case <-time.After(startTimeout):
		t.Fatalf("fewer than %d creates were acknowledged within %v", createsBeforeBackup, startTimeout)
	}

	// The backup runs between two readings of the totals, under load.
	win := snapshotWindow{flushed: clock.stamp()}
	before := readTotals(t, live)
	win.start = clock.stamp()
	res := runLinkbolt(t, commandTimeout, "backup", "--server", live.base, "--out", backupPath)
	win.end = clock.stamp()
	log.afterStamp.Store(win.end)
	after := readTotals(t, live)
	if res.code != 0 {
		t.Fatalf("linkbolt backup: exit code %d; stderr:\n%s", res.code, res.stderr)
	}

	// A second backup, over plain HTTP, shows the Content-Length header.
	contentLength, written := downloadBackup(t, live, httpBackupPath)
	info, err := os.Stat(httpBackupPath)
	if err != nil {
		t.Fatal(err)
	}
	if contentLength != info.Size() || written != info.Size() {
		t.Errorf("backup Content-Length %d, bytes received %d, file size %d; want all equal", contentLength, written, info.Size())
	}

	// The load goes on until creates sent after the backup exist, so that
	// their absence from it can be checked.
	select {
	case <-log.enough:
	case <-finished:
	case <-time.After(startTimeout):
		t.Fatalf("fewer than %d creates were sent within %v of the backup", createsAfterBackup, startTimeout)
	}
	stopLoad()
	if msg := bad.Load(); msg != nil {
		t.Errorf("unexpected response during the load: %v", msg)
	}
	t.Logf("load: %d requests, %d links created, %d updates and redirects",
		min(sent.Load(), backupMaxRequests), len(log.urls), len(log.writes))

	for _, path := range []string{backupPath, httpBackupPath} {
		res := runLinkbolt(t, commandTimeout, "check", "--db", path)
		if res.code != 0 || !strings.Contains(res.stdout, "no problems found") {
			t.Errorf("linkbolt check --db %s: exit code %d; output:\n%s%s", filepath.Base(path), res.code, res.stdout, res.stderr)
		}
	}

	restored := startServer(t, backupPath)
	got := readTotals(t, restored)
	checkBetween(t, "urls", got.urls, before.urls, after.urls)
	checkBetween(t, "users", got.users, before.users, after.users)
	checkBetween(t, "events", got.events, before.events, after.events)
	compareSnapshot(t, live, restored, log, win)

	// The live file is consistent as well once its server has stopped.
	if code := live.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("live server exited with %d", code)
	}
	if res := runLinkbolt(t, commandTimeout, "check", "--db", live.db); res.code != 0 {
		t.Errorf("linkbolt check of the live file: exit code %d; output:\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func checkBetween(t *testing.T, list string, got, before, after int) {
	t.Helper()
	if got < before || got > after {
		t.Errorf("backup X-Total-Count of /%s = %d, want between %d (before the backup) and %d (after it)", list, got, before, after)
	}
}

// snapshotWindow holds the clock stamps that decide what a backup must
// contain.
type snapshotWindow struct {
	flushed int64 // before GET /urls, which committed the clicks of earlier redirects
	start   int64 // before the backup request was sent
	end     int64 // after the backup was fully received
}

// unchangedFields are the fields of a link that no write of the load
// changes, so the backup must have the values of the create's 201 body.
var unchangedFields = []string{"id", "user_id", "short_code", "original_url", "created_at", "expires_at", "max_clicks", "redirect_type"}

// compareSnapshot checks every link of the load on the restored backup
// against the live server.
//
// The backup is the state of one read transaction that began after
// win.start and before win.end. So a link whose create was acknowledged
// before win.start is in it, a link whose create was sent after win.end is
// not, and a link created in between may be either and is skipped.
//
// A link in the backup has the same JSON on both servers except for the
// fields that writes after the snapshot may have changed on the live
// server. A PUT not acknowledged before win.start may or may not be in the
// backup, so the field it set and updated_at are left out. A redirect
// queues its click, which a later batch commits. GET /urls at win.flushed
// committed the clicks of the redirects whose responses arrived before it,
// so only a redirect not acknowledged before win.flushed leaves out
// click_count. The left-out fields get weaker checks: click_count and
// updated_at in the backup are at most the live values, and the title is
// one that the create or a PUT set.
func compareSnapshot(t *testing.T, live, restored *serverProcess, log *loadLog, win snapshotWindow) {
	t.Helper()
	mayDiffer := map[int64]map[string]bool{}
	titles := map[int64][]any{}
	for _, w := range log.writes {
		cutoff := win.start
		if w.fields[0] == "click_count" {
			cutoff = win.flushed
		}
		if w.acked == 0 || w.acked > cutoff {
			if mayDiffer[w.urlID] == nil {
				mayDiffer[w.urlID] = map[string]bool{}
			}
			for _, f := range w.fields {
				mayDiffer[w.urlID][f] = true
			}
		}
		if w.fields[0] == "title" {
			titles[w.urlID] = append(titles[w.urlID], w.value)
		}
	}

	ids := make([]int64, 0, len(log.urls))
	for id := range log.urls {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	var present, absent, partial, diffs int
	report := func(format string, args ...any) {
		diffs++
		if diffs <= maxReportedDiffs {
			t.Errorf(format, args...)
		}
	}
	for _, id := range ids {
		u := log.urls[id]
		path := fmt.Sprintf("/urls/%d", id)
		switch {
		case u.acked < win.start:
			present++
			var backup, current, created map[string]any
			res := restored.get(t, path)
			if res.status != http.StatusOK {
				report("backup GET %s: status %d, want 200 for a create acknowledged before the backup", path, res.status)
				continue
			}
			decode(t, "backup GET "+path, res, &backup)
			res = live.get(t, path)
			expectStatus(t, "live GET "+path, res, http.StatusOK)
			decode(t, "live GET "+path, res, &current)
			json.Unmarshal(u.created, &created)

			for _, f := range unchangedFields {
				if !reflect.DeepEqual(backup[f], created[f]) {
					report("backup GET %s: %s = %v, want %v as created", path, f, backup[f], created[f])
				}
			}
			if len(mayDiffer[id]) > 0 {
				partial++
				if msg := checkChangedFields(backup, current, created, mayDiffer[id], titles[id]); msg != "" {
					report("backup GET %s: %s", path, msg)
				}
				for f := range mayDiffer[id] {
					delete(backup, f)
					delete(current, f)
				}
			}
			if !reflect.DeepEqual(backup, current) {
				report("GET %s differs beyond the fields of later writes:\nbackup %v\nlive   %v", path, backup, current)
			}
		case u.sent > win.end:
			absent++
			res := restored.get(t, path)
			if res.status != http.StatusNotFound {
				report("backup GET %s: status %d, want 404 for a create sent after the backup", path, res.status)
			}
		}
	}
	if diffs > maxReportedDiffs {
		t.Errorf("%d mismatches in all, %d listed", diffs, maxReportedDiffs)
	}
	t.Logf("compared %d links in the backup (%d with fields left out) and %d created after it", present, partial, absent)
	if present < createsBeforeBackup {
		t.Errorf("compared %d links acknowledged before the backup, want at least %d", present, createsBeforeBackup)
	}
	if absent == 0 {
		t.Error("no create was sent after the backup, so its absence was not checked")
	}
}

// checkChangedFields returns a description of the first left-out field
// whose backup value no write of the load explains, or "".
func checkChangedFields(backup, current, created map[string]any, fields map[string]bool, titles []any) string {
	if fields["click_count"] {
		b, _ := backup["click_count"].(float64)
		c, _ := current["click_count"].(float64)
		if b > c {
			return fmt.Sprintf("click_count %v is above the live %v", b, c)
		}
	}
	if fields["updated_at"] {
		b, _ := backup["updated_at"].(string)
		c, _ := current["updated_at"].(string)
		if b > c || b < created["created_at"].(string) {
			return fmt.Sprintf("updated_at %s is outside created_at %s to the live %s", b, created["created_at"], c)
		}
	}
	if fields["title"] {
		if !slices.Contains(titles, backup["title"]) && backup["title"] != created["title"] {
			return fmt.Sprintf("title %v was never set", backup["title"])
		}
	}
	return ""
}
