package outbound

import (
	"bytes"
	"io"
	"net/http"
)

// maxReasonBytes bounds a summary's reason in bytes too (maxReason counts
// runes): a partner's reason is quoted, never its body.
const maxReasonBytes = 200

// Summary is summarise for an answer already read (status, Content-Type
// and body): "HTTP 401 Unauthorized: invalid token", the partner's short
// reason at most, control characters replaced, never the body itself.
func Summary(status int, contentType string, body []byte) string {
	resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(bytes.NewReader(body))}
	return summarise(resp)
}
