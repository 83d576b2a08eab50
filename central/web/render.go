package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serialine/serialine/central/auth"
	"github.com/serialine/serialine/shared/gs1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// pages holds one template set per page, each the layout plus the page.
type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base := template.New("").Funcs(funcs())
	base, err = base.ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(templateFS, n); err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	User  *auth.Principal
	// CSRF is the session's CSRF token for every form's hidden field.
	CSRF    string
	Can     perms
	Notice  string
	Warning string
	// Refresh is the live-refresh interval in ms (lines page only).
	Refresh int64
	Data    any
}

// render writes page name with data. The page is rendered to a buffer
// first, so that a template error becomes a clean 500.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	h.renderTemplate(w, r, status, name, "layout", title, nav, data)
}

func (h *handler) renderTemplate(w http.ResponseWriter, r *http.Request, status int, name, tmpl, title, nav string, data any) {
	t, ok := h.pages.byName[name]
	if !ok {
		h.log.Error("no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Nav: nav, Data: data}
	if p, ok := principal(r); ok {
		v.User, v.CSRF, v.Can = &p, h.deps.Sessions.CSRFToken(r), permsOf(p)
	}
	if name == "lines" {
		v.Refresh = h.deps.Refresh.Milliseconds()
	}
	q := r.URL.Query()
	v.Notice, v.Warning = notice(q.Get("ok")), warning(q.Get("warn"))
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		h.log.Error("page render failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// notice and warning are the messages a redirect after a post may ask
// for (?ok=…, ?warn=…); only these fixed texts can appear, so a link
// cannot put words in the UI's mouth.
func notice(key string) string {
	switch key {
	case "order-created":
		return "Work order created."
	case "order-released":
		return "Work order released to the line."
	case "order-closed":
		return "Work order closed."
	case "product-created":
		return "Product created."
	case "serials-imported":
		return "Serial list imported."
	case "flags-dispositioned":
		return "Disposition recorded."
	case "rules-saved":
		return "Order rules saved."
	case "saved":
		return "Saved."
	case "resent":
		return "The document is queued again; the outbound queue sends it now."
	}
	return ""
}

func warning(key string) string {
	if key == "not-published" {
		return "The change is stored, but the line's orders could not be published now; " +
			"they are published again when central restarts or another order of the line changes. See central's log."
	}
	return ""
}

type problem struct {
	Heading string
	Text    string
	Status  int
}

// fail shows an error page.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	h.render(w, r, status, "problem", heading, "", problem{Heading: heading, Text: text, Status: status})
}

// serverError logs err and shows a generic page: internals stay in the log.
func (h *handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.Error(what, "path", r.URL.Path, "err", err)
	h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "Central could not "+what+". The error is in central's log.")
}

// form is a submitted (or empty) form with its errors by field.
type form struct {
	Values url.Values
	Errors map[string]string
	// Problem is an error about the whole form, not one field.
	Problem string
	// labels names the form's fields for people, in the form's order
	// (withLabels): the error summary lists errors by them.
	labels []fieldLabel
}

// fieldLabel is a form field's name and the label a person reads.
type fieldLabel struct{ Name, Label string }

// withLabels gives f its fields' labels, in the order they appear.
func (f *form) withLabels(labels []fieldLabel) *form {
	f.labels = labels
	return f
}

// Label is the human label of field name (the name when it has none).
func (f *form) Label(name string) string {
	for _, l := range f.labels {
		if l.Name == name {
			return l.Label
		}
	}
	return name
}

// fieldError is one error of the summary.
type fieldError struct{ Name, Label, Message string }

// ErrorList lists every error, in the order of the form's fields (those
// without a label last, by name).
func (f *form) ErrorList() []fieldError {
	var out []fieldError
	seen := map[string]bool{}
	for _, l := range f.labels {
		if msg, ok := f.Errors[l.Name]; ok {
			out = append(out, fieldError{l.Name, l.Label, msg})
			seen[l.Name] = true
		}
	}
	var rest []string
	for name := range f.Errors {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		out = append(out, fieldError{name, name, f.Errors[name]})
	}
	return out
}

func newForm(v url.Values) *form {
	if v == nil {
		v = url.Values{}
	}
	return &form{Values: v, Errors: map[string]string{}}
}

func (f *form) Get(name string) string { return strings.TrimSpace(f.Values.Get(name)) }

// Has reports whether a checkbox (or option of a multi-valued field) is set.
func (f *form) Has(name, value string) bool { return slices.Contains(f.Values[name], value) }

func (f *form) Err(name string) string { return f.Errors[name] }

// SetError records the first error of a field.
func (f *form) SetError(name, msg string) {
	if _, ok := f.Errors[name]; !ok {
		f.Errors[name] = msg
	}
}

func (f *form) Valid() bool { return len(f.Errors) == 0 && f.Problem == "" }

// field describes an input for the "field" partial.
type field struct {
	Form      *form
	Name      string
	Label     string
	Type      string
	Hint      string
	Required  bool
	Autofocus bool
	Numeric   bool
	Options   []option
	// Pattern, MaxLength and Min let the browser tell the rule before
	// the form is sent (the server checks it again).
	Pattern   string
	MaxLength string
	Min       string
}

type option struct{ Value, Label string }

// fieldOf is the template func behind {{template "field" (fld .Form "name" "Label" "text" "hint" "required")}}.
// An empty label is the form's own (form.Label). Flags: required,
// autofocus, numeric, maxlength=N, min=V.
func fieldOf(f *form, name, label, typ, hint string, flags ...string) field {
	if label == "" {
		label = f.Label(name)
	}
	fl := field{Form: f, Name: name, Label: label, Type: typ, Hint: hint}
	for _, x := range flags {
		switch k, v, _ := strings.Cut(x, "="); k {
		case "required":
			fl.Required = true
		case "autofocus":
			fl.Autofocus = true
		case "numeric":
			fl.Numeric = true
		case "maxlength":
			fl.MaxLength = v
		case "min":
			fl.Min = v
		}
	}
	return fl
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"fld": fieldOf,
		"withOptions": func(f field, opts []option) field {
			f.Options = opts
			return f
		},
		"withPattern": func(f field, pattern string) field {
			f.Pattern = pattern
			return f
		},
		"pathesc": url.PathEscape,
		"deref": func(v any) any { // a stored product's rule pointers are always set
			switch p := v.(type) {
			case *int:
				if p != nil {
					return *p
				}
			case *uint64:
				if p != nil {
					return *p
				}
			}
			return 0
		},
		"dispositions": dispositionOptions,
		"expiry":       formatExpiry,
		"pct":          func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " %" },
		"csrfField":    func() string { return auth.CSRFField },
		"ts":           formatTime,
		"num":          formatCount,
		"prob":         formatProbability,
		"id": func(s string) string { // a safe HTML id from a field name
			return "f-" + strings.NewReplacer(".", "-", "[", "-", "]", "").Replace(s)
		},
	}
}

func formatTime(v any) string {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	case *time.Time:
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return fmt.Sprint(v)
}

// formatCount writes n with thousands separators: 1,234,567.
func formatCount(v any) string {
	var s string
	switch n := v.(type) {
	case uint64:
		s = strconv.FormatUint(n, 10)
	case int:
		s = strconv.Itoa(n)
	case int64:
		s = strconv.FormatInt(n, 10)
	default:
		return fmt.Sprint(v)
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatProbability writes p as "1 in N" (with p itself for small values).
func formatProbability(p float64) string {
	switch {
	case p <= 0:
		return "0"
	case p >= 1:
		return "1 (certain)"
	}
	inv := 1 / p
	if inv < 1e15 {
		return fmt.Sprintf("1 in %s (%.2g)", formatCount(uint64(math.Round(inv))), p)
	}
	return fmt.Sprintf("%.2g", p)
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	return strconv.FormatInt(n>>10, 10) + " KB"
}

// formatExpiry shows an expiry (YYMMDD) as the date it means with the
// code printed on the pack: "2028-12-31 (281231)"; DD 00 is the month's
// last day.
func formatExpiry(yymmdd string) string {
	t, err := gs1.ExpiryTime(yymmdd)
	if err != nil {
		return yymmdd
	}
	return t.Format(time.DateOnly) + " (" + yymmdd + ")"
}
