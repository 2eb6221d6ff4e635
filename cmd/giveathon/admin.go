package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/metrics"
	"github.com/go-chi/chi/v5"
	"riverqueue.com/riverui"
)

// adminRoutes adds the admins' pages (behind auth.AdminOnly): River UI and the CSV exports.
func (a *app) adminRoutes(ctx context.Context) (func(r chi.Router), error) {
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(a.jobs.Client, nil),
		Logger:    a.logger.With("component", "riverui"),
		Prefix:    "/admin/jobs",
	})
	if err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return nil, fmt.Errorf("start river ui: %w", err)
	}
	audited := a.auditJobChanges(ui)
	return func(r chi.Router) {
		r.Handle("/admin/jobs", audited)
		r.Handle("/admin/jobs/*", audited)
		r.Handle("/admin/exports/donations.csv", exportMethods("donations.csv", a.exportDonations))
		r.Handle("/admin/exports/charities.csv", exportMethods("charities.csv", a.exportCharities))
	}, nil
}

// exportMethods serves an export to GET, its headers alone to HEAD (without running it: the
// web app's page answered 404), and 405 naming the methods to anything else.
func exportMethods(name string, export http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			export(w, r)
		case http.MethodHead:
			csvHeaders(w, name)
		default:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, name+" is downloaded with GET", http.StatusMethodNotAllowed)
		}
	}
}

// maxAuditedJobChange is the most of a job dashboard change's request body its audit line keeps.
const maxAuditedJobChange = 16 << 10

// auditJobChanges writes a line to the admins' audit log for each change made through the job
// dashboard's API that it answers 2xx (pausing a queue stops every charge; cancelling or
// deleting a charge job leaves its gift to the reconciler): action "jobs <METHOD> <path>" on
// the object "JobQueue", with the request's JSON body as "after". River UI records none.
func (a *app) auditJobChanges(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAuditedJobChange+1))
		if err != nil || len(body) > maxAuditedJobChange {
			http.Error(w, "the request body is too large or could not be read", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := &metrics.StatusWriter{ResponseWriter: w, Code: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.Code < 200 || rec.Code > 299 {
			return
		}
		var after any = map[string]string{}
		if len(bytes.TrimSpace(body)) > 0 && json.Valid(body) {
			after = json.RawMessage(body)
		}
		path := strings.TrimPrefix(r.URL.Path, "/admin/jobs")
		action := giveathon.NewAdminAction(giveathon.UserFromContext(r.Context()), "jobs "+r.Method+" "+path, "JobQueue", path, nil, after)
		if err := a.stores.DB.RecordAdminAction(r.Context(), action); err != nil {
			a.logger.ErrorContext(r.Context(), "job dashboard change not audited", "action", action.Action, "err", err)
		}
	})
}

// dollars formats cents as dollars and cents (2500 -> 25.00).
func dollars(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

func utc(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// exportParameters are the donations export's filters.
var exportParameters = []string{"status", "charityId", "from", "to"}

// exportFilter reads the donations export's query parameters: status, charityId, from, to.
func exportFilter(r *http.Request) (giveathon.AdminDonationFilter, error) {
	var f giveathon.AdminDonationFilter
	q := r.URL.Query()
	for name, values := range q {
		if !slices.Contains(exportParameters, name) {
			// A misspelt filter (charity_id, Status) exported every donation.
			return f, fmt.Errorf("%.100q is not a filter of this export: use %s", name, strings.Join(exportParameters, ", "))
		}
		if len(values) > 1 {
			// status=SUCCEEDED&status=FAILED was read as SUCCEEDED alone.
			return f, fmt.Errorf("%s is given %d times: give it once", name, len(values))
		}
	}
	if s := q.Get("status"); s != "" {
		st := giveathon.DonationStatus(s)
		if _, ok := giveathon.States[st]; !ok && st != giveathon.StatusPending {
			return f, fmt.Errorf("status %q is not a donation status", s)
		}
		f.Status = &st
	}
	if c := q.Get("charityId"); c != "" {
		if !giveathon.IsUUID(c) {
			return f, fmt.Errorf("charityId %q is not a charity's id", c)
		}
		f.CharityID = c
	}
	for name, dst := range map[string]**time.Time{"from": &f.CreatedAfter, "to": &f.CreatedBefore} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%s %q is not an RFC 3339 time", name, v)
			}
			*dst = &t
		}
	}
	return f, nil
}

// csvHeaders starts a CSV download.
func csvHeaders(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
}

// exportWriteTimeout is how long the client of an export may take to read one write's worth
// (csv's 4 KB buffer) of it.
const exportWriteTimeout = time.Minute

// exportWriter writes an export to its client. The server's WriteTimeout bounds a whole
// response and would cut a long export short (3 million rows are some 600 MB): each write
// gives the client another exportWriteTimeout to take it, so an export lasts as long as its
// client keeps reading. (A deadline moved every thousand rows cut off a client reading 50 KB/s
// steadily: the kernel's buffers took the rows at once, and the client then had a minute for
// megabytes.)
type exportWriter struct {
	w  io.Writer
	rc *http.ResponseController
	// wrote says that the client has been sent part of the export (and its 200).
	wrote bool
}

func newExportWriter(w http.ResponseWriter) *exportWriter {
	return &exportWriter{w: w, rc: http.NewResponseController(w)}
}

func (e *exportWriter) Write(p []byte) (int, error) {
	e.wrote = true
	_ = e.rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	return e.w.Write(p)
}

// csvText makes a cell of text that others entered (a donor's name, a charity's) safe to open
// in a spreadsheet: one that starts as a formula would ("=HYPERLINK(...)", "+cmd|...") is
// written after a "'", which spreadsheets take as "this is text" (OWASP's advice on CSV
// injection).
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// exportDonations streams every matching donation as CSV, row by row.
func (a *app) exportDonations(w http.ResponseWriter, r *http.Request) {
	f, err := exportFilter(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	csvHeaders(w, "donations.csv")
	ew := newExportWriter(w)
	cw := csv.NewWriter(ew)
	_ = cw.Write([]string{"donation_id", "created_at", "settled_at", "status", "amount", "currency", "charity_id", "charity_name",
		"donor_email", "donor_name", "anonymous", "failure_code", "payment_intent_id"})
	n := 0
	err = a.stores.DB.ExportDonations(r.Context(), f, func(x *db.ExportRow) error {
		d := &x.Donation
		if err := cw.Write([]string{d.ID, utc(&d.CreatedAt), utc(d.SettledAt), string(d.Status), dollars(d.AmountCents), d.Currency,
			d.CharityID, csvText(x.CharityName), csvText(x.DonorEmail), csvText(x.DonorName), strconv.FormatBool(d.Anonymous), d.FailureCode, d.PaymentIntentID}); err != nil {
			return err
		}
		n++
		return nil
	})
	a.exportDone(w, r, ew, cw, "donations", n, err)
}

// exportCharities writes each charity's totals for the payout as CSV.
func (a *app) exportCharities(w http.ResponseWriter, r *http.Request) {
	csvHeaders(w, "charities.csv")
	ew := newExportWriter(w)
	cw := csv.NewWriter(ew)
	_ = cw.Write([]string{"charity_id", "slug", "name", "ein", "active", "succeeded_count", "succeeded_amount", "refunded_count",
		"refunded_amount", "disputed_count", "disputed_amount", "net_amount", "last_gift_at"})
	n := 0
	err := a.stores.DB.ExportCharityPayouts(r.Context(), func(p *db.CharityPayout) error {
		n++
		return cw.Write([]string{p.Charity.ID, p.Charity.Slug, csvText(p.Charity.Name), p.Charity.EIN, strconv.FormatBool(p.Charity.Active),
			strconv.FormatInt(p.Succeeded, 10), dollars(p.SucceededCents), strconv.FormatInt(p.Refunded, 10), dollars(p.RefundedCents),
			strconv.FormatInt(p.Disputed, 10), dollars(p.DisputedCents), dollars(p.NetCents()), utc(p.LastGiftAt)})
	})
	a.exportDone(w, r, ew, cw, "charities", n, err)
}

// exportDone ends an export: it sends what is buffered and logs it, or, when the export failed
// (its database read, or the client), never lets a cut-short file pass for a whole one. Before
// any byte was sent the answer is 503; after, the connection is broken off without the
// chunked answer's end, so that the client sees an error (it got a 200 and a file ending on a
// whole row, a thousand rows short).
func (a *app) exportDone(w http.ResponseWriter, r *http.Request, ew *exportWriter, cw *csv.Writer, what string, rows int, err error) {
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err == nil {
		a.logger.LogAttrs(r.Context(), slog.LevelInfo, "export", slog.String("export", what), slog.Int("rows", rows))
		return
	}
	a.logger.ErrorContext(r.Context(), "export stopped short", "export", what, "rows", rows, "err", err)
	if !ew.wrote {
		w.Header().Del("Content-Disposition")
		w.Header().Set("Retry-After", "10")
		http.Error(w, "the export could not be read from the database: try again", http.StatusServiceUnavailable)
		return
	}
	panic(http.ErrAbortHandler)
}
