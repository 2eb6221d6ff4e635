package sandbox

import (
	"net/http"
)

func (c *call) getCharge() (any, *stripeError) {
	ch := c.s.charges[c.id]
	if ch == nil {
		return nil, errNoSuch(http.StatusNotFound, "charge", c.id, "id")
	}
	return ch, nil
}
