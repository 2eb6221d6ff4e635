package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
)

// templateFS holds, for each kind of e-mail, KIND.txt (text/template) and KIND.html
// (html/template, so that names are escaped).
//
//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

var (
	textTemplates = texttemplate.Must(texttemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.html"))
)

// errUnknownKind is returned by render for a kind without templates.
var errUnknownKind = errors.New("no templates for this kind of e-mail")

// templateData is what the templates see: every value already checked and formatted.
type templateData struct {
	DonorName     string
	CharityName   string
	CharityEIN    string
	Amount        string
	Date          string
	DonationID    string
	FailureReason string
	HistoryURL    string
}

// render returns the text and HTML bodies of an e-mail of kind.
func render(kind string, data templateData) (text, html string, err error) {
	tt, ht := textTemplates.Lookup(kind+".txt"), htmlTemplates.Lookup(kind+".html")
	if tt == nil || ht == nil {
		return "", "", fmt.Errorf("render %s e-mail: %w", kind, errUnknownKind)
	}
	var tb, hb bytes.Buffer
	if err := tt.Execute(&tb, data); err != nil {
		return "", "", fmt.Errorf("render %s e-mail text: %w", kind, err)
	}
	if err := ht.Execute(&hb, data); err != nil {
		return "", "", fmt.Errorf("render %s e-mail HTML: %w", kind, err)
	}
	return tb.String(), hb.String(), nil
}
