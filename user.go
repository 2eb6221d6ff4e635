package giveathon

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on account fields.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
	MaxEmailLen    = 254
	MaxNameLen     = 200
)

// User is a donor's account.
type User struct {
	ID         string
	Email      string
	Name       string
	HomeRegion string
	CreatedAt  time.Time
}

// RegisterInput is what a new donor gives to open an account.
type RegisterInput struct {
	Email    string
	Name     string
	Password string
}

// LoginInput is what a donor gives to sign in.
type LoginInput struct {
	Email    string
	Password string
}

// Session is a signed-in session: the plain token is given to the client once and only its
// hash is kept.
type Session struct {
	Token     string
	User      *User
	ExpiresAt time.Time
}

// AuthService opens accounts and sessions.
type AuthService interface {
	// Register creates an account and signs it in.
	Register(ctx context.Context, in RegisterInput) (*Session, error)
	// Login signs in with e-mail and password.
	Login(ctx context.Context, in LoginInput) (*Session, error)
	// Logout revokes the session with the given token.
	Logout(ctx context.Context, token string) error
	// Authenticate returns the user a live session token belongs to, or an EUNAUTHORIZED error.
	Authenticate(ctx context.Context, token string) (*User, error)
}

// NormalizeEmail trims and case-folds an e-mail address and checks it is a plain address.
func NormalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", Invalid("email", "email is required")
	}
	if len(email) > MaxEmailLen {
		return "", Invalid("email", "email must be at most %d characters", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", Invalid("email", "email is not a valid address")
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || !strings.Contains(email[at+1:], ".") || strings.HasSuffix(email, ".") {
		return "", Invalid("email", "email is not a valid address")
	}
	return email, nil
}

// Validate checks a registration and returns it normalised.
func (in RegisterInput) Validate() (RegisterInput, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return in, err
	}
	in.Email = email
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		return in, Invalid("name", "name is required")
	case utf8.RuneCountInString(in.Name) > MaxNameLen:
		return in, Invalid("name", "name must be at most %d characters", MaxNameLen)
	case !utf8.ValidString(in.Name) || strings.ContainsFunc(in.Name, isHiddenOrControl):
		return in, Invalid("name", "name contains control or invisible characters")
	}
	if err := ValidatePassword(in.Password); err != nil {
		return in, err
	}
	return in, nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return Invalid("password", "password must be at least %d characters", MinPasswordLen)
	case n > MaxPasswordLen:
		return Invalid("password", "password must be at most %d characters", MaxPasswordLen)
	}
	return nil
}

// isHiddenOrControl reports whether r has no business in a name or message that others are
// shown (the public live page shows donors' names): C0 and C1 control characters and DEL;
// bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which reorder the
// text after them; and zero-width characters (U+200B-U+200F, U+2060-U+2064, U+FEFF), which
// hide text or make two names look alike.
func isHiddenOrControl(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x2069, r == 0xfeff:
		return true
	}
	return false
}

type userContextKey struct{}

// NewContextWithUser returns a context that carries the signed-in user.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userContextKey{}, u)
}

// UserFromContext returns the signed-in user, or nil.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userContextKey{}).(*User)
	return u
}
