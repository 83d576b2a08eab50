package auth

import (
	"errors"
)

// ErrInvalidToken is returned (wrapped) for a token that is malformed,
// unknown or revoked. Callers must not tell these apart to the client.
var ErrInvalidToken = errors.New("invalid token")

// Error codes of the error answers of this package, written as
// httpjson.Error bodies (the API answers its own errors in the same shape).
const (
	CodeUnauthorized = "unauthorized" // no valid credentials: 401
	CodeForbidden    = "forbidden"    // authenticated, but the role may not: 403
	CodeCSRF         = "csrf"         // a form post without a valid CSRF token, or from another site: 403
	CodeUnavailable  = "unavailable"  // credentials could not be checked (database down): 503
)
