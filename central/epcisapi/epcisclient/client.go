// Package epcisclient is a small client of GS1's EPCIS 2.0 REST binding,
// written from its OpenAPI (REST Bindings/openapi.yaml of gs1/EPCIS) alone:
// capture documents and follow the capture job the 202's Location names,
// and read query results page by page by following the Link header's
// rel="next". It knows nothing of the server it talks to beyond that
// description; tests use it to hold central's binding to it.
package epcisclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Client talks to one EPCIS repository.
type Client struct {
	// Base is the repository's root, e.g. https://example.com/epcis/.
	Base *url.URL
	// Token is sent as a bearer token when set.
	Token string
	// HTTP does the requests (http.DefaultClient when nil).
	HTTP *http.Client
	// MaxPage caps the bytes of one answer read (default 256 MiB): a
	// page is held in memory, never more than one.
	MaxPage int64
}

// New returns a client of the repository at base.
func New(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("epcisclient: %q is not an http(s) URL", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &Client{Base: u, Token: token}, nil
}

// Problem is an RFC 7807 error body (RFC7807ProblemResponseBody).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// Error is an answer other than the one expected.
type Error struct {
	Status  int
	Problem Problem
}

func (e *Error) Error() string {
	return fmt.Sprintf("epcisclient: HTTP %d %s: %s", e.Status, e.Problem.Type, e.Problem.Title)
}

// CaptureJob is the CaptureJob schema.
type CaptureJob struct {
	CaptureID string    `json:"captureID"`
	CreatedAt time.Time `json:"createdAt"`
	Running   bool      `json:"running"`
	Success   bool      `json:"success"`
	Errors    []Problem `json:"errors"`
}

func (c *Client) do(ctx context.Context, method string, u *url.URL, body []byte, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("GS1-EPCIS-Version", "2.0")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

func (c *Client) read(resp *http.Response) ([]byte, error) {
	limit := c.MaxPage
	if limit <= 0 {
		limit = 256 << 20
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("epcisclient: answer larger than %d bytes", limit)
	}
	return b, err
}

func failure(resp *http.Response, body []byte) error {
	e := &Error{Status: resp.StatusCode}
	_ = json.Unmarshal(body, &e.Problem)
	return e
}

// Capture posts a document (contentType application/ld+json or
// application/xml) to /capture and returns the capture job's URL from the
// 202's Location.
func (c *Client) Capture(ctx context.Context, doc []byte, contentType string) (*url.URL, error) {
	resp, err := c.do(ctx, http.MethodPost, c.Base.ResolveReference(&url.URL{Path: "capture"}), doc, http.Header{"Content-Type": {contentType}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := c.read(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, failure(resp, body)
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("epcisclient: 202 without a usable Location: %w", err)
	}
	return loc, nil
}

// Job reads a capture job.
func (c *Client) Job(ctx context.Context, job *url.URL) (CaptureJob, error) {
	var j CaptureJob
	resp, err := c.do(ctx, http.MethodGet, job, nil, nil)
	if err != nil {
		return j, err
	}
	defer resp.Body.Close()
	body, err := c.read(resp)
	if err != nil {
		return j, err
	}
	if resp.StatusCode != http.StatusOK {
		return j, failure(resp, body)
	}
	return j, json.Unmarshal(body, &j)
}

// WaitJob polls a capture job every poll until it no longer runs (or ctx
// ends).
func (c *Client) WaitJob(ctx context.Context, job *url.URL, poll time.Duration) (CaptureJob, error) {
	for {
		j, err := c.Job(ctx, job)
		if err != nil || !j.Running {
			return j, err
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(poll):
		}
	}
}

var reLinkNext = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

// Pages reads path (relative to Base, e.g. "events?perPage=1000") and every
// page after it by the Link header's rel="next", handing each page's
// EPCISQueryDocument to fn; it returns the number of pages.
func (c *Client) Pages(ctx context.Context, path string, fn func(page []byte) error) (int, error) {
	next, err := c.Base.Parse(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for next != nil {
		resp, err := c.do(ctx, http.MethodGet, next, nil, http.Header{"Accept": {"application/ld+json"}})
		if err != nil {
			return n, err
		}
		body, err := c.read(resp)
		resp.Body.Close()
		if err != nil {
			return n, err
		}
		if resp.StatusCode != http.StatusOK {
			return n, failure(resp, body)
		}
		n++
		if err := fn(body); err != nil {
			return n, err
		}
		cur := next
		next = nil
		for _, l := range resp.Header.Values("Link") {
			if m := reLinkNext.FindStringSubmatch(l); m != nil {
				if next, err = cur.Parse(m[1]); err != nil {
					return n, fmt.Errorf("epcisclient: Link %q: %w", l, err)
				}
			}
		}
	}
	return n, nil
}

// EventIDs reads the eventIDs of an EPCISQueryDocument's events.
func EventIDs(doc []byte) ([]string, error) {
	var d struct {
		Type      string `json:"type"`
		EPCISBody struct {
			QueryResults struct {
				ResultsBody struct {
					EventList []struct {
						EventID string `json:"eventID"`
					} `json:"eventList"`
				} `json:"resultsBody"`
			} `json:"queryResults"`
		} `json:"epcisBody"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("epcisclient: not an EPCISQueryDocument: %w", err)
	}
	if d.Type != "EPCISQueryDocument" {
		return nil, errors.New("epcisclient: not an EPCISQueryDocument")
	}
	ids := make([]string, len(d.EPCISBody.QueryResults.ResultsBody.EventList))
	for i, e := range d.EPCISBody.QueryResults.ResultsBody.EventList {
		ids[i] = e.EventID
	}
	return ids, nil
}
