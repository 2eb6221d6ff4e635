package payments

// IsRetryableCardCode reports whether a card error code is one a later try may get past (a
// processing error at the issuer, say), rather than a decline.
func IsRetryableCardCode(code string) bool { return retryableCardCodes[code] }

// IsNotFound reports whether err is the provider saying the object asked for does not exist
// (404, resource_missing).
func IsNotFound(err error) bool {
	pe, ok := AsError(err)
	return ok && (pe.HTTPStatus == 404 || pe.Code == "resource_missing")
}
