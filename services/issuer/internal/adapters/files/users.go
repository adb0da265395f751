package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// User is one entry of the users file. Sub is the stable id that becomes the
// owner of the user's assets: renaming a user keeps their assets.
type User struct {
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"` // bcrypt
	Sub          string   `json:"sub"`
	Groups       []string `json:"groups,omitempty"`
	Email        string   `json:"email,omitempty"`
}

type usersFile struct {
	Users []User `json:"users"`
}

var validUsername = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Users reads the users file, again whenever it changes on disk.
type Users struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	byName  map[string]User
	bySub   map[string]User
}

// LoadUsers reads path; it must exist and be valid.
func LoadUsers(path string) (*Users, error) {
	u := &Users{path: path}
	if err := u.reload(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *Users) reload() error {
	st, err := os.Stat(u.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	if st.ModTime().Equal(u.modTime) && st.Size() == u.size && u.byName != nil {
		return nil
	}
	list, err := readUsers(u.path)
	if err != nil {
		return err
	}
	byName, bySub := map[string]User{}, map[string]User{}
	for _, usr := range list {
		if !validUsername.MatchString(usr.Username) || usr.Sub == "" {
			return fmt.Errorf("%s: user %q needs a username of letters, digits, . _ @ - and a sub", u.path, usr.Username)
		}
		if _, err := bcrypt.Cost([]byte(usr.PasswordHash)); err != nil {
			return fmt.Errorf("%s: user %q: password_hash is not a bcrypt hash", u.path, usr.Username)
		}
		if _, dup := byName[usr.Username]; dup {
			return fmt.Errorf("%s: user %q appears twice", u.path, usr.Username)
		}
		if _, dup := bySub[usr.Sub]; dup {
			return fmt.Errorf("%s: sub %q appears twice", u.path, usr.Sub)
		}
		byName[usr.Username], bySub[usr.Sub] = usr, usr
	}
	u.byName, u.bySub, u.modTime, u.size = byName, bySub, st.ModTime(), st.Size()
	return nil
}

// current reloads the file if it changed; a broken edit keeps the last good list.
func (u *Users) current() (map[string]User, map[string]User) {
	u.mu.Lock()
	defer u.mu.Unlock()
	_ = u.reload()
	return u.byName, u.bySub
}

// dummyHash is compared against when the user does not exist, so that the
// answer takes as long as for a wrong password and does not reveal usernames.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcrypt.DefaultCost)

// Authenticate checks a username and password.
func (u *Users) Authenticate(username, password string) (User, bool) {
	byName, _ := u.current()
	usr, ok := byName[username]
	hash := []byte(usr.PasswordHash)
	if !ok {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !ok {
		return User{}, false
	}
	return usr, true
}

// BySub returns the user with that stable id (refresh: groups may have changed).
func (u *Users) BySub(sub string) (User, bool) {
	_, bySub := u.current()
	usr, ok := bySub[sub]
	return usr, ok
}

func readUsers(path string) ([]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f usersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Users, nil
}

// PutUser adds a user to the file at path (created 0600 if missing) or changes
// their password and groups, keeping their sub. cost is bcrypt's (0: default).
func PutUser(path, username, password string, groups []string, cost int) (User, error) {
	if !validUsername.MatchString(username) {
		return User{}, fmt.Errorf("username %q: use 1-64 letters, digits, . _ @ -", username)
	}
	if password == "" {
		return User{}, errors.New("empty password")
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	list, err := readUsers(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return User{}, err
	}
	usr := User{Username: username, PasswordHash: string(hash), Sub: uuid.NewString(), Groups: groups}
	found := false
	for i := range list {
		if list[i].Username == username {
			usr.Sub, usr.Email = list[i].Sub, list[i].Email
			list[i], found = usr, true
		}
	}
	if !found {
		list = append(list, usr)
	}
	b, err := json.MarshalIndent(usersFile{Users: list}, "", "  ")
	if err != nil {
		return User{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return User{}, err
	}
	return usr, writeFileAtomic(path, append(b, '\n'), 0o600)
}
