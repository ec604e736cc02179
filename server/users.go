package server

import (
	"net/http"

	"github.com/linkbolt/linkbolt/store"
)

// userJSON is a user as the API sends it.
type userJSON struct {
	ID        uint64 `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	CreatedAt string `json:"created_at"`
}

func userView(u store.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Email: u.Email, CreatedAt: formatTime(u.CreatedAt)}
}

// readUserFields reads the username and email of a create or update.
// Absent fields are nil.
func readUserFields(obj object) (username, email *string, err error) {
	if err := obj.only("username", "email"); err != nil {
		return nil, nil, err
	}
	if v, ok, err := obj.string("username"); err != nil {
		return nil, nil, err
	} else if ok {
		if err := checkUsername(v); err != nil {
			return nil, nil, invalidField("username", "%v", err)
		}
		username = &v
	}
	if v, ok, err := obj.string("email"); err != nil {
		return nil, nil, err
	} else if ok {
		if err := checkEmail(v); err != nil {
			return nil, nil, invalidField("email", "%v", err)
		}
		email = &v
	}
	return username, email, nil
}

// readNewUser reads the body of POST /users, where both fields are
// required.
func readNewUser(obj object) (username, email string, err error) {
	u, e, err := readUserFields(obj)
	if err != nil {
		return "", "", err
	}
	if u == nil {
		return "", "", invalidField("username", "username is required")
	}
	if e == nil {
		return "", "", invalidField("email", "email is required")
	}
	return *u, *e, nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	username, email, err := readNewUser(obj)
	if err != nil {
		return err
	}

	u, err := s.store.CreateUser(store.User{Username: username, Email: email, CreatedAt: now()})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusCreated, userView(u))
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	p, err := parsePage(q)
	if err != nil {
		return err
	}
	users, total, err := s.store.ListUsers(p)
	if err != nil {
		return err
	}
	views := make([]userJSON, 0, len(users))
	for _, u := range users {
		views = append(views, userView(u))
	}
	s.writeList(w, r, p, total, views)
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(id)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, userView(u))
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	obj, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	username, email, err := readUserFields(obj)
	if err != nil {
		return err
	}

	u, err := s.store.UpdateUser(id, store.UserUpdate{Username: username, Email: email})
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, userView(u))
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "user")
	if err != nil {
		return err
	}
	codes, err := s.store.DeleteUser(id)
	if err != nil {
		return err
	}

	// The user's links keep redirecting, but their cached owner is stale.
	for _, code := range codes {
		s.cache.Remove(code)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
