package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/linkbolt/linkbolt/cluster"
	"github.com/linkbolt/linkbolt/store"
)

// routeCreateURL checks a new link as createURL does, then creates a link
// with a generated code here, where the store draws only codes this shard
// owns, and a link with a custom code on the owner of that code.
func (s *Server) routeCreateURL(w http.ResponseWriter, r *http.Request) error {
	body, obj, err := s.readRawObject(w, r)
	if err != nil {
		return err
	}
	up, code, custom, err := readNewURL(obj)
	if err != nil {
		return err
	}
	if err := s.checkUserExists(r, up.UserID.Value); err != nil {
		return err
	}

	owner := s.cluster.self
	if custom {
		owner = s.cluster.ring.OwnerName(code)
	}
	return s.serveOn(w, r, owner, body)
}

// routeUpdateURL checks an update as updateURL does and sends it to the
// shard that holds the link.
func (s *Server) routeUpdateURL(w http.ResponseWriter, r *http.Request) error {
	id, ok := clusterPathID(r)
	if !ok {
		return s.serveLocal(w, r)
	}
	body, obj, err := s.readRawObject(w, r)
	if err != nil {
		return err
	}
	if _, ok := obj["short_code"]; ok {
		return invalidField("short_code", "short_code cannot change; create a new URL instead")
	}
	up, err := readURLUpdate(obj, urlUpdateFields)
	if err != nil {
		return err
	}
	holder, err := s.locate(r, "urls", id)
	if err != nil {
		return err
	}
	if holder == "" {
		return s.serveOn(w, r, s.cluster.self, body)
	}
	if up.UserID.Set {
		if err := s.checkUserExists(r, up.UserID.Value); err != nil {
			return err
		}
	}
	return s.serveOn(w, r, holder, body)
}

// routeCreateUser places a new user on the shard that owns its username,
// in lower case, so that two creates of one name meet on one shard. Emails
// are checked on the other shards first.
func (s *Server) routeCreateUser(w http.ResponseWriter, r *http.Request) error {
	body, obj, err := s.readRawObject(w, r)
	if err != nil {
		return err
	}
	username, email, err := readNewUser(obj)
	if err != nil {
		return err
	}
	owner := s.cluster.ring.OwnerName(userKey(username))
	// NOTE: two concurrent creates with different usernames and the same
	// email can land on two shards and both pass this check.
	if err := s.checkUserUnique(w, r, "", email, 0, owner); err != nil {
		return err
	}
	return s.serveOn(w, r, owner, body)
}

// userKey is the ring key of a username: usernames are unique without
// regard to case, so every spelling of one name maps to one shard.
func userKey(username string) string {
	return strings.ToLower(username)
}

// routeUpdateUser checks a new username or email on the other shards and
// sends the update to the shard that holds the user.
func (s *Server) routeUpdateUser(w http.ResponseWriter, r *http.Request) error {
	id, ok := clusterPathID(r)
	if !ok {
		return s.serveLocal(w, r)
	}
	body, obj, err := s.readRawObject(w, r)
	if err != nil {
		return err
	}
	username, email, err := readUserFields(obj)
	if err != nil {
		return err
	}
	holder, err := s.locate(r, "users", id)
	if err != nil {
		return err
	}
	if holder == "" {
		return s.serveOn(w, r, s.cluster.self, body)
	}
	var name, mail string
	if username != nil {
		name = *username
	}
	if email != nil {
		mail = *email
	}
	// NOTE: a renamed user stays on its shard until the next rebalance,
	// which moves it to the owner of its new name. A value that the body
	// names is checked on the other shards even when it is unchanged, so
	// a name that an import gave two users on two shards gets 409 here,
	// while the holder's own check skips unchanged values.
	if err := s.checkUserUnique(w, r, name, mail, id, holder); err != nil {
		return err
	}
	return s.serveOn(w, r, holder, body)
}

// routeDeleteUser removes the owner of the user's links on every other
// shard, then deletes the user on its shard, so that no link anywhere
// keeps the id of a deleted user.
func (s *Server) routeDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id, ok := clusterPathID(r)
	if !ok {
		return s.serveLocal(w, r)
	}
	holder, err := s.locate(r, "users", id)
	if err != nil {
		return err
	}
	if holder == "" {
		return s.serveLocal(w, r)
	}
	uri := internalPrefix + "disown?user_id=" + strconv.FormatUint(id, 10)
	for _, peer := range s.cluster.ring.Peers() {
		if peer == holder {
			continue
		}
		resp, err := s.call(r.Context(), peer, http.MethodPost, uri, authHeader(r), nil)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK {
			return &peerStatusError{resp: resp}
		}
	}
	return s.serveOn(w, r, holder, nil)
}

// routeCreateEvent checks a new event as createEvent does and stores it on
// the shard of its link, where the link's other events are.
func (s *Server) routeCreateEvent(w http.ResponseWriter, r *http.Request) error {
	body, obj, err := s.readRawObject(w, r)
	if err != nil {
		return err
	}
	if err := obj.only("event_type", "url_id", "user_id", "details", "timestamp"); err != nil {
		return err
	}
	ev, err := readEvent(obj)
	if err != nil {
		return err
	}
	holder, err := s.locate(r, "urls", ev.URLID)
	if err != nil {
		return err
	}
	if holder == "" {
		return s.serveOn(w, r, s.cluster.self, body)
	}
	if err := s.checkUserExists(r, ev.UserID); err != nil {
		return err
	}
	return s.serveOn(w, r, holder, body)
}

// routeByID returns a handler that sends a request on one record to the
// shard that holds it, or serves it here when no shard does, as a single
// server would.
func (s *Server) routeByID(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, ok := clusterPathID(r)
		if !ok {
			return s.serveLocal(w, r)
		}
		holder, err := s.locate(r, kind, id)
		if err != nil {
			return err
		}
		if holder == "" {
			holder = s.cluster.self
		}
		return s.serveOn(w, r, holder, nil)
	}
}

// serveOn serves r here, or forwards it to peer, with body as its body.
func (s *Server) serveOn(w http.ResponseWriter, r *http.Request, peer string, body []byte) error {
	if peer == s.cluster.self {
		if body != nil {
			replaceBody(r, body)
		}
		return s.serveLocal(w, r)
	}
	return s.forward(w, r, peer, body)
}

// clusterPathID parses the {id} of a path as pathID does.
func clusterPathID(r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	return id, err == nil && id != 0 && id <= store.MaxID
}

// locate returns the shard that holds the record of kind ("users", "urls" or
// "events") with id, or "" when none does. It queries the shard whose id
// range contains id first, then the others at once, because imported records
// keep ids from any range. A shard that is down gives a *PeerError unless
// another shard holds the record.
func (s *Server) locate(r *http.Request, kind string, id uint64) (string, error) {
	peers := s.cluster.ring.Peers()
	uri := "/" + kind + "/" + strconv.FormatUint(id, 10)
	first := cluster.RangeShard(id)
	if first >= len(peers) {
		first = 0
	}

	resp, firstErr := s.call(r.Context(), peers[first], http.MethodGet, uri, authHeader(r), nil)
	if firstErr == nil && resp.Status == http.StatusOK {
		return peers[first], nil
	}
	if firstErr == nil && resp.Status != http.StatusNotFound {
		return "", &peerStatusError{resp: resp}
	}

	var (
		mu      sync.Mutex
		holder  string
		downErr error = firstErr
		wg      sync.WaitGroup
	)
	for i, peer := range peers {
		if i == first {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.call(r.Context(), peer, http.MethodGet, uri, authHeader(r), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				downErr = err
			case resp.Status == http.StatusOK:
				holder = peer
			}
		}()
	}
	wg.Wait()
	if holder != "" {
		return holder, nil
	}
	return "", downErr
}

// checkUserExists returns the store's not-found error when id is not zero
// and no shard holds a user with that id.
func (s *Server) checkUserExists(r *http.Request, id uint64) error {
	if id == 0 {
		return nil
	}
	holder, err := s.locate(r, "users", id)
	if err != nil {
		return err
	}
	if holder == "" {
		return fmt.Errorf("%w: user_id %d names no user", store.ErrNotFound, id)
	}
	return nil
}

// checkUserUnique queries every shard but skip for whether a user other than
// except has the username or email, and returns the first conflict.
func (s *Server) checkUserUnique(w http.ResponseWriter, r *http.Request, username, email string, except uint64, skip string) error {
	if username == "" && email == "" {
		return nil
	}
	q := url.Values{}
	q.Set("username", username)
	q.Set("email", email)
	q.Set("except", strconv.FormatUint(except, 10))
	uri := internalPrefix + "users/unique?" + q.Encode()
	for _, peer := range s.cluster.ring.Peers() {
		if peer == skip {
			continue
		}
		resp, err := s.call(r.Context(), peer, http.MethodGet, uri, authHeader(r), nil)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusOK {
			return &peerStatusError{resp: resp}
		}
	}
	return nil
}

// authHeader returns the headers of r that a request to a peer carries:
// the API key.
func authHeader(r *http.Request) http.Header {
	h := http.Header{}
	if v := r.Header.Get("Authorization"); v != "" {
		h.Set("Authorization", v)
	}
	return h
}

// peerStatusError is a shard's response that is sent on to the client as
// it is, such as a 409 from the shard of a conflicting user.
type peerStatusError struct {
	resp *cluster.Response
}

func (e *peerStatusError) Error() string {
	return fmt.Sprintf("shard answered %d: %s", e.resp.Status, strings.TrimSpace(string(e.resp.Body)))
}
