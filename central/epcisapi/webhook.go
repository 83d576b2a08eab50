package epcisapi

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/serialine/serialine/central/store/master"
)

// webhookClient is the client for one delivery to dest: through the
// outbound policy's dialer (the address checked at connect time, so a
// name that resolves to loopback or a metadata address is refused however
// it resolved when the subscription was made), TLS with WebhookCACert or
// the system's roots, no proxy and no redirects. A destination stored
// before these checks is checked again here.
func (h *Handler) webhookClient(dest string) (*http.Client, error) {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("dest %q is not an https URL", dest)
	}
	if err := h.Outbound.CheckURL(dest); err != nil {
		return nil, fmt.Errorf("dest: refused by central's outbound policy: %w", err)
	}
	hc, err := h.Outbound.Client(master.PartnerEndpoint{URL: dest, CACert: h.WebhookCACert}, webhookWait)
	if err != nil {
		return nil, fmt.Errorf("webhook client: %w", err)
	}
	return hc, nil
}
