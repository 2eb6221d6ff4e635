package giveathon

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// AdminAction is one line of the audit log: who did what to which object, and the object
// before and after. The log is written only by inserts (db.RecordAdminAction) and never
// changed.
type AdminAction struct {
	ID         string
	ActorID    string
	ActorEmail string
	// Action names what was done: the mutation ("createCharity", "refundDonation") or command.
	Action string
	// ObjectType and ObjectID name the object ("Charity", its raw id).
	ObjectType string
	ObjectID   string
	// Before and After are the object as JSON (nil: none, as before a creation). When
	// recording, any value that encoding/json can marshal; when read back, json.RawMessage.
	Before, After any
	CreatedAt     time.Time
}

// NewAdminAction returns the audit line of an admin's action on an object.
func NewAdminAction(actor *User, action, objectType, objectID string, before, after any) AdminAction {
	a := AdminAction{Action: action, ObjectType: objectType, ObjectID: objectID, Before: before, After: after}
	if actor != nil {
		a.ActorID, a.ActorEmail = actor.ID, actor.Email
	}
	return a
}

// CharityInput is what an admin gives to create a charity (every field), or to update one
// (only the fields that are set).
type CharityInput struct {
	Slug        *string
	Name        *string
	Description *string
	EIN         *string
	Active      *bool
}

// Limits on charity fields.
const (
	MaxCharityNameLen        = 200
	MaxCharityDescriptionLen = 4000
)

var (
	einFormat  = regexp.MustCompile(`^[0-9]{2}-[0-9]{7}$`)
	slugFormat = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Apply checks the input and returns c with the input's fields set on it.
func (in CharityInput) Apply(c Charity) (Charity, error) {
	if in.Name != nil {
		c.Name = strings.TrimSpace(*in.Name)
	}
	if in.Description != nil {
		c.Description = strings.TrimSpace(*in.Description)
	}
	if in.EIN != nil {
		c.EIN = strings.TrimSpace(*in.EIN)
	}
	if in.Active != nil {
		c.Active = *in.Active
	}
	madeSlug := false
	if in.Slug != nil {
		c.Slug = strings.TrimSpace(*in.Slug)
	} else if c.Slug == "" {
		c.Slug, madeSlug = slugOf(c.Name), true
	}
	switch {
	case c.Name == "":
		return c, Invalid("name", "name is required")
	case !utf8.ValidString(c.Name) || HasControl(c.Name):
		return c, Invalid("name", "name must not hold control or invisible characters")
	case utf8.RuneCountInString(c.Name) > MaxCharityNameLen:
		return c, Invalid("name", "name must be at most %d characters", MaxCharityNameLen)
	case madeSlug && c.Slug == "":
		return c, Invalid("slug", "slug is required for this name: it has no letters a-z or digits to make one of (give one such as \"food-bank\")")
	case utf8.RuneCountInString(c.Description) > MaxCharityDescriptionLen || !utf8.ValidString(c.Description) ||
		strings.ContainsFunc(c.Description, func(r rune) bool { return r != '\n' && isHiddenOrControl(r) }):
		return c, Invalid("description", "description must be at most %d plain characters", MaxCharityDescriptionLen)
	case !einFormat.MatchString(c.EIN):
		return c, Invalid("ein", "ein must look like 12-3456789")
	case len(c.Slug) > 100 || !slugFormat.MatchString(c.Slug):
		return c, Invalid("slug", "slug must be lower-case letters and digits joined by hyphens")
	}
	return c, nil
}

// slugOf makes a slug from a name: lower-case letters and digits, hyphens between words.
// Accents are dropped first ("Éire Ökö" makes "eire-oko"); other scripts make nothing.
func slugOf(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(norm.NFD.String(name)) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// AdminDonationFilter selects donations across donors for the organisers' console.
type AdminDonationFilter struct {
	Status        *DonationStatus
	Email         string
	CharityID     string
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
	Page          Page
}

// AdminDonation is a donation as the console shows it: with its donor.
type AdminDonation struct {
	*Donation
	DonorEmail string
	DonorName  string
}

// AdminService is what the admins' fields do. Every method is called only for an admin
// (auth.RequireAdmin), and every change is written to the audit log with it.
type AdminService interface {
	CreateCharity(ctx context.Context, actor *User, in CharityInput) (*Charity, error)
	UpdateCharity(ctx context.Context, actor *User, id string, in CharityInput) (*Charity, error)
	// FindAdminActions returns a page of the audit log, newest first, its cursors and count.
	FindAdminActions(ctx context.Context, p Page) ([]*AdminAction, []string, int, error)
	// FindAdminDonations returns a page of any donors' donations, newest first.
	FindAdminDonations(ctx context.Context, f AdminDonationFilter) ([]*AdminDonation, []string, int, error)
	// RecordAdminAction writes one line of the audit log, for an action made elsewhere (a
	// refund, made at the provider and by the settlement).
	RecordAdminAction(ctx context.Context, a AdminAction) error
}
