package notify

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// TLS modes of an SMTP connection, as SMTP_URL's tls parameter spells them.
const (
	tlsNone     = "none"     // plain text
	tlsStartTLS = "starttls" // plain text upgraded with STARTTLS, which the server must offer
	tlsImplicit = "tls"      // TLS from the first byte (smtps)
)

// smtpSettings is what SMTP_URL says about the server.
type smtpSettings struct {
	host     string
	port     int
	tls      string
	user     string
	password string
}

// addr returns host:port, IPv6 literals bracketed.
func (s *smtpSettings) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// String returns the settings as a URL without the password.
func (s *smtpSettings) String() string {
	u := url.URL{Scheme: "smtp", Host: s.addr(), RawQuery: "tls=" + s.tls}
	if s.tls == tlsImplicit {
		u.Scheme, u.RawQuery = "smtps", ""
	}
	if s.user != "" {
		u.User = url.UserPassword(s.user, "xxxxx")
	}
	return u.String()
}

// parseSMTPURL reads SMTP_URL: smtp://[user:pass@]host[:port][?tls=none|starttls|tls], or
// smtps://[user:pass@]host[:port]. The user name and password are percent-decoded.
//
// Without a tls parameter, smtp:// requires STARTTLS, except to a loopback host (a local
// relay, or Mailpit in development), where it is plain text. The default port is 25 for
// plain text, 587 for STARTTLS and 465 for TLS.
//
// Errors never repeat the URL itself, which may hold a password.
func parseSMTPURL(raw string) (*smtpSettings, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, password included, and an EscapeError a piece of
		// it: keep only the kind of mistake.
		var uerr *url.Error
		var eerr url.EscapeError
		switch {
		case errors.As(err, &eerr):
			return nil, errors.New("SMTP_URL has a malformed %-escape: percent-encode special characters in the user name and password")
		case errors.As(err, &uerr):
			err = uerr.Err
		}
		return nil, fmt.Errorf("SMTP_URL is not a valid URL: %v", err)
	}
	var s smtpSettings
	switch strings.ToLower(u.Scheme) {
	case "smtp":
	case "smtps":
		s.tls = tlsImplicit
	case "":
		return nil, errors.New("SMTP_URL has no scheme: use smtp://host:port or smtps://host:port")
	default:
		return nil, fmt.Errorf("SMTP_URL has the scheme %q: use smtp://host:port or smtps://host:port", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, errors.New("SMTP_URL must look like smtp://host:port (the // is missing)")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("SMTP_URL has no host: use smtp://host:port")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("SMTP_URL must not have a path: use smtp://host:port")
	}
	if u.Fragment != "" {
		return nil, errors.New("SMTP_URL must not have a #fragment")
	}
	if u.User != nil {
		s.user = u.User.Username()
		var ok bool
		s.password, ok = u.User.Password()
		switch {
		case s.user == "":
			return nil, errors.New("SMTP_URL has a password but no user name")
		case !ok || s.password == "":
			return nil, errors.New("SMTP_URL has a user name but no password: use smtp://user:password@host:port")
		}
	}

	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("SMTP_URL has a malformed query string")
	}
	for key, values := range query {
		if key != "tls" {
			return nil, fmt.Errorf("SMTP_URL has the unknown parameter %q: the only one is tls=none|starttls|tls", key)
		}
		if len(values) != 1 {
			return nil, errors.New("SMTP_URL gives tls more than once")
		}
		mode := strings.ToLower(values[0])
		switch {
		case mode != tlsNone && mode != tlsStartTLS && mode != tlsImplicit:
			return nil, fmt.Errorf("SMTP_URL has tls=%q: use tls=none, tls=starttls or tls=tls", values[0])
		case s.tls == tlsImplicit && mode != tlsImplicit:
			return nil, fmt.Errorf("SMTP_URL is smtps:// (TLS from the start) but says tls=%s: use smtp:// for that", mode)
		}
		s.tls = mode
	}
	if s.tls == "" {
		s.tls = tlsStartTLS
		if isLoopback(s.host) {
			s.tls = tlsNone
		}
	}

	switch p := u.Port(); {
	case p != "":
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("SMTP_URL has the port %q: a port is a number from 1 to 65535", p)
		}
		s.port = port
	case s.tls == tlsImplicit:
		s.port = 465
	case s.tls == tlsStartTLS:
		s.port = 587
	default:
		s.port = 25
	}
	return &s, nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
