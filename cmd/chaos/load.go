package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/giveathon/giveathon/internal/gqlclient"
)

const (
	registerOp = `mutation($i: RegisterInput!) { register(input: $i) { token } }`
	loginOp    = `mutation($i: LoginInput!) { login(input: $i) { token } }`
	addCardOp  = `mutation($i: AddPaymentMethodInput!) { addPaymentMethod(input: $i) { id } }`
	submitOp   = `mutation($i: SubmitDonationInput!) { submitDonation(input: $i) { donation { id } needsConfirmation } }`
	nextOp     = `query($id: ID!) { donation(id: $id) { status nextAction { clientSecret url } } }`
	refreshOp  = `mutation($id: ID!) { refreshDonation(id: $id) { status } }`
)

// setup registers the donors and saves their cards, before any fault.
func (r *runner) setup(ctx context.Context) error {
	var charities struct {
		Charities struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		return r.do(ctx, "", `{ charities(first: 100) { edges { node { id } } } }`, nil, &charities)
	}); err != nil {
		return err
	}
	for _, e := range charities.Charities.Edges {
		r.charities = append(r.charities, e.Node.ID)
	}
	if len(r.charities) == 0 {
		return fmt.Errorf("no charities")
	}

	r.donors = make([]*donor, r.o.donors)
	errs := make(chan error, r.o.donors)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range r.donors {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, err := r.newDonor(ctx, i)
			r.donors[i] = d
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	r.progress("registered %d donors", len(r.donors))
	var admin struct {
		Register struct{ Token string }
	}
	if err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		return r.do(ctx, "", `mutation($i: RegisterInput!) { register(input: $i) { token } }`,
			map[string]any{"i": map[string]any{"email": chaosAdmin, "name": "Chaos Organiser", "password": "correct horse battery staple"}}, &admin)
	}); err != nil {
		return fmt.Errorf("register the organiser: %w", err)
	}
	r.adminToken = admin.Register.Token
	if r.o.partnerShare > 0 {
		return r.setupPartner(ctx)
	}
	return nil
}

func (r *runner) newDonor(ctx context.Context, i int) (*donor, error) {
	email := fmt.Sprintf("chaos-%d-%d@example.org", r.o.seed, i)
	creds := map[string]any{"email": email, "name": fmt.Sprintf("Chaos Donor %d", i), "password": "correct horse battery"}
	var reg struct{ Register struct{ Token string } }
	err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		err := r.do(ctx, "", registerOp, map[string]any{"i": creds}, &reg)
		if err != nil && strings.HasPrefix(err.Error(), "CONFLICT") {
			// An earlier try got through but its answer was lost: sign in instead.
			var login struct{ Login struct{ Token string } }
			err = r.do(ctx, "", loginOp, map[string]any{"i": map[string]any{"email": email, "password": "correct horse battery"}}, &login)
			reg.Register.Token = login.Login.Token
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	d := &donor{token: reg.Register.Token}
	if d.visa, err = r.addCard(ctx, d.token, "pm_card_visa"); err != nil {
		return nil, err
	}
	switch i % 3 {
	case 1:
		d.kind = "decline"
		d.second, err = r.addCard(ctx, d.token, "pm_card_chargeDeclined")
	case 2:
		d.kind = "auth"
		d.second, err = r.addCard(ctx, d.token, "pm_card_authenticationRequired")
	}
	return d, err
}

func (r *runner) addCard(ctx context.Context, token, pm string) (string, error) {
	var out struct{ AddPaymentMethod struct{ ID string } }
	err := gqlclient.Retry(ctx, time.Minute, func(ctx context.Context) error {
		return r.do(ctx, token, addCardOp, map[string]any{"i": map[string]any{"providerPaymentMethodId": pm}}, &out)
	})
	return out.AddPaymentMethod.ID, err
}

// submission is one gift a client makes.
type submission struct {
	// partner: given through the partner's API key (donor is nil).
	partner bool
	donor   *donor
	input   map[string]any
	key     string
	double  bool
}

// load submits the donations from concurrent clients while faults, server kills and a
// database restart happen.
func (r *runner) load(ctx context.Context) error {
	work := make(chan submission)
	go func() {
		defer close(work)
		var pace <-chan time.Time
		if r.o.rate > 0 {
			t := time.NewTicker(time.Duration(float64(time.Second) / r.o.rate))
			defer t.Stop()
			pace = t.C
		}
		for i := 0; i < r.o.donations; i++ {
			if pace != nil {
				select {
				case <-pace:
				case <-ctx.Done():
					return
				}
			}
			select {
			case work <- r.newSubmission(i):
			case <-ctx.Done():
				return
			}
		}
	}()

	loadStart := time.Now()
	loadCtx, stopChaos := context.WithCancel(ctx)
	chaosDone := make(chan error, 2)
	go func() { chaosDone <- r.chaos(loadCtx) }()
	if r.o.ha {
		go func() { chaosDone <- r.failovers(loadCtx, ctx) }()
		go r.watchReadiness(loadCtx)
	}

	var wg sync.WaitGroup
	for c := 0; c < r.o.concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				r.submit(ctx, s)
			}
		}()
	}
	wg.Wait()
	r.loadSeconds = time.Since(loadStart).Seconds()
	stopChaos()
	if err := <-chaosDone; err != nil {
		return err
	}
	if r.o.ha {
		if err := <-chaosDone; err != nil {
			return err
		}
	}
	r.progress("load done: %d acknowledged, %d given up", r.ackCount.Load(), r.gaveUp.Load())
	return ctx.Err()
}

func (r *runner) newSubmission(i int) submission {
	if r.partner != nil && r.float() < r.o.partnerShare {
		return r.partnerSubmission(i, fmt.Sprintf("chaos-%d-%d", r.o.seed, i))
	}
	d := r.donors[r.intn(len(r.donors))]
	card := d.visa
	switch x := r.float(); {
	case d.kind == "decline" && x < r.o.declineRate*3:
		card = d.second
	case d.kind == "auth" && x < r.o.authRate*3:
		card = d.second
	}
	key := fmt.Sprintf("chaos-%d-%d", r.o.seed, i)
	return submission{
		donor: d,
		key:   key,
		input: map[string]any{"charityId": r.charities[r.intn(len(r.charities))], "amountCents": 100 + r.intn(20000),
			"paymentMethodId": card, "idempotencyKey": key, "confirmDuplicate": true},
		double: r.float() < r.o.doubleSend,
	}
}

// do sends one operation as the donor's app would, counting the answers that say
// INTERNAL_SERVER_ERROR or UNAVAILABLE.
func (r *runner) do(ctx context.Context, token, query string, vars map[string]any, out any) error {
	err := r.api.Do(ctx, token, query, vars, out)
	var gqlErr *gqlclient.Error
	if errors.As(err, &gqlErr) {
		switch gqlErr.Code() {
		case "INTERNAL_SERVER_ERROR":
			if r.internalErrors.Add(1) <= 10 {
				fmt.Fprintf(r.log, "chaos: INTERNAL_SERVER_ERROR: %v\n", err)
			}
		case "UNAVAILABLE":
			r.unavailable.Add(1)
		}
	}
	return err
}

// submit sends one gift until it is acknowledged, retrying with the same idempotency key as
// a real app does when it gets no answer; a double submission sends it twice at once.
func (r *runner) submit(ctx context.Context, s submission) {
	senders := 1
	if s.double {
		senders = 2
	}
	token, op := "", submitOp
	if s.partner {
		token, op = r.partner.key, partnerSubmitOp
	} else {
		token = s.donor.token
	}
	ids := make([]string, senders)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out struct {
				SubmitDonation        struct{ Donation *struct{ ID string } }
				PartnerSubmitDonation struct{ Donation *struct{ ID string } }
			}
			err := gqlclient.Retry(ctx, 3*time.Minute, func(ctx context.Context) error {
				err := r.do(ctx, token, op, map[string]any{"i": s.input}, &out)
				if err == nil {
					r.haRun.submitted(time.Now())
				}
				return err
			})
			if out.SubmitDonation.Donation == nil {
				out.SubmitDonation = out.PartnerSubmitDonation
			}
			if err == nil && out.SubmitDonation.Donation != nil {
				ids[i] = out.SubmitDonation.Donation.ID
			} else if err != nil {
				fmt.Fprintf(r.log, "chaos: submission %s not acknowledged: %v\n", s.key, err)
			}
		}()
	}
	wg.Wait()
	var id string
	for _, got := range ids {
		switch {
		case got == "":
		case id == "":
			id = got
		case got != id:
			r.conflicts.Add(1)
			fmt.Fprintf(r.log, "chaos: key %s answered with two donations: %s and %s\n", s.key, id, got)
		}
	}
	if id == "" {
		r.gaveUp.Add(1)
		return
	}
	a := ackedDonation{id: id, token: token, partner: s.partner}
	r.acked.Store(s.key, a)
	r.ackCount.Add(1)
	if s.partner {
		r.partnerAcks.Add(1)
	}
	if r.float() < r.o.refunds {
		r.refundQueue.pick(a)
	}
}

// ackedDonation is an acknowledged gift and the credential that reads it: the donor's session,
// or the partner's key (partner).
type ackedDonation struct {
	id      string
	token   string
	partner bool
}

// chaos kills the server and restarts PostgreSQL at random points of the load, and turns 429
// bursts on for one second in ten.
func (r *runner) chaos(ctx context.Context) error {
	type event struct {
		at   int64
		kind string
	}
	var events []event
	for i := 0; i < r.o.serverKills; i++ {
		events = append(events, event{int64(float64(r.o.donations) * (0.15 + 0.7*r.float())), "kill"})
	}
	for i := 0; i < r.o.dbRestarts; i++ {
		events = append(events, event{int64(float64(r.o.donations) * (0.2 + 0.6*r.float())), "db"})
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	burstEvery := time.NewTicker(10 * time.Second)
	defer burstEvery.Stop()
	var burstEnd <-chan time.Time
	for len(events) > 0 || burstEnd != nil || ctx.Err() == nil {
		select {
		case <-ctx.Done():
			if burstEnd != nil {
				_ = r.setFaults(r.faults(false))
			}
			return nil
		case <-burstEvery.C:
			if r.o.err429Burst > 0 {
				if err := r.setFaults(r.faults(true)); err != nil {
					return err
				}
				burstEnd = time.After(time.Second)
			}
		case <-burstEnd:
			burstEnd = nil
			if err := r.setFaults(r.faults(false)); err != nil {
				return err
			}
		case <-tick.C:
			done := r.ackCount.Load()
			rest := events[:0]
			for _, e := range events {
				if done < e.at {
					rest = append(rest, e)
					continue
				}
				var err error
				if e.kind == "kill" {
					err = r.killServer(ctx)
				} else {
					err = r.restartDB(ctx)
				}
				if err != nil {
					return fmt.Errorf("%s at %d acknowledged: %w", e.kind, done, err)
				}
			}
			events = rest
		}
	}
	return nil
}

// drain waits for every donation to settle: it completes 3-D Secure as donors would (every
// other one fails it), then waits for the workers, the reconciler and the e-mails.
func (r *runner) drain(ctx context.Context) error {
	deadline := time.Now().Add(r.o.drain)
	authenticated := map[string]bool{}
	for time.Now().Before(deadline) {
		var open, requiresAction, jobs, finals, mails int
		// The undecided donations are read through their partial index (settled_at IS NULL):
		// counting every donation each second would take a core from the workers of a
		// replay of millions.
		err := r.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status IN ('PENDING', 'PROCESSING')),
			count(*) FILTER (WHERE status = 'REQUIRES_ACTION')
			FROM donations WHERE settled_at IS NULL`).Scan(&open, &requiresAction)
		if err == nil {
			err = r.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'retryable', 'running', 'scheduled', 'pending')
				AND kind <> 'reconcile'`).Scan(&jobs)
		}
		if err == nil && open == 0 && requiresAction == 0 {
			// The e-mails owed, once every gift is decided: one per outcome, two for a
			// refunded gift (receipt and refund).
			err = r.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN ('SUCCEEDED', 'FAILED'))
				+ 2 * count(*) FILTER (WHERE status = 'REFUNDED') FROM donations`).Scan(&finals)
			if err == nil {
				mails, err = r.countMails(ctx)
			}
		}
		var webhooks int
		if err == nil {
			// The partner's events not yet numbered, and their deliveries not yet done.
			err = r.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM partner_events WHERE seq IS NULL)
				+ (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')`).Scan(&webhooks)
		}
		if err != nil {
			r.progress("drain: %v", err)
		} else {
			r.progress("drain: %d open, %d awaiting 3-D Secure, %d jobs, %d/%d e-mails, %d webhooks", open, requiresAction, jobs, mails, finals, webhooks)
			if open == 0 && requiresAction == 0 && jobs == 0 && mails >= finals && webhooks == 0 && r.refundQueue.left() == 0 {
				return nil
			}
		}
		if requiresAction > 0 {
			r.authenticate(ctx, authenticated)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("not drained within %s", r.o.drain)
}

// authenticate completes (or fails, every other one) the 3-D Secure of donations that await
// it, through the sandbox's page, then asks the server to refresh them.
func (r *runner) authenticate(ctx context.Context, done map[string]bool) {
	n := 0
	rows, err := r.pool.Query(ctx, `SELECT idempotency_key FROM donations WHERE settled_at IS NULL AND status = 'REQUIRES_ACTION'`)
	if err != nil {
		return
	}
	var keys []string
	for rows.Next() {
		var k string
		if rows.Scan(&k) == nil {
			keys = append(keys, k)
		}
	}
	rows.Close()
	for _, k := range keys {
		v, ok := r.acked.Load(k)
		if !ok {
			continue
		}
		a := v.(ackedDonation)
		if done[a.id] {
			continue
		}
		var out struct {
			Donation struct {
				Status     string
				NextAction *struct{ ClientSecret, URL string }
			}
		}
		if err := r.do(ctx, a.token, nextOp, map[string]any{"id": a.id}, &out); err != nil || out.Donation.Status != "REQUIRES_ACTION" || out.Donation.NextAction == nil {
			continue
		}
		action := "complete"
		if len(done)%2 == 1 {
			action = "fail"
		}
		u, err := url.Parse(out.Donation.NextAction.URL)
		if err != nil {
			continue
		}
		form := url.Values{"client_secret": {out.Donation.NextAction.ClientSecret}, "action": {action}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.Scheme+"://"+u.Host+u.Path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		done[a.id] = true
		n++
		_ = gqlclient.Retry(ctx, 30*time.Second, func(ctx context.Context) error {
			return r.do(ctx, a.token, refreshOp, map[string]any{"id": a.id}, nil)
		})
	}
	if n > 0 {
		r.progress("authenticated %d donations", n)
	}
}
