package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// apiKeys holds the SHA-256 digests of the configured API keys. Comparing
// digests of equal length keeps the comparison constant-time in the key's
// length as well as its content.
type apiKeys [][sha256.Size]byte

func newAPIKeys(keys []string) apiKeys {
	var digests apiKeys
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			digests = append(digests, sha256.Sum256([]byte(k)))
		}
	}
	return digests
}

// match reports whether key is one of the keys. It compares against every
// key, so the time taken does not tell which key came close.
func (keys apiKeys) match(key string) bool {
	digest := sha256.Sum256([]byte(key))
	found := 0
	for i := range keys {
		found |= subtle.ConstantTimeCompare(digest[:], keys[i][:])
	}
	return found == 1
}

// errUnauthorized is the error of a request without a valid API key.
var errUnauthorized = &apiError{
	status:  http.StatusUnauthorized,
	message: "missing or invalid API key; send the header Authorization: Bearer <key>",
}

// authorize wraps a handler so that it runs only for requests with a valid
// API key, when keys are configured.
func (s *Server) authorize(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if len(s.keys) == 0 {
			return h(w, r)
		}
		scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !s.keys.match(strings.TrimSpace(key)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="linkbolt"`)
			return errUnauthorized
		}
		return h(w, r)
	}
}
