package giveathon

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode"
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
	// Role is what the account may do: RoleDonor, or RoleAdmin (granted in the database, or
	// by its e-mail being in ADMIN_EMAILS).
	Role Role
}

// Role is what an account may do.
type Role string

// Roles.
const (
	RoleDonor Role = "DONOR"
	RoleAdmin Role = "ADMIN"
)

// IsAdmin reports whether the user is an admin.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin }

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
	if in.Name, err = NormalizeName(in.Name); err != nil {
		return in, err
	}
	if err := ValidatePassword(in.Password); err != nil {
		return in, err
	}
	return in, nil
}

// NormalizeName trims a person's name and checks it may be shown to others: present, not too
// long, no control or invisible characters.
func NormalizeName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return name, Invalid("name", "name is required")
	case utf8.RuneCountInString(name) > MaxNameLen:
		return name, Invalid("name", "name must be at most %d characters", MaxNameLen)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, isHiddenOrControl):
		return name, Invalid("name", "name contains control or invisible characters")
	}
	return name, nil
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
// shown (the public live page shows donors' names): control characters (Cc: C0, DEL, C1);
// format characters (Cf: soft hyphens, zero-width characters, bidi marks, embeddings,
// overrides and isolates, which reorder or hide text, tag characters, interlinear
// annotations); line and paragraph separators (Zl, Zp); and the fillers that render as
// nothing (U+115F, U+1160, U+3164, U+FFA0, U+2800), which make a name look blank or two names
// alike.
func isHiddenOrControl(r rune) bool {
	switch r {
	case 0x115f, 0x1160, 0x3164, 0xffa0, 0x2800:
		return true
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
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
