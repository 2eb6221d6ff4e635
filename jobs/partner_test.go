package jobs_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/giveathon/giveathon/jobs"
	"github.com/giveathon/giveathon/payments"
	"github.com/giveathon/giveathon/payments/sandbox"
	"github.com/giveathon/giveathon/settlement"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// gifts is partners' gifts over real parts: PostgreSQL, River's workers and the sequencer
// started as the server starts them, and the Stripe sandbox.
type gifts struct {
	db       *db.DB
	svc      *settlement.Service
	partners *settlement.Partners
	sandbox  *sandbox.Server
	charity  string
	// hooked are the events the sequencer gave its hook, in order.
	mu     sync.Mutex
	hooked []giveathon.PartnerEvent
}

func setupGifts(t *testing.T) *gifts {
	t.Helper()
	d := testenv.DB(t)
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	gw := payments.NewGateway(payments.Config{SecretKey: sandbox.SecretKey, APIBase: srv.URL, RateLimit: 1000})
	svc := settlement.New(d, gw, nil, nil, nil, settlement.Config{})
	g := &gifts{db: d, svc: svc, sandbox: sb}
	j, err := jobs.New(d.Pool, jobs.Deps{DB: d, Settlement: svc, Mailer: &mailer{sent: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
		OnSequenced: func(ctx context.Context, tx pgx.Tx, events []giveathon.PartnerEvent) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.hooked = append(g.hooked, events...)
			return nil
		}},
		jobs.Config{FetchPollInterval: 50 * time.Millisecond, RetryBase: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond,
			ReconcileInterval: time.Hour, SequencerInterval: 20 * time.Millisecond, OutboxInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	svc.Queue = j
	d.EnqueueTx = j.EnqueueTx
	if err := j.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Stop(ctx)
	})
	g.partners = &settlement.Partners{Service: svc, Gifts: d, Cards: &payments.MethodService{Store: d, Gateway: gw, Logger: slog.New(slog.DiscardHandler)}}
	g.charity = testenv.NewDonor(t, d).CharityID
	return g
}

func (g *gifts) gift(email, pm, key string, amount int64) giveathon.SubmitDonationInput {
	return giveathon.SubmitDonationInput{CharityID: g.charity, AmountCents: amount, IdempotencyKey: key,
		Partner: &giveathon.PartnerGift{DonorEmail: email, DonorName: "A Fan", ProviderPaymentMethodID: pm, Reference: "order-" + key}}
}

// wait polls the partner's gift until it is in status.
func (g *gifts) wait(t *testing.T, partnerID, id string, status giveathon.DonationStatus) *giveathon.PartnerDonation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := g.partners.FindPartnerDonation(context.Background(), partnerID, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status == status {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("gift %s is %s, want %s", id, p.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events waits until the partner has n sequenced events and returns them.
func (g *gifts) events(t *testing.T, partnerID string, n int) []*giveathon.PartnerEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := g.partners.FindPartnerEvents(context.Background(), partnerID, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) >= n || time.Now().After(deadline) {
			if len(list) != n {
				t.Fatalf("%d sequenced events, want %d", len(list), n)
			}
			return list
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type eventData struct {
	ID               string `json:"id"`
	PartnerReference string `json:"partnerReference"`
	AmountCents      int64  `json:"amountCents"`
	Currency         string `json:"currency"`
	Status           string `json:"status"`
	FailureCode      string `json:"failureCode"`
	Charity          struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"charity"`
}

// TestPartnerGiftSucceedsThenRefunds gives through a partner with the sandbox: the gift
// succeeds with one charge, its donor is the partner's (an account with the same e-mail sees
// nothing), the partner gets one donation.succeeded numbered 1 with its totals, given to the
// hook; a refund gives donation.refunded and the totals go back.
func TestPartnerGiftSucceedsThenRefunds(t *testing.T) {
	t.Parallel()
	g := setupGifts(t)
	ctx := context.Background()
	partner := testenv.NewPartner(t, g.db)
	email := "fan-" + uuid.NewString()[:8] + "@example.org"
	// An account of its own with the same e-mail.
	var account string
	if err := g.db.Pool.QueryRow(ctx, `INSERT INTO users (email, name, password_hash) VALUES ($1, 'Same Mail', 'x') RETURNING id::text`, email).Scan(&account); err != nil {
		t.Fatal(err)
	}
	res, err := g.partners.PartnerSubmitDonation(ctx, partner, g.gift(email, "pm_card_visa", "k1", 1500))
	if err != nil {
		t.Fatal(err)
	}
	d := res.Donation
	if d.PartnerID != partner || d.PartnerReference != "order-k1" || d.Status != giveathon.StatusPending || d.UserID == account {
		t.Fatalf("gift %+v", d)
	}
	p := g.wait(t, partner, d.ID, giveathon.StatusSucceeded)
	if p.DonorEmail != email || p.DonorName != "A Fan" {
		t.Errorf("donor %q %q", p.DonorEmail, p.DonorName)
	}
	charges := 0
	for _, c := range g.sandbox.Charges() {
		if c.Metadata["donation_id"] == d.ID {
			charges++
		}
	}
	if charges != 1 {
		t.Errorf("%d charges, want 1", charges)
	}
	history, _, total, err := g.svc.FindDonations(ctx, giveathon.DonationFilter{UserID: account})
	if err != nil || total != 0 || len(history) != 0 {
		t.Errorf("the account with the same e-mail sees %d gifts (%v)", total, err)
	}
	// The partner's donor can never sign in.
	if _, _, err := g.db.FindUserByEmail(ctx, email); err != nil {
		t.Fatal(err)
	} else if u, _, _ := g.db.FindUserByEmail(ctx, email); u.ID != account {
		t.Errorf("sign-in by e-mail finds %s, want the account %s", u.ID, account)
	}

	ev := g.events(t, partner, 1)[0]
	if ev.Seq != 1 || ev.Type != giveathon.EventDonationSucceeded || ev.TotalCents != 1500 || ev.TotalCount != 1 || ev.DonationID != d.ID {
		t.Fatalf("event %+v", ev)
	}
	var data eventData
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	wantID := base64.RawURLEncoding.EncodeToString([]byte("Donation:" + d.ID))
	wantCharity := base64.RawURLEncoding.EncodeToString([]byte("Charity:" + g.charity))
	if data.ID != wantID || data.PartnerReference != "order-k1" || data.AmountCents != 1500 || data.Currency != "USD" ||
		data.Status != "SUCCEEDED" || data.Charity.ID != wantCharity || data.Charity.Name != "Test Charity" || data.FailureCode != "" {
		t.Errorf("data %s", ev.Data)
	}
	c, err := g.partners.FindTotalsCheckpoint(ctx, partner, nil)
	if err != nil || *c != (giveathon.TotalsCheckpoint{Sequence: 1, TotalCents: 1500, DonationCount: 1}) {
		t.Errorf("checkpoint %+v %v", c, err)
	}
	g.mu.Lock()
	if len(g.hooked) != 1 || g.hooked[0].ID != ev.ID || g.hooked[0].Seq != 1 {
		t.Errorf("hook got %+v", g.hooked)
	}
	g.mu.Unlock()

	if _, _, err := g.svc.Refund(ctx, "", d.ID, "test"); err != nil {
		t.Fatal(err)
	}
	list := g.events(t, partner, 2)
	if list[1].Seq != 2 || list[1].Type != giveathon.EventDonationRefunded || list[1].TotalCents != 0 || list[1].TotalCount != 0 {
		t.Errorf("refund event %+v", list[1])
	}
	if c, err := g.partners.FindTotalsCheckpoint(ctx, partner, new(int64(1))); err != nil || c.TotalCents != 1500 {
		t.Errorf("checkpoint at 1: %+v %v", c, err)
	}
	if _, err := g.partners.FindTotalsCheckpoint(ctx, partner, new(int64(3))); giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Errorf("checkpoint beyond the last: %v", err)
	}
	// Another partner cannot read it.
	if _, err := g.partners.FindPartnerDonation(ctx, testenv.NewPartner(t, g.db), d.ID); giveathon.ErrorCode(err) != giveathon.ENOTFOUND {
		t.Errorf("another partner: %v", err)
	}
}

// TestPartnerGiftDeclinedGivesFailed: a declined card fails the gift, and the partner gets
// donation.failed with the failure's code and totals unchanged.
func TestPartnerGiftDeclinedGivesFailed(t *testing.T) {
	t.Parallel()
	g := setupGifts(t)
	partner := testenv.NewPartner(t, g.db)
	res, err := g.partners.PartnerSubmitDonation(context.Background(), partner, g.gift("no@example.org", "pm_card_chargeDeclined", "k1", 2000))
	if err != nil {
		t.Fatal(err)
	}
	g.wait(t, partner, res.Donation.ID, giveathon.StatusFailed)
	ev := g.events(t, partner, 1)[0]
	var data eventData
	_ = json.Unmarshal(ev.Data, &data)
	if ev.Type != giveathon.EventDonationFailed || ev.TotalCents != 0 || ev.TotalCount != 0 || data.FailureCode == "" || data.Status != "FAILED" {
		t.Errorf("event %+v %s", ev, ev.Data)
	}
}

// TestPartnerKeyMakesOneGift: the same key again (one after the other, and many at once)
// answers with one gift; another gift under it is a CONFLICT naming idempotencyKey; a second
// partner's same key is its own.
func TestPartnerKeyMakesOneGift(t *testing.T) {
	t.Parallel()
	g := setupGifts(t)
	ctx := context.Background()
	partner := testenv.NewPartner(t, g.db)
	first, err := g.partners.PartnerSubmitDonation(ctx, partner, g.gift("a@example.org", "pm_card_visa", "same", 1000))
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.partners.PartnerSubmitDonation(ctx, partner, g.gift("a@example.org", "pm_card_visa", "same", 1000))
	if err != nil || again.Donation.ID != first.Donation.ID || again.Created {
		t.Fatalf("again: %+v %v", again, err)
	}
	for name, in := range map[string]giveathon.SubmitDonationInput{
		"other amount": g.gift("a@example.org", "pm_card_visa", "same", 1001),
		"other donor":  g.gift("b@example.org", "pm_card_visa", "same", 1000),
	} {
		_, err := g.partners.PartnerSubmitDonation(ctx, partner, in)
		if giveathon.ErrorCode(err) != giveathon.ECONFLICT || giveathon.ErrorField(err) != "idempotencyKey" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// At once, under a new key: one gift.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			res, err := g.partners.PartnerSubmitDonation(ctx, partner, g.gift("c@example.org", "pm_card_visa", "race", 3000))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = res.Donation.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing submits made several gifts: %v", ids)
		}
	}
	var gifts, donors int
	if err := g.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM donations WHERE partner_id = $1),
		(SELECT count(*) FROM users WHERE partner_id = $1)`, partner).Scan(&gifts, &donors); err != nil {
		t.Fatal(err)
	}
	if gifts != 2 || donors != 2 {
		t.Errorf("%d gifts and %d donors, want 2 and 2", gifts, donors)
	}
	// A second partner's same key is its own.
	other, err := g.partners.PartnerSubmitDonation(ctx, testenv.NewPartner(t, g.db), g.gift("a@example.org", "pm_card_visa", "same", 1000))
	if err != nil || other.Donation.ID == first.Donation.ID {
		t.Errorf("another partner's key: %+v %v", other, err)
	}
	// Bad input names the field and writes nothing.
	for field, in := range map[string]giveathon.SubmitDonationInput{
		"donor.email":    g.gift("not-an-email", "pm_card_visa", "bad1", 1000),
		"amountCents":    g.gift("d@example.org", "pm_card_visa", "bad2", 1),
		"idempotencyKey": g.gift("d@example.org", "pm_card_visa", "bad key", 1000),
		"partnerReference": func() giveathon.SubmitDonationInput {
			in := g.gift("d@example.org", "pm_card_visa", "bad3", 1000)
			in.Partner.Reference = "\u200b"
			return in
		}(),
	} {
		if _, err := g.partners.PartnerSubmitDonation(ctx, partner, in); giveathon.ErrorField(err) != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	if err := g.db.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE partner_id = $1`, partner).Scan(&donors); err != nil || donors != 2 {
		t.Errorf("bad input wrote donors: %d %v", donors, err)
	}
}

// TestSequencersNeverGapOrRepeat runs two sequencers while many gifts move at once: every
// partner's events are numbered 1..N with no gap or duplicate, and the totals add up.
func TestSequencersNeverGapOrRepeat(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	partners := []string{testenv.NewPartner(t, d), testenv.NewPartner(t, d)}
	don := testenv.NewDonor(t, d)
	const n = 120
	ids := make([]string, n)
	for i := range ids {
		dn := don.Donation(t, d, giveathon.StatusProcessing, 100)
		if _, err := d.Pool.Exec(ctx, `UPDATE donations SET partner_id = $2 WHERE id = $1`, dn.ID, partners[i%2]); err != nil {
			t.Fatal(err)
		}
		ids[i] = dn.ID
	}
	var running sync.WaitGroup
	for range 2 {
		s := &jobs.Sequencer{DB: d, Logger: slog.New(slog.DiscardHandler), Interval: time.Millisecond}
		running.Go(func() { s.Run(ctx) })
	}
	var moves sync.WaitGroup
	for w := range 8 {
		moves.Go(func() {
			for i := w; i < n; i += 8 {
				if _, moved, err := d.MoveDonation(context.Background(), giveathon.Move{DonationID: ids[i], To: giveathon.StatusSucceeded}); err != nil || !moved {
					t.Errorf("move: %v", err)
				}
				if i%3 == 0 {
					if _, moved, err := d.MoveDonation(context.Background(), giveathon.Move{DonationID: ids[i], To: giveathon.StatusRefunded}); err != nil || !moved {
						t.Errorf("refund: %v", err)
					}
				}
			}
		})
	}
	moves.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM partner_events WHERE seq IS NULL`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	running.Wait()
	for _, p := range partners {
		list, err := d.FindPartnerEvents(context.Background(), p, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		var cents, count int64
		for i, e := range list {
			if e.Seq != int64(i+1) {
				t.Fatalf("partner %s: event %d has seq %d", p, i+1, e.Seq)
			}
			dc, dn := giveathon.PartnerTotals(e.Type, 100)
			cents, count = cents+dc, count+dn
			if e.TotalCents != cents || e.TotalCount != count {
				t.Fatalf("event %d: totals %d/%d, want %d/%d", e.Seq, e.TotalCents, e.TotalCount, cents, count)
			}
		}
		// 60 succeeded, 20 of them refunded, per partner.
		if len(list) != 80 || cents != 40*100 || count != 40 {
			t.Errorf("partner %s: %d events, totals %d/%d", p, len(list), cents, count)
		}
	}
}

// TestMilestonesAreAnnouncedOnce: when the event's total crosses 10 % steps of its goal, each
// partner gets one event.milestone per step, however many sequencers look.
func TestMilestonesAreAnnouncedOnce(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	partners := []string{testenv.NewPartner(t, d), testenv.NewPartner(t, d)}
	don := testenv.NewDonor(t, d)
	for range 3 {
		dn := don.Donation(t, d, giveathon.StatusProcessing, 1000)
		if _, _, err := d.MoveDonation(ctx, giveathon.Move{DonationID: dn.ID, To: giveathon.StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	event := giveathon.Event{GoalCents: 10_000} // 3,000 of 10,000: 10, 20 and 30 %.
	for range 3 {
		s := &jobs.Sequencer{DB: d, Event: event, Logger: slog.New(slog.DiscardHandler)}
		if err := s.Milestones(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sequence(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range partners {
		list, err := d.FindPartnerEvents(ctx, p, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list {
			got = append(got, fmt.Sprintf("%s %s", e.Type, e.Data))
		}
		if len(list) != 3 || list[2].Type != giveathon.EventMilestone || list[2].TotalCents != 0 {
			t.Errorf("partner %s: %v", p, got)
		}
		var m struct{ Percent, TotalCents, GoalCents int64 }
		if err := json.Unmarshal(list[2].Data, &m); err != nil || m.Percent != 30 || m.TotalCents != 3000 || m.GoalCents != 10_000 {
			t.Errorf("milestone %s", list[2].Data)
		}
	}
}

// TestDisputeOfAPartnerGiftIsAnnouncedOnce: the first report of a dispute of a partner's gift
// writes donation.disputed, later reports of it nothing more, and the totals do not change.
func TestDisputeOfAPartnerGiftIsAnnouncedOnce(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	ctx := context.Background()
	partner := testenv.NewPartner(t, d)
	don := testenv.NewDonor(t, d)
	dn := don.Donation(t, d, giveathon.StatusSucceeded, 700)
	if _, err := d.Pool.Exec(ctx, `UPDATE donations SET partner_id = $2 WHERE id = $1`, dn.ID, partner); err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"needs_response", "under_review", "won"} {
		if err := d.SaveDispute(ctx, giveathon.Dispute{ProviderDisputeID: "dp_1", UserID: dn.UserID, DonationID: dn.ID,
			Status: status, Reason: "fraudulent", AmountCents: 700}); err != nil {
			t.Fatal(err)
		}
	}
	s := &jobs.Sequencer{DB: d, Logger: slog.New(slog.DiscardHandler)}
	if _, err := s.Sequence(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := d.FindPartnerEvents(ctx, partner, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Type != giveathon.EventDonationDisputed || list[0].TotalCents != 0 || list[0].Seq != 1 {
		t.Fatalf("events %+v", list)
	}
}
