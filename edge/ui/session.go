package ui

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"

	"github.com/serialine/serialine/shared/httpjson"
)

// Sign-in: a PIN opens a session (an HttpOnly cookie) that carries the
// person and their role; a PIN may also come with one action (ack, extend)
// so that a supervisor or QA acts at the operator's screen without signing
// the operator out. Every PIN check counts towards the client's lock-out.

const cookieName = "serialine_operator"

// signedIn returns the person signed in on r's session; touch marks
// activity.
func (u *UI) signedIn(r *http.Request, touch bool) (Person, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return Person{}, false
	}
	now := u.cfg.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sessions[c.Value]
	if !ok {
		return Person{}, false
	}
	if now.Sub(s.last) >= u.cfg.SessionIdle {
		delete(u.sessions, c.Value)
		return Person{}, false
	}
	if touch {
		s.last = now
	}
	return s.who, true
}

// guard admits an action that needs a sign-in (ServeHTTP has refused a
// cross-site one already: checkHost).
func (u *UI) guard(w http.ResponseWriter, r *http.Request) (Person, bool) {
	return u.session(w, r)
}

// session returns the signed-in person, or answers 403 asking for a sign-in.
func (u *UI) session(w http.ResponseWriter, r *http.Request) (Person, bool) {
	who, ok := u.signedIn(r, true)
	if !ok {
		httpjson.Write(w, http.StatusForbidden, errBody{Error: "not signed in: sign in with your PIN first", SignIn: true})
		return Person{}, false
	}
	return who, true
}

// actor is who does an action that may come with a PIN (ack, extend): the
// PIN's person if one came, else the signed-in one.
func (u *UI) actor(w http.ResponseWriter, r *http.Request, pin string) (Person, bool) {
	if pin != "" {
		return u.checkPIN(w, r, pin)
	}
	return u.session(w, r)
}

func (u *UI) serveSignIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PIN string `json:"pin"`
	}
	if err := decode(r, &body); err != nil {
		httpjson.Write(w, http.StatusBadRequest, errBody{Error: `body: want {"pin": "<4 to 8 digits>"}`, Field: "pin"})
		return
	}
	who, ok := u.checkPIN(w, r, body.PIN)
	if !ok {
		return
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		httpjson.Write(w, http.StatusInternalServerError, errBody{Error: "session: " + err.Error()})
		return
	}
	id := base64.RawURLEncoding.EncodeToString(tok)
	now := u.cfg.Now()
	u.mu.Lock()
	if c, err := r.Cookie(cookieName); err == nil {
		delete(u.sessions, c.Value) // a new sign-in replaces this client's session
	}
	for k, s := range u.sessions { // forget sessions that have expired
		if now.Sub(s.last) >= u.cfg.SessionIdle {
			delete(u.sessions, k)
		}
	}
	u.sessions[id] = &session{who: who, last: now}
	u.mu.Unlock()
	// No Max-Age: the server ends the session after inactivity; the
	// cookie dies with the browser at the latest. Not Secure: the screen
	// talks plain HTTP over loopback.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	u.record(r.Context(), Action{Operator: who.Name, Role: who.Role, Action: ActSignIn, At: now})
	httpjson.Write(w, http.StatusOK, map[string]string{"operator": who.Name, "role": string(who.Role)})
}

func (u *UI) serveSignOut(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		u.mu.Lock()
		delete(u.sessions, c.Value)
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	u.record(r.Context(), Action{Operator: who.Name, Role: who.Role, Action: ActSignOut, At: u.cfg.Now()})
	httpjson.Write(w, http.StatusOK, map[string]string{"operator": ""})
}

// serveTouch keeps the session alive while the operator uses the screen.
func (u *UI) serveTouch(w http.ResponseWriter, r *http.Request) {
	who, ok := u.guard(w, r)
	if !ok {
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"operator": who.Name, "role": string(who.Role)})
}
