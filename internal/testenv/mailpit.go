package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Mailpit is a Mailpit server of the test's own (SMTP in, JSON API out), on loopback ports,
// with a temporary database. It accepts plain SMTP with or without AUTH (any user name and
// password), keeps every message, and is killed when the test ends.
type Mailpit struct {
	// SMTPURL is the SMTP_URL that reaches it: smtp://127.0.0.1:PORT?tls=none.
	SMTPURL string
	// SMTPAddr is the SMTP listener's host:port.
	SMTPAddr string
	// APIURL is the base URL of its web UI and JSON API (no trailing slash).
	APIURL string

	http *http.Client
}

// MailpitMessage is a message as Mailpit lists it.
type MailpitMessage struct {
	// ID is Mailpit's id of the message, for Message and Raw.
	ID string
	// MessageID is the Message-ID header without the angle brackets.
	MessageID string
	Subject   string
	// From and To are bare addresses.
	From string
	To   []string
	// Username is the SMTP AUTH user name the message came with, if any.
	Username string
	// Created is when Mailpit received it.
	Created time.Time
	Snippet string
}

// MailpitContent is one message in full.
type MailpitContent struct {
	MailpitMessage
	// Text and HTML are the decoded bodies of the text/plain and text/html parts.
	Text string
	HTML string
	// Headers are the message's top-level headers (Headers.Get canonicalises the name).
	Headers mail.Header
}

// mailpitStartAttempts is how often StartMailpit tries, with fresh ports, when Mailpit exits
// at once (another process took a port between our probe and Mailpit's bind).
const mailpitStartAttempts = 3

// mailpitBinary finds the mailpit binary: MAILPIT_BIN, or the tool pinned in go.mod.
func mailpitBinary() (string, error) { return toolBinary("mailpit", "MAILPIT_BIN") }

// StartMailpit starts a Mailpit for the test and waits until both its SMTP server and its API
// answer. It fails the test when Mailpit cannot start. The binary is the mailpit tool pinned
// in go.mod (`go tool -n mailpit`), or the one MAILPIT_BIN names.
func StartMailpit(t testing.TB) *Mailpit {
	t.Helper()
	bin, err := mailpitBinary()
	if err != nil {
		t.Fatalf("testenv: mailpit: %v", err)
	}
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		m, err := startMailpit(t, bin, filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", attempt)))
		if err == nil {
			return m
		}
		if !errors.Is(err, errMailpitExited) || attempt == mailpitStartAttempts {
			t.Fatalf("testenv: start mailpit: %v", err)
		}
	}
}

var errMailpitExited = errors.New("mailpit exited")

func startMailpit(t testing.TB, bin, database string) (*Mailpit, error) {
	ports, err := freeLoopbackPorts(2)
	if err != nil {
		return nil, err
	}
	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))

	cmd := exec.Command(bin,
		"--quiet",                 // errors only
		"--disable-version-check", // no calls home
		"--database", database,
		"--max", "0", // keep every message (the default prunes beyond 500)
		"--smtp", smtpAddr,
		"--listen", httpAddr,
		"--smtp-disable-rdns",
		// Plain SMTP is always accepted; these also accept AUTH with any user name and password
		// without TLS, so that clients configured with credentials can be tested too.
		"--smtp-auth-accept-any",
		"--smtp-auth-allow-insecure",
	)
	// Mailpit reads MP_* settings from the environment: a developer's must not leak in.
	cmd.Env = []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own, killed as a whole; and killed with the test binary if that
	// dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		// The database is thrown away, so a graceful stop would buy nothing.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}

	m := &Mailpit{
		SMTPURL:  "smtp://" + smtpAddr + "?tls=none",
		SMTPAddr: smtpAddr,
		APIURL:   "http://" + httpAddr,
		// No proxy: the server is on loopback.
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("%w (%v) before it was ready: %s", errMailpitExited, waitErr, out.String())
		default:
		}
		if m.apiReady() && smtpReady(smtpAddr) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("not ready after 30s: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("testenv: mailpit exited during the test (%v): %s", waitErr, out.String())
		default:
			stop()
		}
		m.http.CloseIdleConnections()
	})
	return m, nil
}

// apiReady reports whether the JSON API answers.
func (m *Mailpit) apiReady() bool {
	resp, err := m.http.Get(m.APIURL + "/api/v1/messages?limit=1")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// smtpReady reports whether an SMTP server at addr greets and says goodbye.
func smtpReady(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	greeting, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(greeting, "220") {
		return false
	}
	if _, err := io.WriteString(conn, "QUIT\r\n"); err != nil {
		return false
	}
	bye, err := r.ReadString('\n')
	return err == nil && strings.HasPrefix(bye, "221")
}

// freeLoopbackPorts returns n distinct TCP ports free on 127.0.0.1 a moment ago.
func freeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		// Held open until all are chosen, so that they differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// mailpitSummary is a message in Mailpit's JSON.
type mailpitSummary struct {
	ID        string
	MessageID string
	Subject   string
	From      *mail.Address
	To        []*mail.Address
	Username  string
	Created   time.Time
	Snippet   string
}

func (s mailpitSummary) message() MailpitMessage {
	msg := MailpitMessage{ID: s.ID, MessageID: s.MessageID, Subject: s.Subject, Username: s.Username, Created: s.Created, Snippet: s.Snippet}
	if s.From != nil {
		msg.From = s.From.Address
	}
	for _, a := range s.To {
		if a != nil {
			msg.To = append(msg.To, a.Address)
		}
	}
	return msg
}

// Messages returns every message matching a Mailpit search, newest first; an empty query
// returns all messages. The search syntax is Mailpit's: free text, or to:, from:, subject:,
// message-id:, is:unread, before:, after:, ... (custom headers cannot be searched: find
// messages by message-id: and read their headers with Message).
func (m *Mailpit) Messages(t testing.TB, query string) []MailpitMessage {
	t.Helper()
	msgs, err := m.messages(query)
	if err != nil {
		t.Fatalf("testenv: mailpit messages %q: %v", query, err)
	}
	return msgs
}

func (m *Mailpit) messages(query string) ([]MailpitMessage, error) {
	const pageSize = 250
	var out []MailpitMessage
	seen := map[string]bool{}
	for start := 0; ; start += pageSize {
		params := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(pageSize)}}
		path := "/api/v1/messages"
		if strings.TrimSpace(query) != "" {
			path = "/api/v1/search"
			params.Set("query", query)
		}
		var page struct {
			MessagesCount int              `json:"messages_count"`
			Messages      []mailpitSummary `json:"messages"`
		}
		if err := m.getJSON(path+"?"+params.Encode(), &page); err != nil {
			return nil, err
		}
		for _, s := range page.Messages {
			// Messages that arrive while we page push older ones down a page: skip repeats.
			if !seen[s.ID] {
				seen[s.ID] = true
				out = append(out, s.message())
			}
		}
		if len(page.Messages) < pageSize || start+pageSize >= page.MessagesCount {
			return out, nil
		}
	}
}

// WaitForMessages polls until at least n messages match query (see Messages) and returns
// them; it fails the test after timeout.
func (m *Mailpit) WaitForMessages(t testing.TB, query string, n int, timeout time.Duration) []MailpitMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := m.messages(query)
		if err != nil {
			t.Fatalf("testenv: mailpit messages %q: %v", query, err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			subjects := make([]string, len(msgs))
			for i, msg := range msgs {
				subjects[i] = msg.Subject
			}
			t.Fatalf("testenv: waited %s for %d message(s) matching %q, found %d %q", timeout, n, query, len(msgs), subjects)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Message returns one message in full: bodies and headers. id is MailpitMessage.ID.
func (m *Mailpit) Message(t testing.TB, id string) *MailpitContent {
	t.Helper()
	var full struct {
		mailpitSummary
		Text string
		HTML string
	}
	if err := m.getJSON("/api/v1/message/"+url.PathEscape(id), &full); err != nil {
		t.Fatalf("testenv: mailpit message %s: %v", id, err)
	}
	c := &MailpitContent{MailpitMessage: full.message(), Text: full.Text, HTML: full.HTML}
	if err := m.getJSON("/api/v1/message/"+url.PathEscape(id)+"/headers", &c.Headers); err != nil {
		t.Fatalf("testenv: mailpit headers of %s: %v", id, err)
	}
	return c
}

// Raw returns a message as it was received, headers and MIME parts included.
func (m *Mailpit) Raw(t testing.TB, id string) []byte {
	t.Helper()
	body, err := m.get("/api/v1/message/" + url.PathEscape(id) + "/raw")
	if err != nil {
		t.Fatalf("testenv: mailpit raw message %s: %v", id, err)
	}
	return body
}

func (m *Mailpit) get(path string) ([]byte, error) {
	resp, err := m.http.Get(m.APIURL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

func (m *Mailpit) getJSON(path string, v any) error {
	body, err := m.get(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// lockedBuffer collects a process's output (the first 64 KiB) for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 64<<10 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
