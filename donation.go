package giveathon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DonationStatus is where a donation is in its life.
type DonationStatus string

// A donation's states. PENDING -> PROCESSING -> SUCCEEDED | FAILED | REQUIRES_ACTION;
// REQUIRES_ACTION -> SUCCEEDED | FAILED (the donor authenticates, or does not in time);
// SUCCEEDED -> REFUNDED.
const (
	StatusPending        DonationStatus = "PENDING"
	StatusProcessing     DonationStatus = "PROCESSING"
	StatusSucceeded      DonationStatus = "SUCCEEDED"
	StatusFailed         DonationStatus = "FAILED"
	StatusRequiresAction DonationStatus = "REQUIRES_ACTION"
	StatusRefunded       DonationStatus = "REFUNDED"
)

// Kinds of e-mail a move sends (the outbox rows it writes in notifications).
const (
	EmailReceipt = "receipt"
	EmailFailure = "failure"
	EmailRefund  = "refund"
)

// StateRule is what reaching a status means: the states a donation may come from, and the
// consequences the move writes in the same statement (the settlement package and the
// database's move read them here, and nowhere else).
type StateRule struct {
	// From lists the states a donation may move into this one from.
	From []DonationStatus
	// Settles stamps settled_at: the charge is decided.
	Settles bool
	// Totals is how the move changes the event's totals: +1 adds the gift, -1 takes it out.
	Totals int
	// Email is the kind of e-mail the move queues in the outbox, or "" for none.
	Email string
	// RecordsFailure keeps the failure's code and message on the donation.
	RecordsFailure bool
	// PartnerEvent is the type of the partner event the move writes for a partner's gift
	// (donation.succeeded, ...), or "" for none.
	PartnerEvent string
}

// States is the state table: every status a donation may reach by a move, with what reaching
// it writes. PENDING is only ever the first state.
var States = map[DonationStatus]StateRule{
	StatusProcessing:     {From: []DonationStatus{StatusPending}},
	StatusRequiresAction: {From: []DonationStatus{StatusProcessing}, PartnerEvent: EventDonationRequiresAction},
	StatusSucceeded: {From: []DonationStatus{StatusProcessing, StatusRequiresAction}, Settles: true, Totals: +1, Email: EmailReceipt,
		PartnerEvent: EventDonationSucceeded},
	StatusFailed: {From: []DonationStatus{StatusProcessing, StatusRequiresAction}, Settles: true, Email: EmailFailure, RecordsFailure: true,
		PartnerEvent: EventDonationFailed},
	StatusRefunded: {From: []DonationStatus{StatusSucceeded}, Totals: -1, Email: EmailRefund, PartnerEvent: EventDonationRefunded},
}

// PartnerTotals is how a partner event changes the partner's totals: the Totals of the state
// whose move writes it, times the gift's amount (a dispute, or a milestone, changes nothing; a
// lost dispute arrives as donation.refunded).
func PartnerTotals(eventType string, amountCents int64) (cents, count int64) {
	for _, rule := range States {
		if rule.PartnerEvent == eventType && eventType != "" {
			return int64(rule.Totals) * amountCents, int64(rule.Totals)
		}
	}
	return 0, 0
}

// CanMoveTo reports whether a donation in s may move to next.
func (s DonationStatus) CanMoveTo(next DonationStatus) bool {
	for _, f := range States[next].From {
		if f == s {
			return true
		}
	}
	return false
}

// MovesInto returns the states from which a donation may move to s.
func (s DonationStatus) MovesInto() []DonationStatus {
	return States[s].From
}

// Final reports whether the donation's charge is decided: nothing more happens to it but a
// refund.
func (s DonationStatus) Final() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusRefunded
}

// Valid reports whether s is a known status.
func (s DonationStatus) Valid() bool {
	switch s {
	case StatusPending, StatusProcessing, StatusSucceeded, StatusFailed, StatusRequiresAction, StatusRefunded:
		return true
	}
	return false
}

// Donation is one gift from a donor to a charity.
type Donation struct {
	ID              string
	UserID          string
	CharityID       string
	AmountCents     int64
	Currency        string
	Status          DonationStatus
	IdempotencyKey  string
	RequestHash     string
	PaymentMethodID string
	// PaymentIntentID is the provider's PaymentIntent, once the charge worker knows it.
	PaymentIntentID string
	FailureCode     string
	FailureMessage  string
	Message         string
	Anonymous       bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SettledAt       *time.Time
	// PartnerID is the partner the gift came through ("" for a donor's own gift), and
	// PartnerReference the partner's reference for it.
	PartnerID        string
	PartnerReference string
}

// PaymentAttempt is one try of the charge worker (or of the reconciler) at a donation.
type PaymentAttempt struct {
	ID                 string
	DonationID         string
	AttemptNo          int
	ProviderRequestKey string
	// Status is started, succeeded, failed, requires_action or error (a retryable failure).
	Status       string
	ErrorCode    string
	ErrorMessage string
	StartedAt    time.Time
	FinishedAt   *time.Time
}

// Payment attempt statuses.
const (
	AttemptStarted        = "started"
	AttemptSucceeded      = "succeeded"
	AttemptFailed         = "failed"
	AttemptRequiresAction = "requires_action"
	AttemptError          = "error"
)

// DonationLimits bound what a donation may be.
type DonationLimits struct {
	MinAmountCents int64
	MaxAmountCents int64
}

// DefaultDonationLimits are $1 to $100,000.
var DefaultDonationLimits = DonationLimits{MinAmountCents: 100, MaxAmountCents: 10_000_000}

// Field limits of a donation.
const (
	MaxMessageLen        = 500
	MaxIdempotencyKeyLen = 255
	// DuplicateWindow is how long a second gift with the same donor, charity and amount under
	// another key asks for confirmation.
	DuplicateWindow = 60 * time.Second
)

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// SubmitDonationInput is a donor's request to give. CharityID and PaymentMethodID are the
// internal UUIDs (the GraphQL layer decodes global IDs).
type SubmitDonationInput struct {
	CharityID        string
	AmountCents      int64
	Currency         string
	PaymentMethodID  string
	IdempotencyKey   string
	ConfirmDuplicate bool
	Message          string
	Anonymous        bool
	// Partner, when set, makes the gift a partner's: its donor is the partner's, and the
	// idempotency key the partner's.
	Partner *PartnerGift
	// DeclinedCardsSince is set by the settlement, not the donor: when it is not zero, the
	// submit's facts count the donor's cards declined since then (card testing).
	DeclinedCardsSince time.Time
}

// PartnerGift is what a gift through a partner carries besides a donor's own gift.
type PartnerGift struct {
	PartnerID string
	// Reference is the partner's own reference for the gift ("" for none).
	Reference string
	// DonorEmail and DonorName are the partner's donor (the receipt goes to the e-mail).
	DonorEmail string
	DonorName  string
	// ProviderPaymentMethodID is the provider's card the partner's page made: what the
	// request asked for (PaymentMethodID is the card as saved here, for the donor).
	ProviderPaymentMethodID string
}

// asInvalid returns the *Error a validation returned.
func asInvalid(err error) *Error {
	e, ok := err.(*Error)
	if !ok {
		return Invalid("", "%v", err)
	}
	return e
}

// MaxPartnerReferenceLen bounds a partner's reference for a gift.
const MaxPartnerReferenceLen = 255

// Validate checks the partner's part of a gift and returns it normalised.
func (p PartnerGift) Validate() (PartnerGift, error) {
	var err error
	if p.DonorEmail, err = NormalizeEmail(p.DonorEmail); err != nil {
		return p, asInvalid(err).WithField("donor.email")
	}
	if p.DonorName, err = NormalizeName(p.DonorName); err != nil {
		return p, asInvalid(err).WithField("donor.name")
	}
	if p.Reference, err = NormalizePartnerReference("partnerReference", p.Reference); err != nil {
		return p, err
	}
	if p.ProviderPaymentMethodID == "" {
		return p, Invalid("providerPaymentMethodId", "providerPaymentMethodId is required")
	}
	return p, nil
}

// NormalizePartnerReference checks a partner's reference for a gift, given or looked for (the
// error names field), and returns it trimmed: at most MaxPartnerReferenceLen bytes of text
// without control or invisible characters.
func NormalizePartnerReference(field, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	switch {
	case len(ref) > MaxPartnerReferenceLen:
		return ref, Invalid(field, "partnerReference must be at most %d characters", MaxPartnerReferenceLen)
	case !utf8.ValidString(ref) || strings.ContainsFunc(ref, isHiddenOrControl):
		return ref, Invalid(field, "partnerReference contains control or invisible characters")
	}
	return ref, nil
}

// Validate checks the input against the limits and returns it normalised (currency upper
// case, message trimmed).
func (in SubmitDonationInput) Validate(l DonationLimits) (SubmitDonationInput, error) {
	switch {
	case in.AmountCents < l.MinAmountCents:
		return in, Invalid("amountCents", "amountCents must be at least %d (%s)", l.MinAmountCents, FormatMoney(l.MinAmountCents, "USD"))
	case in.AmountCents > l.MaxAmountCents:
		return in, Invalid("amountCents", "amountCents must be at most %d (%s)", l.MaxAmountCents, FormatMoney(l.MaxAmountCents, "USD"))
	}
	in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
	if in.Currency == "" {
		in.Currency = "USD"
	}
	if in.Currency != "USD" {
		return in, Invalid("currency", "currency must be USD")
	}
	switch {
	case in.IdempotencyKey == "":
		return in, Invalid("idempotencyKey", "idempotencyKey is required")
	case len(in.IdempotencyKey) > MaxIdempotencyKeyLen:
		return in, Invalid("idempotencyKey", "idempotencyKey must be at most %d characters", MaxIdempotencyKeyLen)
	case !idempotencyKeyPattern.MatchString(in.IdempotencyKey):
		return in, Invalid("idempotencyKey", "idempotencyKey may contain only letters, digits and _ . : -")
	}
	in.Message = strings.TrimSpace(in.Message)
	switch {
	case !utf8.ValidString(in.Message):
		return in, Invalid("message", "message is not valid UTF-8")
	case utf8.RuneCountInString(in.Message) > MaxMessageLen:
		return in, Invalid("message", "message must be at most %d characters", MaxMessageLen)
	case strings.ContainsFunc(in.Message, func(r rune) bool { return isHiddenOrControl(r) && r != '\n' && r != '\t' && r != '\r' }):
		return in, Invalid("message", "message contains control or invisible characters")
	}
	if in.Partner != nil {
		p, err := in.Partner.Validate()
		if err != nil {
			return in, err
		}
		in.Partner = &p
	}
	return in, nil
}

// RequestHash fingerprints what the donor asked for, so a reused idempotency key with other
// parameters is told apart from a retry. ConfirmDuplicate is not part of it: it is a
// permission, not a parameter of the gift.
//
// A partner's gift is fingerprinted by what the partner sent (its donor, the provider's card,
// its reference), known before the card is saved here, so a retry is told apart before any
// call to the provider.
func (in SubmitDonationInput) RequestHash() string {
	h := sha256.New()
	parts := []string{in.CharityID, strconv.FormatInt(in.AmountCents, 10), in.Currency, in.PaymentMethodID, in.Message, strconv.FormatBool(in.Anonymous)}
	if p := in.Partner; p != nil {
		parts = []string{in.CharityID, strconv.FormatInt(in.AmountCents, 10), in.Currency, p.ProviderPaymentMethodID, in.Message,
			strconv.FormatBool(in.Anonymous), p.PartnerID, p.Reference, p.DonorEmail, p.DonorName}
	}
	for _, part := range parts {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SubmitResult is the answer to a submission: the donation, or the earlier one it may
// duplicate.
type SubmitResult struct {
	Donation *Donation
	// Created is true when this submission made the donation (not a replay of its key).
	Created bool
	// Queued is true when the donation's charge was queued in the transaction that made it.
	Queued            bool
	NeedsConfirmation bool
	DuplicateOf       *Donation
}

// DonationFilter selects a donor's donations for their history.
type DonationFilter struct {
	UserID string
	Status *DonationStatus
	Page   Page
}

// DonationService takes and reads donations.
type DonationService interface {
	// SubmitDonation records a gift (PENDING) and queues its charge, in one transaction.
	SubmitDonation(ctx context.Context, userID string, in SubmitDonationInput) (*SubmitResult, error)
	// FindDonationByID returns one of the user's donations, or ENOTFOUND.
	FindDonationByID(ctx context.Context, userID, id string) (*Donation, error)
	// FindDonations returns a page of the user's donations, newest first, with cursors and the
	// total count.
	FindDonations(ctx context.Context, f DonationFilter) ([]*Donation, []string, int, error)
	// FindPaymentAttempts returns a donation's attempts in order.
	FindPaymentAttempts(ctx context.Context, donationID string) ([]*PaymentAttempt, error)
}

// FormatMoney formats cents as an amount for people: "$25.00".
func FormatMoney(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	if strings.EqualFold(currency, "USD") || currency == "" {
		return fmt.Sprintf("%s$%s.%02d", sign, whole, cents%100)
	}
	return fmt.Sprintf("%s%s.%02d %s", sign, whole, cents%100, strings.ToUpper(currency))
}

// MarshalGQL writes the status as a GraphQL enum value (standard library only, so the
// domain stays free of the GraphQL library).
func (s DonationStatus) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(s)))
}

// UnmarshalGQL reads a GraphQL enum value.
func (s *DonationStatus) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok || !DonationStatus(str).Valid() {
		return Invalid("status", "%v is not a donation status", v)
	}
	*s = DonationStatus(str)
	return nil
}

// Move is a decided change of a donation's status, with what is recorded beside it in the
// same statement. The state table says where it may come from and what it writes.
type Move struct {
	// UserID and DonationID are the donation's key (the donor's id names its partition; ""
	// has it looked up by the donation's id alone).
	UserID         string
	DonationID     string
	To             DonationStatus
	FailureCode    string
	FailureMessage string
	// PaymentIntentID is recorded if the donation has none yet.
	PaymentIntentID string
	// Attempt, when set, records how that payment attempt ended, whether or not the donation
	// moves.
	Attempt *AttemptEnd
	// Event, when set, records the provider event that caused the move: the move is made only
	// if the event is new, so an event delivered twice is applied once.
	Event *ProviderEvent
}

// AttemptEnd is how a payment attempt ended.
type AttemptEnd struct {
	No      int
	Status  string
	Code    string
	Message string
}

// ProviderEvent names an event of the payment provider (a webhook).
type ProviderEvent struct {
	ID   string
	Type string
}

// SubmitFacts is what a new gift is checked against, read in the transaction that records it.
type SubmitFacts struct {
	// Existing is the donor's donation under the same idempotency key, if any.
	Existing *Donation
	// CharityActive is nil when the charity does not exist.
	CharityActive *bool
	// CardRemoved is nil when the card is not one of the donor's.
	CardRemoved *bool
	// Duplicate is an equal gift (donor, charity, amount) inside the duplicate window, looked
	// for only when the donor has not confirmed a duplicate.
	Duplicate *Donation
	// DeclinedCards is how many of the donor's distinct cards were declined since
	// SubmitDonationInput.DeclinedCardsSince (0 when it is zero), and CardSucceeded whether a
	// gift with this card ever succeeded (read only when DeclinedCards is not 0).
	DeclinedCards int
	CardSucceeded bool
}

// SubmitDecider rules on a submission from the facts read in its transaction: an answer
// without a new donation (a replay of its key, a duplicate to confirm), an error, or insert.
type SubmitDecider func(SubmitFacts) (res *SubmitResult, insert bool, err error)

// ChargeContext is what charging a donation needs besides the donation.
type ChargeContext struct {
	Donation                *Donation
	ProviderCustomerID      string
	ProviderPaymentMethodID string
	DonorEmail              string
	DonorName               string
	// OpenAttemptAge is how long ago the donation's newest unfinished payment attempt
	// started, by the database's clock; OpenAttempt says whether it has one. Read by
	// FindChargeContext only.
	OpenAttempt    bool
	OpenAttemptAge time.Duration
}

// ChargeClaim is what claiming a donation's charge returns: its charge context as the claim
// left it, whether the claim moved it PENDING -> PROCESSING, and the payment attempt it
// started (AttemptNo 0: none, the donation was not PROCESSING after the claim: settled by
// someone else, or waiting for its donor).
type ChargeClaim struct {
	ChargeContext
	Moved      bool
	AttemptNo  int
	RequestKey string
}

// TotalsCorrection is a difference the reconciler found between a charity's counters and its
// donations, and booked.
type TotalsCorrection struct {
	CharityID string
	Cents     int64
	Donations int64
}

// Dispute is a card holder's challenge of a donation's charge, as the provider reports it:
// status (needs_response, under_review, won, lost, ...), the holder's reason and the amount.
// A dispute lost takes the gift back out of the totals, as a refund does.
type Dispute struct {
	ProviderDisputeID string
	UserID            string
	DonationID        string
	Status            string
	Reason            string
	AmountCents       int64
}

// ErrRefundUnanswered marks (errors.Is) a refund whose call the payment provider did not
// answer: the refund may still be made, and its event then moves the donation. It comes
// wrapped with the error the caller is shown.
var ErrRefundUnanswered = errors.New("the payment provider did not answer a refund, and may still make it")

// ClosedDisputeStatuses are the statuses (Stripe's) of a dispute that is over: a later event
// about it does not reopen it.
var ClosedDisputeStatuses = []string{"won", "lost", "warning_closed"}

// MaxRefundReasonLen bounds the reason an organiser gives for a refund.
const MaxRefundReasonLen = 500

// ValidateRefundReason checks and trims the reason given for a refund (optional).
func ValidateRefundReason(reason *string) (string, error) {
	if reason == nil {
		return "", nil
	}
	r := strings.TrimSpace(*reason)
	switch {
	case !utf8.ValidString(r) || strings.ContainsFunc(r, func(c rune) bool { return isHiddenOrControl(c) && c != '\n' }):
		return "", Invalid("reason", "reason contains control or invisible characters")
	case utf8.RuneCountInString(r) > MaxRefundReasonLen:
		return "", Invalid("reason", "reason must be at most %d characters", MaxRefundReasonLen)
	}
	return r, nil
}
