// Package procs starts and stops the child processes of the tools that run Giveathon as
// separate programs (chaos, bench): each dies with its parent and logs to a file.
package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a child process of the run, with its output in a log file. It dies with the chaos
// program (parent-death signal), so an interrupted run leaves nothing behind.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	done chan struct{}
}

// Start starts bin with args and env, its output appended to logPath.
func Start(name, bin string, args, env []string, logPath string) (*Proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Kill sends SIGKILL, as a crash would, and waits for the process to go.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to stop (SIGTERM) and kills it after the timeout.
func (p *Proc) Stop(timeout time.Duration) {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitHTTP polls url until it answers 200, the process exits, or the timeout passes.
func WaitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited before it was ready", p.Name)
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready at %s within %s", p.Name, url, timeout)
}

// FreePort returns a TCP port free on loopback a moment ago.
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// CleanEnv is the environment child processes start from: the machine's, without any
// Giveathon settings the caller may have exported.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "SANDBOX_"), strings.HasPrefix(name, "STRIPE_"), strings.HasPrefix(name, "MP_"):
			continue
		case name == "DATABASE_URL", name == "JOBS_DATABASE_URL", name == "SMTP_URL", name == "HTTP_ADDR", name == "ENV", name == "DATA_DIR":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// GoTool returns the path of a tool pinned in go.mod, built if needed.
func GoTool(name string) (string, error) {
	out, err := exec.Command("go", "tool", "-n", name).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go tool -n %s: %s", name, ee.Stderr)
		}
		return "", fmt.Errorf("go tool -n %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// StatFields returns the fields of /proc/PID/stat that follow the command name, which may hold
// spaces and parentheses (so they are read after its last ')'): [0] is the state, [1] the
// parent's pid, [11] and [12] the user and system CPU time in clock ticks. It is nil when the
// process is gone.
func StatFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// MemoryMB returns a field of the process's /proc/PID/status in MB: "VmRSS" (resident now)
// or "VmHWM" (its peak).
func MemoryMB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
