package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/notify"
	"github.com/google/uuid"
)

const irsStatement = "No goods or services were provided in exchange for this contribution."

// setup starts a Mailpit and a Mailer that sends to it.
func setup(t *testing.T) (*testenv.Mailpit, *notify.Mailer) {
	t.Helper()
	mp := testenv.StartMailpit(t)
	m, err := notify.New(notify.Config{SMTPURL: mp.SMTPURL, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Enabled() {
		t.Fatal("a Mailer with an SMTP_URL is not enabled")
	}
	return mp, m
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func receipt() notify.DonationEmail {
	return notify.DonationEmail{
		Kind:        notify.KindReceipt,
		DonationID:  uuid.NewString(),
		DonorName:   "Dana Whitfield",
		DonorEmail:  "dana@example.test",
		CharityName: "Riverbend Food Bank",
		CharityEIN:  "12-3456789",
		AmountCents: 2500,
		Currency:    "USD",
		Date:        time.Date(2026, 3, 14, 15, 4, 0, 0, time.UTC),
		HistoryURL:  "http://127.0.0.1:8080/history",
	}
}

func failure() notify.DonationEmail {
	e := receipt()
	e.Kind = notify.KindFailure
	e.FailureReason = "Your card was declined (insufficient funds)."
	return e
}

// sendAndFetch sends e and returns it as Mailpit received it.
func sendAndFetch(t *testing.T, mp *testenv.Mailpit, m *notify.Mailer, e notify.DonationEmail) *testenv.MailpitContent {
	t.Helper()
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := mp.WaitForMessages(t, "message-id:"+notify.MessageID(e.DonationID, e.Kind), 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages for one Send, want 1", len(msgs))
	}
	return mp.Message(t, msgs[0].ID)
}

func mustContain(t *testing.T, part, body string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("%s part lacks %q:\n%s", part, want, body)
		}
	}
}

func TestReceipt(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	e := receipt()
	got := sendAndFetch(t, mp, m, e)

	if want := "Your receipt: $25.00 to Riverbend Food Bank"; got.Subject != want {
		t.Errorf("subject %q, want %q", got.Subject, want)
	}
	if len(got.To) != 1 || got.To[0] != e.DonorEmail {
		t.Errorf("to %q, want [%s]", got.To, e.DonorEmail)
	}
	if got.From != "receipts@giveathon.local" {
		t.Errorf("from %q, want the default sender", got.From)
	}
	wantID := e.DonationID + ".receipt@giveathon"
	if got.MessageID != wantID || got.Headers.Get("Message-Id") != "<"+wantID+">" {
		t.Errorf("Message-ID %q (header %q), want <%s>", got.MessageID, got.Headers.Get("Message-Id"), wantID)
	}
	for header, want := range map[string]string{
		notify.HeaderDonation: e.DonationID,
		notify.HeaderKind:     notify.KindReceipt,
		"Auto-Submitted":      "auto-generated",
	} {
		if v := got.Headers.Get(header); v != want {
			t.Errorf("header %s: %q, want %q", header, v, want)
		}
	}
	if ct := got.Headers.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type %q, want multipart/alternative", ct)
	}
	for part, body := range map[string]string{"text": got.Text, "HTML": got.HTML} {
		mustContain(t, part, body, "Dana Whitfield", "Riverbend Food Bank", "12-3456789", "$25.00",
			"March 14, 2026", e.DonationID, irsStatement, e.HistoryURL)
	}
	if !strings.Contains(got.HTML, `<a href="http://127.0.0.1:8080/history">`) {
		t.Errorf("HTML part does not link to the history:\n%s", got.HTML)
	}
}

func TestFailureNotice(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	e := failure()
	got := sendAndFetch(t, mp, m, e)

	if want := "Your donation to Riverbend Food Bank did not go through"; got.Subject != want {
		t.Errorf("subject %q, want %q", got.Subject, want)
	}
	if got.MessageID != e.DonationID+".failure@giveathon" {
		t.Errorf("Message-ID %q", got.MessageID)
	}
	if k := got.Headers.Get(notify.HeaderKind); k != notify.KindFailure {
		t.Errorf("kind header %q", k)
	}
	for part, body := range map[string]string{"text": got.Text, "HTML": got.HTML} {
		mustContain(t, part, body, "Dana Whitfield", "$25.00", "Riverbend Food Bank", e.DonationID,
			"Your card was declined (insufficient funds).", "not been charged", "give again with another card")
		if strings.Contains(body, irsStatement) {
			t.Errorf("%s part of a failure notice reads like a receipt:\n%s", part, body)
		}
	}
}

func TestNamesAreEscapedInHTML(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	e := receipt()
	e.DonorName = `Ana <b>O'Hara</b> & "Co"`
	e.CharityName = `Kids <script>alert(1)</script> Fund`
	got := sendAndFetch(t, mp, m, e)

	for _, raw := range []string{"<b>", "<script>"} {
		if strings.Contains(got.HTML, raw) {
			t.Errorf("HTML part contains %q unescaped:\n%s", raw, got.HTML)
		}
	}
	mustContain(t, "HTML", got.HTML,
		"Ana &lt;b&gt;O&#39;Hara&lt;/b&gt; &amp; &#34;Co&#34;",
		"Kids &lt;script&gt;alert(1)&lt;/script&gt; Fund")
	// The text part is not HTML: names appear as they are.
	mustContain(t, "text", got.Text, e.DonorName, e.CharityName)
	if want := "Your receipt: $25.00 to " + e.CharityName; got.Subject != want {
		t.Errorf("subject %q, want %q", got.Subject, want)
	}
}

func TestHeaderInjectionIsFolded(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	e := receipt()
	e.CharityName = "Riverbend\r\nBcc: victim@example.test\r\nX-Evil: 1"
	e.DonorName = "Dana\r\nX-Evil: 2"
	got := sendAndFetch(t, mp, m, e)
	if v := got.Headers.Get("X-Evil"); v != "" {
		t.Errorf("a name injected the header X-Evil: %q", v)
	}
	if len(got.To) != 1 {
		t.Errorf("recipients %q, want only the donor", got.To)
	}
	if want := "Your receipt: $25.00 to Riverbend Bcc: victim@example.test X-Evil: 1"; got.Subject != want {
		t.Errorf("subject %q, want %q", got.Subject, want)
	}
}

func TestResendHasTheSameMessageID(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	e := receipt()
	for range 2 {
		if err := m.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	msgs := mp.WaitForMessages(t, "message-id:"+notify.MessageID(e.DonationID, e.Kind), 2, 5*time.Second)
	if len(msgs) != 2 || msgs[0].MessageID != msgs[1].MessageID {
		t.Fatalf("re-sent messages: %+v, want two with one Message-ID", msgs)
	}
}

func TestSMTPAuth(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t)
	// Mailpit accepts any credentials; go-mail sends PLAIN in clear only to a loopback server.
	smtpURL := strings.Replace(mp.SMTPURL, "smtp://", "smtp://giveathon:s3cr%2Ft@", 1)
	m, err := notify.New(notify.Config{SMTPURL: smtpURL, From: "Events <events@giveathon.local>", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.String(), "s3cr") {
		t.Errorf("String() shows the password: %s", m)
	}
	got := sendAndFetch(t, mp, m, receipt())
	if got.Username != "giveathon" {
		t.Errorf("SMTP user %q, want giveathon", got.Username)
	}
	if got.From != "events@giveathon.local" {
		t.Errorf("from %q, want the configured sender", got.From)
	}
}

func TestTLSRequiredButNotOffered(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t) // plain text only
	addr := mp.SMTPAddr
	for _, smtpURL := range []string{"smtp://" + addr + "?tls=starttls", "smtps://" + addr} {
		m, err := notify.New(notify.Config{SMTPURL: smtpURL, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(context.Background(), receipt()); err == nil {
			t.Errorf("%s: Send fell back to plain text", smtpURL)
		}
	}
	if got := mp.Messages(t, ""); len(got) != 0 {
		t.Errorf("Mailpit received %d messages in plain text", len(got))
	}
}

func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			e := receipt()
			e.DonorEmail = fmt.Sprintf("donor%d@example.test", i)
			errs <- m.Send(context.Background(), e)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := mp.WaitForMessages(t, "subject:receipt", n, 5*time.Second); len(got) != n {
		t.Errorf("got %d messages, want %d", len(got), n)
	}
}

func TestLogOnly(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	m, err := notify.New(notify.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if m.Enabled() || m.String() != "log only" {
		t.Fatalf("a Mailer without SMTP_URL: Enabled %v, String %q", m.Enabled(), m)
	}
	e := receipt()
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatalf("Send in log-only mode: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log-only Send logged %d lines, want 1:\n%s", len(lines), logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"kind": "receipt", "donation_id": e.DonationID, "to": e.DonorEmail} {
		if line[key] != want {
			t.Errorf("log %s = %v, want %q (line %s)", key, line[key], want, lines[0])
		}
	}
}

func TestInvalidEmails(t *testing.T) {
	t.Parallel()
	m, err := notify.New(notify.Config{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*notify.DonationEmail)
		field string
	}{
		{"no recipient", func(e *notify.DonationEmail) { e.DonorEmail = " " }, "donorEmail"},
		{"bad recipient", func(e *notify.DonationEmail) { e.DonorEmail = "dana at example.test" }, "donorEmail"},
		{"recipient with a name", func(e *notify.DonationEmail) { e.DonorEmail = "Dana <dana@example.test>" }, "donorEmail"},
		{"unknown kind", func(e *notify.DonationEmail) { e.Kind = "thank_you_card" }, "kind"},
		{"no donation id", func(e *notify.DonationEmail) { e.DonationID = "" }, "donationId"},
		{"donation id with a space", func(e *notify.DonationEmail) { e.DonationID = "a b" }, "donationId"},
		{"no charity", func(e *notify.DonationEmail) { e.CharityName = "\t" }, "charityName"},
		{"zero amount", func(e *notify.DonationEmail) { e.AmountCents = 0 }, "amountCents"},
		{"receipt without a date", func(e *notify.DonationEmail) { e.Date = time.Time{} }, "date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := receipt()
			tc.edit(&e)
			err := m.Send(context.Background(), e)
			if giveathon.ErrorCode(err) != giveathon.EINVALID || giveathon.ErrorField(err) != tc.field {
				t.Errorf("err %v (code %q, field %q), want EINVALID on %s", err, giveathon.ErrorCode(err), giveathon.ErrorField(err), tc.field)
			}
		})
	}
	// A failure notice needs no date.
	e := failure()
	e.Date = time.Time{}
	if err := m.Send(context.Background(), e); err != nil {
		t.Errorf("failure notice without a date: %v", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	m, err := notify.New(notify.Config{SMTPURL: "smtp://" + addr, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = m.Send(context.Background(), receipt())
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send took %s to fail", elapsed)
	}
	if giveathon.ErrorCode(err) == giveathon.EINVALID {
		t.Errorf("an unreachable server is reported as invalid input (not retried): %v", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the server", err)
	}
}

func TestSilentServerHonoursTheDeadline(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { conn.Close() })
		}
	}()
	m, err := notify.New(notify.Config{SMTPURL: "smtp://" + l.Addr().String(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = m.Send(ctx, receipt())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want a deadline error", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Send took %s past a 300ms deadline", elapsed)
	}
}

func TestSMTPURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string // Mailer.String(), or
		err  string // a part of the error
	}{
		{url: "", want: "log only"},
		{url: "  ", want: "log only"},
		{url: "smtp://127.0.0.1:1025", want: "smtp://127.0.0.1:1025?tls=none"},
		{url: "smtp://localhost:1025", want: "smtp://localhost:1025?tls=none"},
		{url: "smtp://[::1]:1025", want: "smtp://[::1]:1025?tls=none"},
		{url: "smtp://mail.internal:2525", want: "smtp://mail.internal:2525?tls=starttls"},
		{url: "smtp://mail.internal", want: "smtp://mail.internal:587?tls=starttls"},
		{url: "smtp://mail.internal?tls=none", want: "smtp://mail.internal:25?tls=none"},
		{url: "smtp://localhost:1025?tls=starttls", want: "smtp://localhost:1025?tls=starttls"},
		{url: "SMTP://mail.internal:25?tls=NONE", want: "smtp://mail.internal:25?tls=none"},
		{url: "smtp://mail.internal?tls=tls", want: "smtps://mail.internal:465"},
		{url: "smtps://mail.internal", want: "smtps://mail.internal:465"},
		{url: "smtps://mail.internal:2465/", want: "smtps://mail.internal:2465"},
		{url: "smtps://mail.internal?tls=tls", want: "smtps://mail.internal:465"},
		{url: "smtp://apikey:s3cret@mail.internal:587", want: "smtp://apikey:xxxxx@mail.internal:587?tls=starttls"},
		{url: "smtp://a%40b:p%40ss%3Aw0rd@mail.internal", want: "smtp://a%40b:xxxxx@mail.internal:587?tls=starttls"},

		{url: "http://mail.internal:25", err: `SMTP_URL has the scheme "http"`},
		{url: "mail.internal:25", err: "SMTP_URL"},
		{url: "//mail.internal:25", err: "SMTP_URL has no scheme"},
		{url: "smtp:mail.internal:25", err: "the // is missing"},
		{url: "smtp://", err: "SMTP_URL has no host"},
		{url: "smtp://:25", err: "SMTP_URL has no host"},
		{url: "smtp://mail.internal:0", err: `SMTP_URL has the port "0"`},
		{url: "smtp://mail.internal:70000", err: `SMTP_URL has the port "70000"`},
		{url: "smtp://user:s3cret@mail.internal:2x5", err: "SMTP_URL is not a valid URL"},
		{url: "smtp://user:s3%zzcret@mail.internal", err: "malformed %-escape"},
		{url: "smtp://mail.internal/inbox", err: "must not have a path"},
		{url: "smtp://mail.internal#frag", err: "#fragment"},
		{url: "smtp://mail.internal?tls=ssl", err: `tls="ssl"`},
		{url: "smtp://mail.internal?tsl=none", err: `unknown parameter "tsl"`},
		{url: "smtp://mail.internal?tls=none&tls=starttls", err: "tls more than once"},
		{url: "smtps://mail.internal?tls=none", err: "smtps://"},
		{url: "smtp://user@mail.internal", err: "no password"},
		{url: "smtp://user:@mail.internal", err: "no password"},
		{url: "smtp://:s3cret@mail.internal", err: "no user name"},
		{url: "smtp://user:s3cret@mail.internal?tls=bogus", err: "tls="},
	} {
		t.Run(tc.url, func(t *testing.T) {
			m, err := notify.New(notify.Config{SMTPURL: tc.url})
			if tc.err != "" {
				if err == nil {
					t.Fatalf("New accepted it: %s", m)
				}
				if !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "SMTP_URL") {
					t.Errorf("error %q, want it to name SMTP_URL and say %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := m.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if m.Enabled() != (tc.want != "log only") {
				t.Errorf("Enabled() = %v", m.Enabled())
			}
		})
	}
}

func TestBadSender(t *testing.T) {
	t.Parallel()
	if _, err := notify.New(notify.Config{From: "not an address"}); err == nil || !strings.Contains(err.Error(), "sender") {
		t.Errorf("err %v, want a bad sender error", err)
	}
}

// TestSendBatchSendsEachOverOneConnection checks a drainer's batch: every good e-mail reaches
// the server once, one that cannot be made is EINVALID without holding back the others, and a
// server that cannot be reached takes none (each gets an error worth retrying).
func TestSendBatchSendsEachOverOneConnection(t *testing.T) {
	t.Parallel()
	mp := testenv.StartMailpit(t)
	m, err := notify.New(notify.Config{SMTPURL: mp.SMTPURL})
	if err != nil {
		t.Fatal(err)
	}
	bad := receipt()
	bad.DonorEmail = "not an address"
	batch := []notify.DonationEmail{receipt(), bad, receipt(), receipt()}
	errs := m.SendBatch(context.Background(), batch)
	time.Sleep(200 * time.Millisecond)
	for i, e := range batch {
		n := len(mp.Messages(t, "message-id:"+notify.MessageID(e.DonationID, e.Kind)))
		if i == 1 {
			if giveathon.ErrorCode(errs[i]) != giveathon.EINVALID || n != 0 {
				t.Errorf("the e-mail without an address: %v, %d messages", errs[i], n)
			}
			continue
		}
		if errs[i] != nil || n != 1 {
			t.Errorf("e-mail %d: %v, %d messages", i, errs[i], n)
		}
	}

	down, err := notify.New(notify.Config{SMTPURL: "smtp://127.0.0.1:1?tls=none"})
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range down.SendBatch(context.Background(), []notify.DonationEmail{receipt(), receipt()}) {
		if err == nil || giveathon.ErrorCode(err) == giveathon.EINVALID {
			t.Errorf("e-mail %d to an unreachable server: %v", i, err)
		}
	}
}

func TestAccountDeleted(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	e := notify.AccountEmail{UserID: uuid.NewString(), Name: "Dana\nWhitfield", Email: "dana@example.test"}
	for range 2 {
		if err := m.SendAccountDeleted(context.Background(), e); err != nil {
			t.Fatalf("SendAccountDeleted: %v", err)
		}
	}
	// Sent twice (a retry), it is one message by its Message-ID.
	wantID := e.UserID + ".account_deleted@giveathon"
	msgs := mp.WaitForMessages(t, "message-id:"+wantID, 2, 5*time.Second)
	got := mp.Message(t, msgs[0].ID)
	if got.MessageID != wantID || got.Subject != "Your Giveathon account has been deleted" {
		t.Errorf("message id %q, subject %q", got.MessageID, got.Subject)
	}
	if len(got.To) != 1 || got.To[0] != e.Email {
		t.Errorf("to %q, want [%s]", got.To, e.Email)
	}
	if k := got.Headers.Get(notify.HeaderKind); k != notify.KindAccountDeleted {
		t.Errorf("kind header %q", k)
	}
	mustContain(t, "text", got.Text, "Dear Dana Whitfield,", "has been deleted", "without your name")
	mustContain(t, "HTML", got.HTML, "Dear Dana Whitfield,", "has been deleted")

	if err := m.SendAccountDeleted(context.Background(), notify.AccountEmail{UserID: e.UserID, Email: "not an address"}); giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Errorf("a bad address: %v, want EINVALID", err)
	}
}

// TestEndpointDisabledNotice: the partner's notice names the endpoint and why, one message per
// address, and a bad address is refused as EINVALID without stopping the others.
func TestEndpointDisabledNotice(t *testing.T) {
	t.Parallel()
	mp, m := setup(t)
	err := m.SendEndpointDisabled(context.Background(), notify.EndpointEmail{EndpointID: "5b0f3a4e-1c7d-4e8a-9f00-0123456789ab",
		PartnerName: "Stream Co", URL: "https://stream.example/hook", Reason: "the endpoint answered 410 Gone", DisabledAt: time.Now()},
		[]string{"ops@stream.example", "not an address"})
	if giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Fatalf("a bad address: %v", err)
	}
	msgs := mp.WaitForMessages(t, "to:ops@stream.example", 1, 10*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "https://stream.example/hook") {
		t.Fatalf("messages %+v", msgs)
	}
	if c := mp.Message(t, msgs[0].ID); !strings.Contains(c.Text, "410 Gone") || !strings.Contains(c.Text, "Stream Co") {
		t.Errorf("text %q", c.Text)
	}
}
