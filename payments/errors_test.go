package payments

import (
	"errors"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	err := error(&Error{Kind: Retryable, Code: "timeout"})
	if !IsRetryable(errors.Join(errors.New("wrapped"), err)) {
		t.Fatal("a wrapped retryable error is not retryable")
	}
	if IsRetryable(&Error{Kind: Declined}) || IsRetryable(errors.New("plain")) {
		t.Fatal("declined or unclassified errors are not retryable")
	}
	for k, want := range map[ErrorKind]string{Permanent: "permanent", Declined: "declined", AuthenticationRequired: "authentication_required", Retryable: "retryable"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}
