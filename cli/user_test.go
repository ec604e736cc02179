package cli

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/linkbolt/linkbolt/server"
)

func TestUserCreate(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})

	t.Run("table", func(t *testing.T) {
		res := s.cli(t, "user", "create", "alice", "alice@example.com")
		expectExit(t, res, exitOK)
		lines := strings.Split(strings.TrimSuffix(res.out, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("output has %d lines, want 2:\n%s", len(lines), res.out)
		}
		if got := strings.Join(strings.Fields(lines[0]), " "); got != "ID USERNAME EMAIL CREATED" {
			t.Errorf("header = %q", got)
		}
		if fields := strings.Fields(lines[1]); len(fields) != 4 || fields[0] != "1" || fields[1] != "alice" || fields[2] != "alice@example.com" {
			t.Errorf("row = %q, want 1 alice alice@example.com and a time", lines[1])
		}
	})

	t.Run("json", func(t *testing.T) {
		res := s.cli(t, "user", "create", "bob", "bob@example.com", "-o", "json")
		expectExit(t, res, exitOK)
		var u apiUser
		decodeOutput(t, res, &u)
		var stored apiUser
		s.mustRequest(t, http.MethodGet, fmt.Sprintf("/users/%d", u.ID), nil, http.StatusOK, &stored)
		if u != stored || u.Username != "bob" || u.Email != "bob@example.com" {
			t.Errorf("output %+v, stored %+v, want bob <bob@example.com>", u, stored)
		}
	})

	errorCases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"username taken", []string{"user", "create", "ALICE", "other@example.com"}, exitRejected, []string{"409 Conflict"}},
		{"invalid email", []string{"user", "create", "carol", "not-an-email"}, exitRejected, []string{"422", "(field email)"}},
		{"missing email", []string{"user", "create", "carol"}, exitUsage, []string{"missing EMAIL: linkbolt user create USERNAME EMAIL [flags]"}},
	}
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			expectExit(t, s.cli(t, tt.args...), tt.wantCode, tt.wantErr...)
		})
	}
}

func TestUserList(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	for i := 1; i <= 5; i++ {
		s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": fmt.Sprintf("u%d", i), "email": fmt.Sprintf("u%d@example.com", i)}, http.StatusCreated, nil)
	}

	tests := []struct {
		name     string
		args     []string
		wantIDs  string
		wantNote string
	}{
		{"default page", nil, "1 2 3 4 5", ""},
		{"second page", []string{"--per-page", "2", "--page", "2"}, "3 4", "page 2 of 3, 2 users shown of 5"},
		{"all pages", []string{"--all", "--per-page", "2"}, "1 2 3 4 5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.cli(t, append([]string{"user", "list"}, tt.args...)...)
			expectExit(t, res, exitOK)
			if got := idsString(listedIDs(t, res.out)); got != tt.wantIDs {
				t.Errorf("ids = %q, want %q\n%s", got, tt.wantIDs, res.out)
			}
			if tt.wantNote != "" && !strings.Contains(res.out, tt.wantNote) {
				t.Errorf("output does not contain %q:\n%s", tt.wantNote, res.out)
			}

			res = s.cli(t, append([]string{"user", "list", "-o", "json"}, tt.args...)...)
			expectExit(t, res, exitOK)
			var users []apiUser
			decodeOutput(t, res, &users)
			ids := make([]uint64, len(users))
			for i, u := range users {
				ids[i] = u.ID
				if u.Username != fmt.Sprintf("u%d", u.ID) {
					t.Errorf("user %d is named %q", u.ID, u.Username)
				}
			}
			if got := idsString(ids); got != tt.wantIDs {
				t.Errorf("JSON ids = %q, want %q", got, tt.wantIDs)
			}
		})
	}

	t.Run("all and page", func(t *testing.T) {
		expectExit(t, s.cli(t, "user", "list", "--all", "--page", "2"), exitUsage, "--all and --page")
	})
}

func TestUserDelete(t *testing.T) {
	clearEnv(t)
	s := startAPIServer(t, server.Options{})
	var owner apiUser
	s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "owner", "email": "owner@example.com"}, http.StatusCreated, &owner)
	s.mustRequest(t, http.MethodPost, "/users", map[string]any{"username": "other", "email": "other@example.com"}, http.StatusCreated, nil)
	link := s.createLink(t, map[string]any{"original_url": "https://example.com/owned", "short_code": "owned", "user_id": owner.ID})

	res := s.cli(t, "user", "delete", "1")
	expectExit(t, res, exitOK)
	if res.out != "deleted user 1\n" {
		t.Errorf("output = %q, want %q", res.out, "deleted user 1\n")
	}
	if got := s.request(t, http.MethodGet, "/users/1", nil, nil); got.status != http.StatusNotFound {
		t.Errorf("GET /users/1: status %d, want 404", got.status)
	}

	// The link keeps redirecting without an owner.
	if got := s.getLink(t, link.ID); got.UserID != nil {
		t.Errorf("user_id of the deleted user's link = %d, want null", *got.UserID)
	}
	s.click(t, "owned", "", "Mozilla/5.0", http.StatusFound)

	res = s.cli(t, "user", "delete", "2", "1", "-o", "json")
	expectExit(t, res, exitRejected, "DELETE /users/1", "404 Not Found")
	var done deletedJSON
	decodeOutput(t, res, &done)
	if idsString(done.Deleted) != "2" {
		t.Errorf("deleted = %v, want [2]", done.Deleted)
	}

	expectExit(t, s.cli(t, "user", "delete", "-1"), exitUsage, "unknown shorthand")
	expectExit(t, s.cli(t, "user", "delete", "x1"), exitUsage, `invalid id "x1"`)
}
