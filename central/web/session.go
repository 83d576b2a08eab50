package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/serialine/serialine/central/auth"
)

// Sessions is the UI's cookie session; *auth.Sessions implements it. A
// token pasted once starts a server-side session whose random id is an
// HttpOnly, SameSite=Strict cookie (never the token itself); its
// Middleware puts the auth.Principal in the request context (attributing
// store writes to it) and refuses a state-changing request that comes
// from another origin or lacks the session's CSRF token (auth.CSRFField).
type Sessions interface {
	SignIn(w http.ResponseWriter, r *http.Request, token string) (auth.Principal, error)
	SignOut(w http.ResponseWriter, r *http.Request)
	CSRFToken(r *http.Request) string
	Middleware(next http.Handler) http.Handler
}

// principal is the signed-in user of r, if any.
func principal(r *http.Request) (auth.Principal, bool) {
	return auth.PrincipalFrom(r.Context())
}

// page wraps a GET handler: no session sends the browser to sign in and
// back; a role without perm is refused.
func (h *handler) page(perm auth.Permission, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if _, ok := principal(r); !ok {
			if r.Header.Get(liveHeader) != "" {
				// The refresh script reloads into the sign-in page.
				http.Error(w, "signed out", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h.allow(perm, next)(w, r)
	})
}

// liveHeader marks the refresh script's requests.
const liveHeader = "X-Serialine-Live"

// form wraps a POST handler of a urlencoded form. The session middleware
// has checked the CSRF token and the origin already; this needs a session
// and perm.
func (h *handler) form(perm auth.Permission, next http.HandlerFunc) http.Handler {
	return h.post(perm, func(r *http.Request) error { return r.ParseForm() }, next)
}

// upload is form for multipart posts (file uploads).
func (h *handler) upload(perm auth.Permission, next http.HandlerFunc) http.Handler {
	return h.post(perm, func(r *http.Request) error {
		err := r.ParseMultipartForm(8 << 20)
		if errors.Is(err, http.ErrNotMultipart) {
			return r.ParseForm()
		}
		return err
	}, next)
}

func (h *handler) post(perm auth.Permission, parse func(*http.Request) error, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if _, ok := principal(r); !ok {
			h.fail(w, r, http.StatusUnauthorized, "Signed out", "Your session has ended. Sign in again and repeat the action.")
			return
		}
		err := parse(r)
		if err == nil {
			err = formUTF8(r)
		}
		if err != nil {
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
				h.fail(w, r, http.StatusRequestEntityTooLarge, "Too large", "The form is larger than the "+byteSize(tooBig.Limit)+" allowed.")
				return
			}
			h.fail(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
			return
		}
		h.allow(perm, next)(w, r)
	})
}

// allow refuses a user whose role lacks perm. The pages also hide what a
// role may not do; this is the check that counts.
func (h *handler) allow(perm auth.Permission, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _ := principal(r)
		if !p.Can(perm) {
			h.log.Warn("action refused: role", "path", r.URL.Path, "user", p.Name, "role", p.Role, "permission", perm)
			h.fail(w, r, http.StatusForbidden, "Not allowed", "Your role ("+string(p.Role)+") may not "+describe(perm)+".")
			return
		}
		next(w, r)
	}
}

func (h *handler) signInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := principal(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	f := newForm(nil)
	f.Values.Set("next", next)
	h.render(w, r, http.StatusOK, "signin", "Sign in", "", f)
}

func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
		return
	}
	f := newForm(r.PostForm)
	f.Values.Set("next", safeNext(f.Get("next")))
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	f.Values.Del("token") // a token is never written back into a page
	if tok == "" {
		f.SetError("token", "Paste your API token.")
		h.render(w, r, http.StatusUnprocessableEntity, "signin", "Sign in", "", f)
		return
	}
	p, err := h.deps.Sessions.SignIn(w, r, tok)
	if err != nil {
		if !errors.Is(err, auth.ErrInvalidToken) {
			h.serverError(w, r, "check the token", err)
			return
		}
		h.log.Info("sign-in refused", "remote", r.RemoteAddr, "err", err)
		f.SetError("token", "This token is not valid: unknown, revoked or mistyped.")
		h.render(w, r, http.StatusUnauthorized, "signin", "Sign in", "", f)
		return
	}
	h.log.Info("signed in", "user", p.Name, "role", p.Role)
	http.Redirect(w, r, f.Get("next"), http.StatusSeeOther)
}

func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	h.deps.Sessions.SignOut(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site: a path that starts
// with one "/" and has no scheme, no backslash and no control character,
// before and after percent-decoding. Browsers drop tabs and newlines from
// a URL and read a backslash as "/", so "/<TAB>/evil.example" and
// "/<BACKSLASH>evil.example" would go to another host; anything doubtful
// goes to the home page.
func safeNext(next string) string {
	const home = "/lines"
	if !sameSitePath(next) {
		return home
	}
	dec, err := url.PathUnescape(next)
	if err != nil || !sameSitePath(dec) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	return next
}

// sameSitePath reports whether p is a path on this site as a browser reads
// it.
func sameSitePath(p string) bool {
	if len(p) < 1 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for _, r := range p {
		if r == '\\' || r < 0x20 || r == 0x7f || unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// userName names the signed-in user for the log.
func userName(r *http.Request) string {
	p, _ := principal(r)
	return p.Name
}
