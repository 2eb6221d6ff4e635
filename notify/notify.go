// Package notify sends donors their e-mails over SMTP: a receipt when a donation succeeds and a
// notice when it fails. Without an SMTP server (SMTP_URL unset) it only logs what it would
// have sent.
//
// Each e-mail's Message-ID is derived from the donation and the kind of e-mail, so a message
// sent again (a job retried after a crash mid-send) is recognisably the same message. Send does
// not retry: the caller's job does.
package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// Kinds of e-mail.
const (
	// KindReceipt is the receipt for a donation that succeeded.
	KindReceipt = giveathon.EmailReceipt
	// KindFailure is the notice that a donation failed.
	KindFailure = giveathon.EmailFailure
	// KindRefund is the notice that a donation was refunded.
	KindRefund = giveathon.EmailRefund
)

// Headers that name the donation and the kind of each e-mail, for tests and audits.
const (
	HeaderDonation = "X-Giveathon-Donation"
	HeaderKind     = "X-Giveathon-Kind"
)

// DefaultFrom is the sender when Config.From is empty.
const DefaultFrom = "Giveathon <receipts@giveathon.local>"

// SendTimeout bounds one Send: connecting, talking to the server and handing over the e-mail.
const SendTimeout = 10 * time.Second

// DonationEmail is what an e-mail about a donation says.
type DonationEmail struct {
	// Kind is KindReceipt, KindFailure or KindRefund.
	Kind        string
	DonationID  string
	DonorName   string
	DonorEmail  string
	CharityName string
	// CharityEIN is printed on receipts when known.
	CharityEIN  string
	AmountCents int64
	// Currency is an ISO code; empty means USD.
	Currency string
	// Date is when the donation settled (receipts: required). It is shown in its own location,
	// so pass it in the zone the donor should read.
	Date time.Time
	// FailureReason is, for failure notices, a reason for people, e.g. "Your card was declined
	// (insufficient funds)."
	FailureReason string
	// HistoryURL links to the donor's history, e.g. PUBLIC_URL + "/history"; optional.
	HistoryURL string
}

// Config configures a Mailer.
type Config struct {
	// SMTPURL is smtp://[user:pass@]host[:port][?tls=none|starttls|tls] or
	// smtps://[user:pass@]host[:port]; empty means log only. Without tls, smtp:// requires
	// STARTTLS except to a loopback host, where it is plain text. Special characters in the user
	// name and password are percent-encoded.
	SMTPURL string
	// From is the sender, e.g. "Giveathon <receipts@giveathon.local>"; empty means DefaultFrom.
	From string
	// Logger receives one line per e-mail in log-only mode (and debug lines otherwise); nil
	// means slog.Default().
	Logger *slog.Logger
}

// Mailer sends donation e-mails. It is safe for concurrent use: each Send has a connection of
// its own.
type Mailer struct {
	smtp   *smtpSettings // nil: log only
	from   *mail.Address
	logger *slog.Logger
}

// New checks the configuration and returns a Mailer. It does not connect to the server.
func New(cfg Config) (*Mailer, error) {
	m := &Mailer{logger: cfg.Logger}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	if raw := strings.TrimSpace(cfg.SMTPURL); raw != "" {
		s, err := parseSMTPURL(raw)
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		m.smtp = s
	}
	from := cfg.From
	if strings.TrimSpace(from) == "" {
		from = DefaultFrom
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("notify: the sender %q is not an e-mail address: %v", from, err)
	}
	m.from = addr
	return m, nil
}

// Enabled reports whether the Mailer sends e-mail; it is false in log-only mode.
func (m *Mailer) Enabled() bool { return m.smtp != nil }

// String describes where e-mail goes, without the password: "log only", or a URL such as
// smtp://user:xxxxx@host:587?tls=starttls.
func (m *Mailer) String() string {
	if m.smtp == nil {
		return "log only"
	}
	return m.smtp.String()
}

// Send sends one e-mail about a donation, or only logs it in log-only mode. An e-mail that
// cannot be sent as given is an EINVALID error (sending it again will not help); any other
// error, such as a server that cannot be reached or refuses the message for now, is worth
// retrying later. Send gives up after SendTimeout, or sooner when ctx ends.
func (m *Mailer) Send(ctx context.Context, e DonationEmail) error {
	return m.SendBatch(ctx, []DonationEmail{e})[0]
}

// SendBatch sends e-mails over one connection to the server (or logs each in log-only mode)
// and returns, for each, nil once the server has taken it, or why not: EINVALID when it
// cannot be made, another error when it is worth trying again. It gives up after SendTimeout
// per message, or sooner when ctx ends.
//
// Delivery is at least once: no two systems without a shared transaction can do better across
// a crash. The caller records the e-mails sent after this returns; a process killed in
// between sends them again, with the same Message-ID, which mail services and clients (and
// Mailpit with --ignore-duplicate-ids) keep once. The other order would lose a receipt.
func (m *Mailer) SendBatch(ctx context.Context, list []DonationEmail) []error {
	errs := make([]error, len(list))
	msgs := make([]*composed, len(list))
	ready := 0
	for i, e := range list {
		msg, err := m.compose(e)
		if err != nil {
			errs[i] = fmt.Errorf("send %s e-mail for donation %s: %w", e.Kind, e.DonationID, err)
			continue
		}
		msgs[i] = msg
		ready++
		if m.smtp == nil {
			m.logger.InfoContext(ctx, "notify: e-mail logged, not sent (SMTP_URL is empty)",
				"kind", e.Kind, "donation_id", e.DonationID, "to", msg.to)
		}
	}
	if m.smtp == nil || ready == 0 {
		return errs
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout*time.Duration(ready))
	defer cancel()
	sc, err := m.dial(ctx)
	for i, msg := range msgs {
		if msg == nil {
			continue
		}
		if err == nil {
			err = send(sc, msg.msg)
			if err == nil {
				m.logger.DebugContext(ctx, "notify: e-mail sent", "kind", list[i].Kind, "donation_id", list[i].DonationID)
				continue
			}
			// A refusal of one message leaves the connection usable after RSET; anything
			// else ends it for the rest.
			if rerr := sc.Reset(); rerr == nil {
				errs[i] = m.sendError(ctx, list[i], err)
				err = nil
				continue
			}
		}
		errs[i] = m.sendError(ctx, list[i], err)
	}
	if sc != nil {
		_ = sc.Quit()
		_ = sc.Close()
	}
	return errs
}

func (m *Mailer) sendError(ctx context.Context, e DonationEmail, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		err = fmt.Errorf("%w: %v", cerr, err)
	}
	return fmt.Errorf("send %s e-mail for donation %s to %s: %w", e.Kind, e.DonationID, m.smtp.addr(), err)
}

// preferredAuth lists the SMTP AUTH mechanisms to use, best first. go-mail refuses PLAIN and
// LOGIN over a connection that is not encrypted, unless the server is this machine, so a
// password never crosses a network in clear.
var preferredAuth = []gomail.SMTPAuthType{
	gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin, gomail.SMTPAuthCramMD5,
}

// dial opens a connection to the server, closed when ctx ends.
func (m *Mailer) dial(ctx context.Context) (*smtp.Client, error) {
	s := m.smtp
	tlsConfig := &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(SendTimeout),
		gomail.WithTLSConfig(tlsConfig),
		gomail.WithDialContextFunc(func(dialCtx context.Context, _, _ string) (net.Conn, error) {
			var conn net.Conn
			var err error
			dialer := &net.Dialer{}
			if s.tls == tlsImplicit {
				conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(dialCtx, "tcp", s.addr())
			} else {
				conn, err = dialer.DialContext(dialCtx, "tcp", s.addr())
			}
			if err != nil {
				return nil, err
			}
			// go-mail gives each command its own timeout, so a server that answers slowly could
			// hold a send for many of them: the end of the send's context closes the connection.
			context.AfterFunc(ctx, func() { _ = conn.Close() })
			return conn, nil
		}),
	}
	switch s.tls {
	case tlsNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case tlsStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tlsImplicit:
		// The dialer above makes the TLS connection; this keeps go-mail from asking for STARTTLS.
		opts = append(opts, gomail.WithSSL())
	}
	if s.user != "" {
		opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.password),
			gomail.WithOpportunisticSMTPAuth(preferredAuth...))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("set up SMTP client: %w", err)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return sc, nil
}

// send hands one message to the server over an open connection.
func send(sc *smtp.Client, msg *gomail.Msg) error {
	from, err := msg.GetSender(false)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	if err := sc.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, rcpt := range rcpts {
		if err := sc.Rcpt(rcpt); err != nil {
			return fmt.Errorf("RCPT TO: %w", err)
		}
	}
	w, err := sc.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	return nil
}

// composed is an e-mail ready to go.
type composed struct {
	msg *gomail.Msg
	to  string
}

// donationIDPattern keeps a donation id fit for the Message-ID and the headers.
var donationIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// compose checks e and builds the message.
func (m *Mailer) compose(e DonationEmail) (*composed, error) {
	if e.Kind != KindReceipt && e.Kind != KindFailure && e.Kind != KindRefund {
		return nil, giveathon.Invalid("kind", "unknown kind of e-mail %q: want %q, %q or %q", e.Kind, KindReceipt, KindFailure, KindRefund)
	}
	if !donationIDPattern.MatchString(e.DonationID) {
		return nil, giveathon.Invalid("donationId", "the donation id %q is empty or not made of letters, digits and . _ -", e.DonationID)
	}
	to := strings.TrimSpace(e.DonorEmail)
	if to == "" {
		return nil, giveathon.Invalid("donorEmail", "the e-mail has no recipient: DonorEmail is empty")
	}
	if addr, err := mail.ParseAddress(to); err != nil || addr.Address != to {
		return nil, giveathon.Invalid("donorEmail", "the recipient %q is not a plain e-mail address", to)
	}
	data := templateData{
		DonorName:     oneLine(e.DonorName),
		CharityName:   oneLine(e.CharityName),
		CharityEIN:    oneLine(e.CharityEIN),
		DonationID:    e.DonationID,
		FailureReason: oneLine(e.FailureReason),
		HistoryURL:    strings.TrimSpace(e.HistoryURL),
	}
	switch {
	case data.CharityName == "":
		return nil, giveathon.Invalid("charityName", "the e-mail names no charity: CharityName is empty")
	case e.AmountCents <= 0:
		return nil, giveathon.Invalid("amountCents", "the amount must be positive, not %d cents", e.AmountCents)
	case e.Kind == KindReceipt && e.Date.IsZero():
		return nil, giveathon.Invalid("date", "a receipt needs the date the donation settled")
	}
	if data.DonorName == "" {
		data.DonorName = "donor"
	}
	if data.FailureReason == "" {
		data.FailureReason = "The payment could not be completed."
	}
	currency := e.Currency
	if currency == "" {
		currency = "USD"
	}
	data.Amount = giveathon.FormatMoney(e.AmountCents, currency)
	if !e.Date.IsZero() {
		data.Date = e.Date.Format("January 2, 2006, 3:04 PM MST")
	}

	var subject string
	switch e.Kind {
	case KindReceipt:
		subject = fmt.Sprintf("Your receipt: %s to %s", data.Amount, data.CharityName)
	case KindFailure:
		subject = fmt.Sprintf("Your donation to %s did not go through", data.CharityName)
	case KindRefund:
		subject = fmt.Sprintf("Refunded: %s to %s", data.Amount, data.CharityName)
	}
	text, html, err := render(e.Kind, data)
	if err != nil {
		return nil, err
	}

	msg := m.message(to, e.DonorName, subject, MessageID(e.DonationID, e.Kind), text, html)
	msg.SetGenHeader(HeaderDonation, e.DonationID)
	msg.SetGenHeader(HeaderKind, e.Kind)
	return &composed{msg: msg, to: to}, nil
}

// message builds an e-mail from Giveathon to one person, with its Message-ID (without the
// angle brackets) and its bodies.
func (m *Mailer) message(to, name, subject, messageID, text, html string) *gomail.Msg {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.from)
	msg.AddToMailAddress(&mail.Address{Name: oneLine(name), Address: to})
	msg.Subject(subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(messageID)
	// RFC 3834: no out-of-office replies to a machine.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg
}

// MessageID returns the Message-ID of the e-mail of kind about a donation, without the angle
// brackets: "<donationID>.<kind>@giveathon".
func MessageID(donationID, kind string) string {
	return donationID + "." + kind + "@giveathon"
}

// oneLine trims s and folds each run of white space and control characters into one space,
// so that nothing in it can start a header or a line of its own.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// KindAccountDeleted is the confirmation that a donor's account was deleted.
const KindAccountDeleted = "account_deleted"

// AccountEmail is what an e-mail about a donor's own account says.
type AccountEmail struct {
	UserID string
	Name   string
	// Email is where it goes: for a deleted account, the address it had before the erasure.
	Email string
}

// SendAccountDeleted sends the confirmation that an account was deleted, or only logs it in
// log-only mode. Its Message-ID is derived from the account, so sent again it is the same
// message. Like Send, an EINVALID error means it cannot be sent as given; any other is worth
// retrying.
func (m *Mailer) SendAccountDeleted(ctx context.Context, e AccountEmail) error {
	to := strings.TrimSpace(e.Email)
	if addr, err := mail.ParseAddress(to); err != nil || addr.Address != to {
		return giveathon.Invalid("email", "the recipient %q is not a plain e-mail address", to)
	}
	if !donationIDPattern.MatchString(e.UserID) {
		return giveathon.Invalid("userId", "the user id %q is empty or not made of letters, digits and . _ -", e.UserID)
	}
	data := templateData{DonorName: oneLine(e.Name)}
	if data.DonorName == "" {
		data.DonorName = "donor"
	}
	text, html, err := render(KindAccountDeleted, data)
	if err != nil {
		return err
	}
	msg := m.message(to, e.Name, "Your Giveathon account has been deleted", MessageID(e.UserID, KindAccountDeleted), text, html)
	msg.SetGenHeader(HeaderKind, KindAccountDeleted)
	return m.sendOne(ctx, msg, KindAccountDeleted, "user "+e.UserID)
}

// sendOne sends one message over a connection of its own, or only logs it in log-only mode.
func (m *Mailer) sendOne(ctx context.Context, msg *gomail.Msg, kind, about string) error {
	if m.smtp == nil {
		m.logger.InfoContext(ctx, "notify: e-mail logged, not sent (SMTP_URL is empty)", "kind", kind, "about", about)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	sc, err := m.dial(ctx)
	if err == nil {
		err = send(sc, msg)
		_ = sc.Quit()
		_ = sc.Close()
	}
	if err != nil {
		return fmt.Errorf("send %s e-mail of %s to %s: %w", kind, about, m.smtp.addr(), err)
	}
	return nil
}

// KindDisputeOpened is the alert to admins that a card holder disputed a donation.
const KindDisputeOpened = "dispute_opened"

// DisputeEmail is what the alert of a dispute says.
type DisputeEmail struct {
	DisputeID   string
	DonationID  string
	CharityName string
	AmountCents int64
	Currency    string
	Reason      string
	// ConsoleURL links to the organisers' console.
	ConsoleURL string
}

// SendDisputeOpened alerts each admin address that a donation was disputed, one message each
// with a Message-ID derived from the dispute and the address, so a resent alert is the same
// message. Like Send, an EINVALID error means it cannot be sent as given.
func (m *Mailer) SendDisputeOpened(ctx context.Context, e DisputeEmail, admins []string) error {
	if !donationIDPattern.MatchString(e.DisputeID) || !donationIDPattern.MatchString(e.DonationID) {
		return giveathon.Invalid("disputeId", "the dispute %q or donation %q is not an id", e.DisputeID, e.DonationID)
	}
	currency := e.Currency
	if currency == "" {
		currency = "USD"
	}
	data := templateData{DonorName: "organiser", CharityName: oneLine(e.CharityName), DonationID: e.DonationID,
		Amount: giveathon.FormatMoney(e.AmountCents, currency), FailureReason: oneLine(e.Reason), HistoryURL: strings.TrimSpace(e.ConsoleURL)}
	text, html, err := render(KindDisputeOpened, data)
	if err != nil {
		return err
	}
	return m.sendEach(ctx, admins, KindDisputeOpened, e.DisputeID, "dispute "+e.DisputeID,
		fmt.Sprintf("Disputed: %s to %s", data.Amount, data.CharityName), text, html,
		func(msg *gomail.Msg) { msg.SetGenHeader(HeaderDonation, e.DonationID) })
}

// sendEach sends one message of kind to each address, with a Message-ID derived from idBase
// and the address, so a resent message is the same one. about names it in logs; extra sets
// more headers.
func (m *Mailer) sendEach(ctx context.Context, to []string, kind, idBase, about, subject, text, html string, extra func(*gomail.Msg)) error {
	var errs []error
	for _, addr := range to {
		addr = strings.TrimSpace(addr)
		if a, err := mail.ParseAddress(addr); err != nil || a.Address != addr {
			errs = append(errs, giveathon.Invalid("email", "the address %q is not a plain e-mail address", addr))
			continue
		}
		sum := sha256.Sum256([]byte(strings.ToLower(addr)))
		msg := m.message(addr, "", subject, MessageID(idBase+"."+hex.EncodeToString(sum[:6]), kind), text, html)
		msg.SetGenHeader(HeaderKind, kind)
		if extra != nil {
			extra(msg)
		}
		if err := m.sendOne(ctx, msg, kind, about); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// KindEndpointDisabled is the notice to a partner that one of its webhook endpoints was
// disabled.
const KindEndpointDisabled = "endpoint_disabled"

// EndpointEmail is what the notice of a disabled webhook endpoint says.
type EndpointEmail struct {
	EndpointID  string
	PartnerName string
	URL         string
	Reason      string
	// DisabledAt tells one disabling from the next in the Message-ID.
	DisabledAt time.Time
}

// SendEndpointDisabled tells each address that a partner's webhook endpoint was disabled, one
// message each with a Message-ID derived from the endpoint, the disabling and the address.
// Like Send, an EINVALID error means it cannot be sent as given.
func (m *Mailer) SendEndpointDisabled(ctx context.Context, e EndpointEmail, to []string) error {
	if !donationIDPattern.MatchString(e.EndpointID) {
		return giveathon.Invalid("endpointId", "the endpoint id %q is not an id", e.EndpointID)
	}
	data := templateData{DonorName: oneLine(e.PartnerName), CharityName: oneLine(e.URL), FailureReason: oneLine(e.Reason)}
	if data.DonorName == "" {
		data.DonorName = "partner"
	}
	text, html, err := render(KindEndpointDisabled, data)
	if err != nil {
		return err
	}
	return m.sendEach(ctx, to, KindEndpointDisabled, fmt.Sprintf("%s.%d", e.EndpointID, e.DisabledAt.Unix()), "endpoint "+e.EndpointID,
		"Webhook endpoint disabled: "+data.CharityName, text, html, nil)
}
