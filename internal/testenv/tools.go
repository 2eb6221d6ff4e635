package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

var toolPaths sync.Map // tool name -> func() (string, error)

// toolBinary finds a tool pinned in go.mod's tool block once per process, built by
// `go tool -n` if needed, unless the environment variable override names a binary.
func toolBinary(name, override string) (string, error) {
	if p := os.Getenv(override); p != "" {
		return p, nil
	}
	find, _ := toolPaths.LoadOrStore(name, sync.OnceValues(func() (string, error) {
		// `go test` puts its own toolchain first on PATH.
		goBin, err := exec.LookPath("go")
		if err != nil {
			return "", fmt.Errorf("find the go command: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "tool", "-n", name)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go tool -n %s: %v: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
		}
		path := strings.TrimSpace(string(out))
		if path == "" {
			return "", errors.New("go tool -n " + name + " printed no path")
		}
		return path, nil
	}))
	return find.(func() (string, error))()
}
