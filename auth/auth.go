package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/giveathon/giveathon"
)

// SessionTTL is how long a session lives.
const SessionTTL = 30 * 24 * time.Hour

// tokenLen is the number of random bytes in a session token.
const tokenLen = 32

// Store is the storage the auth service needs.
type Store interface {
	CreateUserWithSession(ctx context.Context, u *giveathon.User, passwordHash string, tokenHash []byte, expiresAt time.Time) error
	FindUserByEmail(ctx context.Context, email string) (*giveathon.User, string, error)
	CreateSession(ctx context.Context, tokenHash []byte, userID string, expiresAt time.Time) error
	FindSessionUser(ctx context.Context, tokenHash []byte) (*giveathon.User, error)
	RevokeSession(ctx context.Context, tokenHash []byte) error
}

// Service implements giveathon.AuthService.
type Service struct {
	Store  Store
	Params Argon2Params
	Logger *slog.Logger
	// Guard limits sign-ins and sign-ups; nil: no limits.
	Guard *Guard
	// Now is the clock (tests move it).
	Now func() time.Time
	// SessionCacheTTL is how long a checked session token is trusted without asking the
	// database again; 0: every request asks. Call before serving.
	SessionCacheTTL time.Duration
	// AdminEmails are the case-folded e-mails (ADMIN_EMAILS) whose accounts are admins
	// whatever their recorded role. Set before serving.
	AdminEmails []string
	cache       *sessionCache
	cacheOnce   sync.Once
	watchers    watchers

	dummyOnce sync.Once
	dummyHash string
}

var _ giveathon.AuthService = (*Service)(nil)

// NewService returns a service with the default argon2id parameters.
func NewService(store Store, logger *slog.Logger) *Service {
	return &Service{Store: store, Params: DefaultArgon2Params, Logger: logger, Now: time.Now}
}

// errBadLogin is the one answer to any failed login, so it tells nothing of which part was wrong.
var errBadLogin = giveathon.Errorf(giveathon.EUNAUTHORIZED, "invalid email or password")

// Register implements giveathon.AuthService.
func (s *Service) Register(ctx context.Context, in giveathon.RegisterInput) (*giveathon.Session, error) {
	in, err := in.Validate()
	if err != nil {
		return nil, err
	}
	if err := s.Guard.Register(ctx); err != nil {
		return nil, err
	}
	hash, err := HashPassword(in.Password, s.Params)
	if err != nil {
		return nil, err
	}
	token, tokenHash, err := newToken()
	if err != nil {
		return nil, err
	}
	u := &giveathon.User{Email: in.Email, Name: in.Name}
	expires := s.Now().Add(SessionTTL)
	if err := s.Store.CreateUserWithSession(ctx, u, hash, tokenHash, expires); err != nil {
		return nil, err
	}
	s.ApplyRole(u)
	return &giveathon.Session{Token: token, User: u, ExpiresAt: expires}, nil
}

// Login implements giveathon.AuthService.
func (s *Service) Login(ctx context.Context, in giveathon.LoginInput) (*giveathon.Session, error) {
	email, err := giveathon.NormalizeEmail(in.Email)
	if err != nil {
		return nil, errBadLogin
	}
	u, err := s.checkPassword(ctx, email, in.Password)
	if err != nil {
		return nil, err
	}
	token, tokenHash, err := newToken()
	if err != nil {
		return nil, err
	}
	expires := s.Now().Add(SessionTTL)
	if err := s.Store.CreateSession(ctx, tokenHash, u.ID, expires); err != nil {
		return nil, err
	}
	s.ApplyRole(u)
	return &giveathon.Session{Token: token, User: u, ExpiresAt: expires}, nil
}

// checkPassword checks the password of the account with a case-folded e-mail under the
// sign-in limits (Guard.Login), and returns the account: errBadLogin when there is no such
// account or the password is wrong.
func (s *Service) checkPassword(ctx context.Context, email, password string) (*giveathon.User, error) {
	if len(password) > 4*giveathon.MaxPasswordLen {
		return nil, errBadLogin
	}
	// The attempt is counted as a failure before the password is checked, and given back if
	// it succeeds.
	attempt, err := s.Guard.Login(ctx, email)
	if err != nil {
		return nil, err
	}
	u, hash, err := s.Store.FindUserByEmail(ctx, email)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		// Spend the same time as a real check, so timing does not tell which e-mails exist.
		_, _ = CheckPassword(password, s.dummy())
		return nil, errBadLogin
	} else if err != nil {
		return nil, err
	}
	ok, err := CheckPassword(password, hash)
	if err != nil {
		return nil, fmt.Errorf("check password of user %s: %w", u.ID, err)
	} else if !ok {
		return nil, errBadLogin
	}
	if err := attempt.Release(ctx); err != nil {
		s.Logger.WarnContext(ctx, "give back the sign-in attempt of a successful sign-in", "err", err)
	}
	return u, nil
}

// Logout implements giveathon.AuthService.
func (s *Service) Logout(ctx context.Context, token string) error {
	h, ok := HashToken(token)
	if !ok {
		return nil
	}
	// Before the revoke and after it: no read of the session under way can cache it again.
	s.sessions().forget(h, s.Now())
	err := s.Store.RevokeSession(ctx, h)
	s.sessions().forget(h, s.Now())
	if err == nil {
		s.watchers.ended(string(h))
	}
	return err
}

// Authenticate implements giveathon.AuthService.
func (s *Service) Authenticate(ctx context.Context, token string) (*giveathon.User, error) {
	h, ok := HashToken(token)
	if !ok {
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "the session token is malformed: sign in again")
	}
	now := s.Now()
	if u, ok := s.sessions().get(h, now); ok {
		return u, nil
	}
	u, err := s.Store.FindSessionUser(ctx, h)
	if giveathon.ErrorCode(err) == giveathon.ENOTFOUND {
		return nil, giveathon.Errorf(giveathon.EUNAUTHORIZED, "the session has expired or was signed out: sign in again")
	} else if err != nil {
		return nil, err
	}
	s.ApplyRole(u)
	s.sessions().put(h, u, now)
	return u, nil
}

// ApplyRole makes an account whose e-mail is in AdminEmails an admin, and gives an account
// read without a role (an older store) the donor's: the role it acts with.
func (s *Service) ApplyRole(u *giveathon.User) {
	if slices.Contains(s.AdminEmails, u.Email) {
		u.Role = giveathon.RoleAdmin
	} else if u.Role == "" {
		u.Role = giveathon.RoleDonor
	}
}

// sessions returns the session cache (nil when SessionCacheTTL is 0).
func (s *Service) sessions() *sessionCache {
	s.cacheOnce.Do(func() {
		if s.SessionCacheTTL > 0 {
			s.cache = &sessionCache{ttl: s.SessionCacheTTL}
		}
	})
	return s.cache
}

func (s *Service) dummy() string {
	s.dummyOnce.Do(func() { s.dummyHash, _ = HashPassword("not a real password", s.Params) })
	return s.dummyHash
}

// newToken returns a new session token (32 random bytes, base64url) and its SHA-256 hash.
// It never starts as an API key does (about one token in 17 million would), so a session
// token is never taken for a key.
func newToken() (string, []byte, error) {
	b := make([]byte, tokenLen)
	var token string
	for token == "" || IsAPIKey(token) {
		if _, err := rand.Read(b); err != nil {
			return "", nil, fmt.Errorf("read random token: %w", err)
		}
		token = base64.RawURLEncoding.EncodeToString(b)
	}
	sum := sha256.Sum256([]byte(token))
	return token, sum[:], nil
}

// HashToken returns the SHA-256 hash a session token is stored under, and false when the
// token is not of the shape newToken makes.
func HashToken(token string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	return sum[:], true
}

// endSessions forgets sessions that storage ended (by their token hashes) and tells their
// watchers, as Logout does for one.
func (s *Service) endSessions(tokenHashes [][]byte) {
	for _, h := range tokenHashes {
		s.sessions().forget(h, s.Now())
		s.watchers.ended(string(h))
	}
}
