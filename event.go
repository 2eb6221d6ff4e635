package giveathon

import (
	"context"
	"time"
)

// Event is the time-boxed charity event a deployment runs: donations are taken between
// StartsAt and EndsAt.
type Event struct {
	Name      string
	StartsAt  time.Time
	EndsAt    time.Time
	GoalCents int64
}

// CheckOpen returns nil while the event takes donations at now, and otherwise an EINVALID
// error that says when it opens or when it closed.
func (e Event) CheckOpen(now time.Time) error {
	const layout = "Jan 2, 2006 15:04 MST"
	switch {
	case now.Before(e.StartsAt):
		return Errorf(EINVALID, "%s has not started yet: donations open on %s", e.Name, e.StartsAt.UTC().Format(layout))
	case !now.Before(e.EndsAt):
		return Errorf(EINVALID, "%s has ended: donations closed on %s", e.Name, e.EndsAt.UTC().Format(layout))
	}
	return nil
}

// EventSnapshot is the event with its totals as they were at one moment.
type EventSnapshot struct {
	Name      string
	StartsAt  time.Time
	EndsAt    time.Time
	GoalCents int64
	// Open is whether donations were taken at the moment of the snapshot.
	Open bool
	// TotalCents and DonationCount count SUCCEEDED donations (a refund takes one back out).
	TotalCents    int64
	DonationCount int
	// CharityTotals are the charities with something raised, highest total first.
	CharityTotals []*CharityTotal
	// RecentDonations are the latest succeeded donations, newest first.
	RecentDonations []*PublicDonation
	// At is when the snapshot was read.
	At time.Time
}

// CharityTotal is what one charity has raised.
type CharityTotal struct {
	Charity       *Charity
	TotalCents    int64
	DonationCount int
}

// PublicDonation is a succeeded donation as anyone may see it: no card, message or e-mail,
// and no name when the donor asked to stay anonymous.
type PublicDonation struct {
	DonorName   string
	Charity     *Charity
	AmountCents int64
	Currency    string
	SettledAt   time.Time
}

// AnonymousDonor is the name shown for a donor who gave anonymously.
const AnonymousDonor = "Anonymous"

// EventTotalsService reads the event's totals.
type EventTotalsService interface {
	// FindEventTotals fills in the totals, the top charities and the latest recentLimit
	// donations of the event.
	FindEventTotals(ctx context.Context, e Event, recentLimit int) (*EventSnapshot, error)
}
