package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/gqlclient"
	"github.com/giveathon/giveathon/internal/testenv"
	"github.com/jackc/pgx/v5"
)

const restartSubmitOp = `mutation($i: SubmitDonationInput!) { submitDonation(input: $i) { donation { id status } } }`

// restartDonor is a signed-in donor with a saved card, as a gqlclient call needs them.
type restartDonor struct {
	token, card string
}

func restartSetup(t *testing.T, srv *running, donors int) (string, []restartDonor) {
	t.Helper()
	charity := srv.client.Do(t, `{ charities(first: 1) { edges { node { id } } } }`, nil).NoErrors(t).
		String("charities", "edges", 0, "node", "id")
	out := make([]restartDonor, donors)
	for i := range out {
		email := fmt.Sprintf("restart-%d-%d@example.org", time.Now().UnixNano(), i)
		token := srv.client.Do(t, registerOp, creds(email)).NoErrors(t).String("register", "token")
		card := srv.client.As(token).Do(t, `mutation { addPaymentMethod(input: {providerPaymentMethodId: "pm_card_visa"}) { id } }`, nil).
			NoErrors(t).String("addPaymentMethod", "id")
		out[i] = restartDonor{token: token, card: card}
	}
	return charity, out
}

// flushCommits makes what was committed survive the crash: the test server runs with
// synchronous_commit off, so an immediate shutdown may lose the last commits (the donor's
// session) otherwise.
func flushCommits(t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
}

// answer is what one submit got: "" for a donation, else the error's code and retryAfter.
type answer struct {
	code       string
	retryAfter float64
	id         string
	err        error
	sent       time.Time
}

func submitOnce(ctx context.Context, api *gqlclient.Client, d restartDonor, charity, key string) answer {
	var out struct {
		SubmitDonation struct{ Donation struct{ ID, Status string } }
	}
	in := map[string]any{"charityId": charity, "amountCents": 1500, "paymentMethodId": d.card, "idempotencyKey": key,
		"confirmDuplicate": true}
	sent := time.Now()
	err := api.Do(ctx, d.token, restartSubmitOp, map[string]any{"i": in}, &out)
	if err == nil {
		return answer{id: out.SubmitDonation.Donation.ID, sent: sent}
	}
	a := answer{code: "no answer", err: err, sent: sent}
	var gqlErr *gqlclient.Error
	if errors.As(err, &gqlErr) {
		a.code = gqlErr.Code()
		a.retryAfter, _ = gqlErr.Extensions["retryAfter"].(float64)
	}
	return a
}

// TestSubmitsDuringADatabaseRestartSucceedOrAreUnavailable: PostgreSQL is stopped at once
// (immediate shutdown, as a crash) and started again while donors submit. Every submit in
// flight is either accepted or answered UNAVAILABLE with retryAfter; none is an internal
// error.
func TestSubmitsDuringADatabaseRestartSucceedOrAreUnavailable(t *testing.T) {
	pg := testenv.Embedded()
	if pg == nil {
		t.Skip("TEST_DATABASE_URL is set: the test cannot restart that server")
	}
	srv := start(t, map[string]string{"DATABASE_URL": testenv.URL(t), "LOG_LEVEL": "error"})
	charity, donors := restartSetup(t, srv, 8)
	api := &gqlclient.Client{Base: srv.url, HTTP: &http.Client{Timeout: time.Minute}}

	var mu sync.Mutex
	answers := map[string][]answer{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range donors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond): // stays under the per-donor submit limit
				}
				a := submitOnce(context.Background(), api, d, charity, fmt.Sprintf("restart-%d-%d", i, n))
				mu.Lock()
				answers[a.code] = append(answers[a.code], a)
				mu.Unlock()
			}
		}()
	}
	// Submits are in flight from the start: each donor has one at a time, back to back.
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	pg.Kill()
	err := pg.Restart(context.Background())
	restarted := time.Now()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	// The pool's connections all died with the server: give every donor time to find the new
	// one, so the run shows it recovered.
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	counts := map[string]int{}
	var duringOutage int
	for code, list := range answers {
		counts[code] = len(list)
		for _, a := range list {
			if a.sent.After(killed) && a.sent.Before(restarted) {
				duringOutage++
			}
		}
	}
	t.Logf("answers by code (\"\" is a donation): %v; %d sent while the database was down (%s)",
		counts, duringOutage, restarted.Sub(killed).Round(time.Millisecond))
	if duringOutage == 0 {
		t.Fatal("no submit was sent while the database was down: the run tested nothing")
	}
	if len(answers[""]) == 0 {
		t.Fatal("no submit succeeded")
	}
	for code, list := range answers {
		switch code {
		case "":
		case "UNAVAILABLE":
			for _, a := range list {
				if a.retryAfter < 1 {
					t.Errorf("UNAVAILABLE without retryAfter: %v", a.err)
				}
			}
		default:
			t.Errorf("%d submits answered %q, first: %v", len(list), code, list[0].err)
		}
	}
	if t.Failed() {
		t.Logf("server log:\n%s", lastLinesOf(srv.logs.String(), 20))
	}
}

// TestASubmitTheDatabaseCannotTakeInTimeIsUnavailable: with the database down for longer than
// DB_RETRY_TIMEOUT, a submit is answered UNAVAILABLE with retryAfter, and the same submit
// again, once the database is back, creates the donation once.
func TestASubmitTheDatabaseCannotTakeInTimeIsUnavailable(t *testing.T) {
	pg := testenv.Embedded()
	if pg == nil {
		t.Skip("TEST_DATABASE_URL is set: the test cannot stop that server")
	}
	dbURL := testenv.URL(t)
	srv := start(t, map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "error", "DB_RETRY_TIMEOUT": "1s",
		"SESSION_CACHE_TTL": "0"})
	charity, donors := restartSetup(t, srv, 1)
	api := &gqlclient.Client{Base: srv.url, HTTP: &http.Client{Timeout: time.Minute}}

	flushCommits(t, dbURL)
	pg.Kill()
	down := submitOnce(context.Background(), api, donors[0], charity, "down-1")
	if err := pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if down.code != "UNAVAILABLE" || down.retryAfter < 1 {
		t.Fatalf("submit with the database down: code %q, retryAfter %v (%v); want UNAVAILABLE with retryAfter",
			down.code, down.retryAfter, down.err)
	}

	// The client tries again with the same key until it is taken (the pool reconnects).
	var first answer
	for deadline := time.Now().Add(30 * time.Second); ; {
		if first = submitOnce(context.Background(), api, donors[0], charity, "down-1"); first.code != "UNAVAILABLE" || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Duration(first.retryAfter) * time.Second)
	}
	again := submitOnce(context.Background(), api, donors[0], charity, "down-1")
	if first.id == "" || again.id != first.id {
		t.Fatalf("after the restart: %+v, then %+v; want one donation, twice", first, again)
	}
	total := srv.client.As(donors[0].token).Do(t, `{ me { donations(first: 1) { totalCount } } }`, nil).NoErrors(t).
		Get("me", "donations", "totalCount")
	if total != float64(1) {
		t.Fatalf("%v donations after the retries, want 1", total)
	}
}
