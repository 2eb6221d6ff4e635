package giveathon

import (
	"context"
	"time"
)

// DataExport is everything Giveathon keeps about a donor, as the donor downloads it: the
// account, the cards as brand and last four digits (never the provider's ids), and every
// donation. It is encoded as JSON; the field names are a contract with donors' tools.
type DataExport struct {
	ExportedAt     time.Time        `json:"exportedAt"`
	Account        ExportAccount    `json:"account"`
	PaymentMethods []ExportCard     `json:"paymentMethods"`
	Donations      []ExportDonation `json:"donations"`
}

// ExportAccount is the account in a DataExport.
type ExportAccount struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	HomeRegion string    `json:"homeRegion"`
	CreatedAt  time.Time `json:"createdAt"`
}

// ExportCard is a saved card in a DataExport, removed ones included.
type ExportCard struct {
	Brand     string     `json:"brand"`
	Last4     string     `json:"last4"`
	ExpMonth  int        `json:"expMonth"`
	ExpYear   int        `json:"expYear"`
	IsDefault bool       `json:"isDefault"`
	AddedAt   time.Time  `json:"addedAt"`
	RemovedAt *time.Time `json:"removedAt"`
}

// ExportDonation is a donation in a DataExport.
type ExportDonation struct {
	ID          string         `json:"id"`
	CharityID   string         `json:"charityId"`
	CharityName string         `json:"charityName"`
	AmountCents int64          `json:"amountCents"`
	Currency    string         `json:"currency"`
	Status      DonationStatus `json:"status"`
	Message     string         `json:"message"`
	Anonymous   bool           `json:"anonymous"`
	// Card is the card it was given with, as brand and last four ("visa 4242").
	Card        string     `json:"card"`
	FailureCode string     `json:"failureCode,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	SettledAt   *time.Time `json:"settledAt"`
}

// AccountService gives donors their own data: a copy of it, and the erasure of their account.
type AccountService interface {
	// ExportData returns everything kept about the donor.
	ExportData(ctx context.Context, u *User) (*DataExport, error)
	// DeleteAccount checks the donor's password, then ends every session, detaches every
	// card at the provider, erases the name and e-mail and sends one confirmation e-mail.
	// Donations stay, without personal data, for the charities' accounting. A donation whose
	// charge is not decided yet makes it ECONFLICT; a wrong password EUNAUTHORIZED.
	DeleteAccount(ctx context.Context, u *User, password string) error
}

// ErrAccountBusy is the answer to a deletion while a donation of the donor's is not decided
// yet, or its e-mail is still to be sent (to the address the deletion erases).
var ErrAccountBusy = &Error{Code: ECONFLICT,
	Message: "a donation of yours is still being charged, or its e-mail is on its way: try again in a few minutes"}

// ErasedEmail is the address an erased account keeps: unique like any e-mail, in the
// reserved .invalid domain (RFC 2606) so that nothing is ever sent to it, and free to sign
// up with again.
func ErasedEmail(userID string) string {
	return "deleted-" + userID + "@invalid"
}

// Undecided lists the statuses of a donation whose charge is not decided yet (not Final): an
// account with one cannot be deleted until it settles.
var Undecided = []DonationStatus{StatusPending, StatusProcessing, StatusRequiresAction}
