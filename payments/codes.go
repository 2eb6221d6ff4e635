package payments

// IsRetryableCardCode reports whether a card error code is one a later try may get past (a
// processing error at the issuer, say), rather than a decline.
func IsRetryableCardCode(code string) bool { return retryableCardCodes[code] }
