package d360

// NetHTTPOnly makes c send every request with net/http, as it does for a
// caller's client or a proxy, so that tests can run on both ways of
// sending plain http.
func NetHTTPOnly(c *Client) {
	c.h1 = nil
	c.http.Store(c.std)
}

// Path names the way c's sends go now: fasthttp, net/http, net/http h2.
func Path(c *Client) string { return c.path() }
