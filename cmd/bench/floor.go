package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/giveathon/giveathon/internal/gqlclient"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// floorPhase runs (e), the ceiling this machine sets for (b): a plain HTTP handler, in the
// bench's own process, that makes only the writes a submit must make (the donation's row, with
// every index and foreign key of the real table, and its charge job's row, in one transaction)
// write-combined as the server's submits are (floorFlushers, up to 128 a batch), for as many
// keep-alive clients as (b) has, posting submitDonation's request for the measuring time. It
// leaves out all else a submit does: GraphQL, the donor's session, the rate limit, the donor's
// lock, the idempotency, duplicate-window, charity, card and card-testing checks, and the
// workers. What it inserts, for donors and charities of its own, is left in the bench's
// database (deleted with it); its jobs are of a kind and queue no worker takes.
func (o *options) floorPhase(ctx context.Context, pool *pgxpool.Pool, res *Results, log io.Writer, dbURL string) error {
	fmt.Fprintln(log, "bench: (e) the floor: a plain HTTP handler making only a submit's writes")
	ctx, cancel := context.WithCancel(ctx) // the flushers stop with the phase
	defer cancel()
	donors, charities, err := floorData(ctx, pool)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return err
	}
	cfg.MaxConns = floorFlushers + 2
	fpool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer fpool.Close()
	f := &floor{pool: fpool, queue: make(chan *floorReq, 1024), donorOf: map[string]string{}}
	for _, d := range donors {
		f.donorOf[d.card] = d.user
	}
	for range floorFlushers {
		go f.flush(ctx)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	api := &gqlclient.Client{Base: "http://" + ln.Addr().String(), HTTP: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.clients * 2, MaxConnsPerHost: o.clients * 2}}}
	shares := startCPUShares([]string{"handler and clients (the bench)"}, []int{os.Getpid()})
	var done, failed atomic.Int64
	var firstErr error
	var once sync.Once
	stopAt := time.Now().Add(o.duration)
	start := time.Now()
	var all sync.WaitGroup
	for c := range o.clients {
		all.Add(1)
		go func() {
			defer all.Done()
			for n := 0; time.Now().Before(stopAt) && ctx.Err() == nil; n++ {
				d := donors[rand.IntN(len(donors))]
				in := map[string]any{"charityId": charities[rand.IntN(len(charities))], "amountCents": 100 + rand.IntN(20000),
					"paymentMethodId": d.card, "idempotencyKey": fmt.Sprintf("floor-%d-%d", c, n), "confirmDuplicate": true}
				var out struct {
					SubmitDonation struct {
						Donation struct{ ID string } `json:"donation"`
					} `json:"submitDonation"`
				}
				err := api.Do(ctx, "", `mutation($i: SubmitDonationInput!) { submitDonation(input: $i) { donation { id } } }`,
					map[string]any{"i": in}, &out)
				if err == nil && out.SubmitDonation.Donation.ID == "" {
					err = errors.New("no donation id in the answer")
				}
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				done.Add(1)
			}
		}()
	}
	all.Wait()
	res.FloorPerSecond = float64(done.Load()) / time.Since(start).Seconds()
	res.FloorCPU = shares.String()
	fmt.Fprintln(log, "bench: CPU during (e):", res.FloorCPU)
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("floor: %d requests failed, the first: %w", n, firstErr)
	}
	return nil
}

// floorFlushers is how many batches (e) writes at once: the server's number for submits. More
// make less here (4: a tenth less, 8: a quarter less), as batches then wait on each other's
// index pages and foreign-key locks.
const floorFlushers = 2

// floorDonor is one of the floor's donors: its id and its card's.
type floorDonor struct{ user, card string }

// floorData inserts the floor's donors (each with a card) and charities, as many as loadgen
// uses, and returns them.
func floorData(ctx context.Context, pool *pgxpool.Pool) ([]floorDonor, []string, error) {
	for _, q := range []string{
		`INSERT INTO users (email, name, password_hash) SELECT 'floor' || g || '@example.test', 'Floor ' || g, 'x' FROM generate_series(1, 200) g`,
		`INSERT INTO payment_methods (user_id, provider_customer_id, provider_payment_method_id, brand, last4, exp_month, exp_year, is_default)
			SELECT id, 'cus_floor', 'pm_' || id, 'visa', '4242', 12, 2040, true FROM users WHERE email LIKE 'floor%@example.test'`,
		`INSERT INTO charities (slug, name, ein) SELECT 'floor-' || g, 'Floor Charity ' || g, '12-3456789' FROM generate_series(1, 12) g`,
		`ANALYZE users, payment_methods, charities`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return nil, nil, err
		}
	}
	rows, err := pool.Query(ctx, `SELECT user_id::text, id::text FROM payment_methods WHERE provider_customer_id = 'cus_floor'`)
	if err != nil {
		return nil, nil, err
	}
	donors, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (floorDonor, error) {
		var d floorDonor
		return d, r.Scan(&d.user, &d.card)
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = pool.Query(ctx, `SELECT id::text FROM charities WHERE slug LIKE 'floor-%'`)
	if err != nil {
		return nil, nil, err
	}
	charities, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return donors, charities, err
}

// floor is (e)'s handler: it answers a submit once its batch has committed.
type floor struct {
	pool    *pgxpool.Pool
	queue   chan *floorReq
	donorOf map[string]string // card -> donor
}

// floorReq is one submit the handler waits on.
type floorReq struct {
	user, charity, card, key string
	amount                   int64
	id                       string
	err                      error
	done                     chan struct{}
}

// ServeHTTP reads a submitDonation request (the card names the donor: there is no session)
// and answers with the donation's id.
func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Variables struct {
			I struct {
				CharityID       string `json:"charityId"`
				AmountCents     int64  `json:"amountCents"`
				PaymentMethodID string `json:"paymentMethodId"`
				IdempotencyKey  string `json:"idempotencyKey"`
			} `json:"i"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	in := body.Variables.I
	req := &floorReq{user: f.donorOf[in.PaymentMethodID], charity: in.CharityID, card: in.PaymentMethodID,
		key: in.IdempotencyKey, amount: in.AmountCents, done: make(chan struct{})}
	f.queue <- req
	<-req.done
	w.Header().Set("Content-Type", "application/json")
	if req.err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"message": req.err.Error(),
			"extensions": map[string]any{"code": "INTERNAL_SERVER_ERROR"}}}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"submitDonation": map[string]any{
		"donation": map[string]any{"id": req.id}}}})
}

// flush writes batches: it waits for one submit, takes every other one queued (up to 128),
// writes them in one transaction and answers them, until ctx ends.
func (f *floor) flush(ctx context.Context) {
	for {
		var batch []*floorReq
		select {
		case <-ctx.Done():
			return
		case r := <-f.queue:
			batch = append(batch, r)
		}
	more:
		for len(batch) < 128 {
			select {
			case r := <-f.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		ids, err := f.write(ctx, batch)
		for i, r := range batch {
			r.id, r.err = ids[i], err
			close(r.done)
		}
	}
}

// sqlFloorInsert inserts the donations and, in the same statement, a charge job for each.
const sqlFloorInsert = `WITH ins AS (
	INSERT INTO donations (user_id, charity_id, amount_cents, currency, status, idempotency_key, request_hash, payment_method_id)
	SELECT u, c, a, 'USD', 'PENDING', k, k, p FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int8[]) AS r(u, c, p, k, a)
	ORDER BY u, k
	ON CONFLICT DO NOTHING RETURNING id, user_id, idempotency_key),
jobs AS (
	INSERT INTO river_job (args, kind, max_attempts, priority, queue, state, scheduled_at)
	SELECT jsonb_build_object('donation_id', id, 'user_id', user_id), 'bench_floor', 25, 1, 'bench_floor', 'available', now() FROM ins)
SELECT id::text, idempotency_key FROM ins`

// write inserts a batch and returns each submit's donation id.
func (f *floor) write(ctx context.Context, batch []*floorReq) ([]string, error) {
	n := len(batch)
	us, cs, ps, ks, as := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, r := range batch {
		us[i], cs[i], ps[i], ks[i], as[i] = r.user, r.charity, r.card, r.key, r.amount
	}
	ids := make([]string, n)
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sqlFloorInsert, us, cs, ps, ks, as)
		if err != nil {
			return err
		}
		byKey := map[string]string{}
		for rows.Next() {
			var id, k string
			if err := rows.Scan(&id, &k); err != nil {
				return err
			}
			byKey[k] = id
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i, k := range ks {
			if ids[i] = byKey[k]; ids[i] == "" {
				return errors.New("floor: key " + strconv.Quote(k) + " was not inserted")
			}
		}
		return nil
	})
	return ids, err
}
