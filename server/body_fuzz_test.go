package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

// FuzzDecodeObject checks that any body either decodes to an object that
// encoding/json also accepts, or fails with a 400, and that the typed field
// readers never panic and only fail with 404 or 422.
func FuzzDecodeObject(f *testing.F) {
	seeds := []string{
		`{"username":"alice","email":"alice@example.com"}`,
		`{"original_url":"https://example.com/a%2Bb?x=1&x=2#f","user_id":null,"title":null}`,
		`{"user_id":true}`, `{"user_id":"1"}`, `{"user_id":1.0}`, `{"user_id":1e3}`,
		`{"user_id":-1}`, `{"user_id":99999999999999999999999}`, `{"is_active":"false"}`,
		`{"details":[1,2]}`, `{"details":"x"}`, `{"details":{"a":{"b":[]}}}`,
		`{"username":12345}`, `{}`, `[]`, `null`, `"str"`, `42`, ``, ` `,
		`username=alice&email=x`, `{"a":1}{"b":2}`, `{"a":1} trailing`, `{"a":`,
		"{\"username\":\"\xff\xfe\"}", `{"a":1,"a":2}`, `{"timestamp":"2025-09-19T22:25:05"}`,
		`{"timestamp":"yesterday"}`, `{"max_clicks":0}`, `{"redirect_type":303}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := decodeObject(body)
		if err != nil {
			if status, _ := errorResponse(err); status != http.StatusBadRequest {
				t.Fatalf("decode error status = %d, want 400: %v", status, err)
			}
			return
		}
		var check map[string]json.RawMessage
		if err := json.Unmarshal(body, &check); err != nil {
			t.Fatalf("decodeObject accepted what encoding/json rejects: %v", err)
		}

		// Every reader may reject a field, but only as a client error.
		readers := []func() error{
			func() error { _, _, err := obj.string("username"); return err },
			func() error { _, _, err := obj.nullableString("title"); return err },
			func() error { _, _, err := obj.boolean("is_active"); return err },
			func() error { _, _, err := obj.integer("redirect_type"); return err },
			func() error { _, _, err := obj.reference("user_id", "user"); return err },
			func() error { _, err := obj.details("details"); return err },
			func() error { _, _, err := obj.timestamp("timestamp"); return err },
			func() error { _, err := readURLUpdate(obj, urlCreateFields); return err },
			func() error { _, err := readURLUpdate(obj, urlUpdateFields); return err },
			func() error { _, err := readEvent(obj); return err },
		}
		for _, read := range readers {
			err := read()
			if err == nil {
				continue
			}
			var apiErr *apiError
			if !errors.As(err, &apiErr) || apiErr.status != http.StatusUnprocessableEntity && apiErr.status != http.StatusNotFound {
				t.Fatalf("field error %v is not a 404 or 422", err)
			}
		}
	})
}
