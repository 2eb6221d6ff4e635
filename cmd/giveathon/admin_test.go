package main

import (
	"context"
	"fmt"
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
	if out, err := runCommand(t, url, "admin", "grant", "nobody-here@example.org"); err == nil || !strings.Contains(err.Error(), "must register first") {
		t.Errorf("admin grant of an unknown e-mail: %v\n%s", err, out)
	}
	if _, err := runCommand(t, url, "admin", "promote", email); err != errUsage {
		t.Errorf("admin with a bad verb: %v", err)
	}
}
