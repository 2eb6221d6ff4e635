package webhooks_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/giveathon/giveathon"
	"github.com/giveathon/giveathon/webhooks"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// signed builds a signed request for an endpoint in the middle of a rotation: version 2 is
// current, version 1 signs beside it until an hour from now.
func signed(t *testing.T, body []byte) (*webhooks.Keyring, *giveathon.WebhookEndpoint, *http.Request) {
	t.Helper()
	keys, err := webhooks.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	prev, until := 1, time.Now().Add(time.Hour)
	ep := &giveathon.WebhookEndpoint{ID: "5b0f3a4e-1c7d-4e8a-9f00-0123456789ab", SecretVersion: 2, PreviousVersion: &prev, PreviousUntil: &until}
	now := time.Now()
	req, err := webhooks.NewRequest("https://partner.example/hook", giveathon.WebhookMessageID("0f8e2f6a-0000-4000-8000-00000000abcd"), now, body,
		keys.SigningKeys(ep, now))
	if err != nil {
		t.Fatal(err)
	}
	return keys, ep, req
}

func eventBody(t *testing.T) []byte {
	t.Helper()
	b, err := webhooks.Body(&giveathon.PartnerEvent{ID: "0f8e2f6a-0000-4000-8000-00000000abcd", Type: giveathon.EventDonationSucceeded,
		CreatedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Data: json.RawMessage(`{"id":"RG9uYXRpb246eA","partnerReference":"order-1","amountCents":1500}`)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSignatureVerifiesWithTheReferenceLibrary: the Standard Webhooks Go library accepts our
// signature with either secret during a rotation's overlap, and refuses a changed body.
func TestSignatureVerifiesWithTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	body := eventBody(t)
	keys, ep, req := signed(t, body)
	if got := req.Header.Get(webhooks.HeaderSignature); len(strings.Fields(got)) != 2 || !strings.HasPrefix(got, "v1,") {
		t.Fatalf("webhook-signature %q, want two v1 signatures during the overlap", got)
	}
	if id := req.Header.Get(webhooks.HeaderID); id != "msg_0f8e2f6a00004000800000000000abcd" {
		t.Errorf("webhook-id %q", id)
	}
	if req.Header.Get("User-Agent") != webhooks.UserAgent || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", req.Header)
	}
	for _, version := range []int{1, 2} {
		secret := keys.Secret(ep.ID, version)
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret %q", secret)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, req.Header); err != nil {
			t.Errorf("secret version %d: the reference library refuses the signature: %v", version, err)
		}
		tampered := bytes.Replace(body, []byte("1500"), []byte("9500"), 1)
		if err := wh.Verify(tampered, req.Header); err == nil {
			t.Errorf("secret version %d: a tampered body was accepted", version)
		}
	}
	// Another endpoint's secret, or a third version, does not verify.
	for _, secret := range []string{keys.Secret(ep.ID, 3), keys.Secret("6b0f3a4e-1c7d-4e8a-9f00-0123456789ab", 2)} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(body, req.Header); err == nil {
			t.Errorf("a secret that does not sign was accepted")
		}
	}
	// After the overlap, only the current secret signs.
	past := time.Now().Add(-time.Second)
	ep.PreviousUntil = &past
	if n := len(keys.SigningKeys(ep, time.Now())); n != 1 {
		t.Errorf("%d signing keys after the overlap, want 1", n)
	}
}

// TestSignatureVerifiesWithTheNPMReference runs the standardwebhooks npm package (1.1.1, the
// one the acceptance script uses) over our signature, with both secrets of a rotation and a
// tampered body.
func TestSignatureVerifiesWithTheNPMReference(t *testing.T) {
	t.Parallel()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: the npm reference verifier cannot run (the Go reference test still does)")
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("package.json", `{"private": true, "type": "module", "dependencies": {"standardwebhooks": "1.1.1"}}`)
	write("verify.mjs", `import { Webhook } from 'standardwebhooks';
import { readFileSync } from 'node:fs';
const { cases } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const c of cases) {
  try { new Webhook(c.secret).verify(c.body, c.headers); console.log('ok'); }
  catch (e) { console.log('refused'); }
}
`)
	install := exec.Command(npm, "install", "--silent", "--no-audit", "--no-fund")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install standardwebhooks@1.1.1: %v\n%s", err, out)
	}
	body := eventBody(t)
	keys, ep, req := signed(t, body)
	headers := map[string]string{}
	for _, h := range []string{webhooks.HeaderID, webhooks.HeaderTimestamp, webhooks.HeaderSignature} {
		headers[h] = req.Header.Get(h)
	}
	type tc struct {
		Secret  string            `json:"secret"`
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
	}
	cases := []tc{
		{keys.Secret(ep.ID, 2), string(body), headers},
		{keys.Secret(ep.ID, 1), string(body), headers},
		{keys.Secret(ep.ID, 2), strings.Replace(string(body), "1500", "9500", 1), headers},
		{keys.Secret(ep.ID, 3), string(body), headers},
	}
	in, _ := json.Marshal(map[string]any{"cases": cases})
	write("cases.json", string(in))
	out, err := exec.Command("node", filepath.Join(dir, "verify.mjs"), filepath.Join(dir, "cases.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	if got, want := strings.Fields(string(out)), []string{"ok", "ok", "refused", "refused"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("npm verifier: current, previous, tampered, wrong secret = %v, want %v", got, want)
	}
}

// TestBodyRefusesTooLargeEvents: a body of 20 KB or more is not built.
func TestBodyRefusesTooLargeEvents(t *testing.T) {
	t.Parallel()
	big := `{"note":"` + strings.Repeat("x", webhooks.MaxBodyBytes) + `"}`
	_, err := webhooks.Body(&giveathon.PartnerEvent{ID: "e", Type: giveathon.EventMilestone, Data: json.RawMessage(big)})
	if giveathon.ErrorCode(err) != giveathon.EINVALID {
		t.Fatalf("a 20 KB body: %v", err)
	}
	b, err := webhooks.Body(&giveathon.PartnerEvent{ID: "e", Type: giveathon.EventMilestone, Data: json.RawMessage(`{"percent":10}`),
		CreatedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("EST", -5*3600))})
	if err != nil || string(b) != `{"type":"event.milestone","timestamp":"2026-12-01T14:00:00Z","data":{"percent":10}}` {
		t.Fatalf("body %s, %v", b, err)
	}
}
