// Package pgaf runs a pg_auto_failover formation on loopback: a monitor and two PostgreSQL
// nodes (a primary and its synchronous standby) in one folder, as the postgres user, with the
// monitor's health checks tightened so that losing the primary costs seconds rather than a
// minute. The failover tests and `make chaos-ha` drive it: a planned switchover, the primary
// killed (its pg_autoctl keeper and postmaster, SIGKILL, as when its machine dies) and later
// rejoined. Every process it starts stops with Stop, and with this process if it dies.
//
// It needs pg_auto_failover: Debian's pg-auto-failover-cli and postgresql-NN-auto-failover,
// which scripts/ensure-pg-auto-failover.sh installs.
package pgaf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/giveathon/giveathon/db"
	"github.com/giveathon/giveathon/internal/procs"
	"github.com/jackc/pgx/v5"
)

// MonitorSettings are the monitor's health-check settings: a primary that stops answering is
// considered unhealthy after 5 s (defaults: 20 s, 10 s retries, 20 s) and demoted after
// 10 s (default 30 s). The nodes' network_partition_timeout goes with them (NodeTimeouts).
var MonitorSettings = map[string]string{
	"pgautofailover.health_check_period":               "1000",
	"pgautofailover.health_check_timeout":              "1000",
	"pgautofailover.health_check_retry_delay":          "500",
	"pgautofailover.node_considered_unhealthy_timeout": "5000",
	"pgautofailover.primary_demote_timeout":            "10000",
}

// NodeTimeouts are set in each node's pg_autoctl configuration: a primary that cannot reach
// the monitor nor its standby for 5 s (default 20 s) demotes itself.
var NodeTimeouts = map[string]string{"timeout.network_partition_timeout": "5"}

// Config says where and how to run the formation.
type Config struct {
	// Dir holds everything: the monitor's and the nodes' data, pg_autoctl's configuration and
	// state, and the logs (monitor.log, node1.log, node2.log; PostgreSQL's own in <pgdata>/log).
	// The postgres user must be able to reach it (pg_autoctl's services do not keep the
	// capability the embedded server uses for that). Empty: a new folder in the system's
	// temporary folder, removed by Stop unless Keep is set.
	Dir string
	// Keep keeps the folder Start made when Dir was empty.
	Keep bool
	// Database is the database the nodes hold ("giveathon" when empty).
	Database string
	// Settings are extra server settings of the data nodes (fsync=off for tests, say).
	Settings map[string]string
}

// Cluster is a running monitor and two data nodes.
type Cluster struct {
	cfg    Config
	cred   *syscall.Credential
	binDir string
	env    []string
	// Monitor is the pg_auto_failover monitor; Nodes are the data nodes, node1 and node2.
	Monitor *Node
	Nodes   []*Node
	url     string
	// made: Stop removes the folder Start made.
	made bool
}

// Node is one pg_autoctl service (monitor or keeper) and the PostgreSQL it runs.
type Node struct {
	Name   string
	Port   string
	PGData string
	log    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// NodeState is a data node's line of `pg_autoctl show state`.
type NodeState struct {
	Name     string `json:"nodename"`
	Port     int    `json:"nodeport"`
	Health   int    `json:"health"`
	Current  string `json:"current_group_state"`
	Assigned string `json:"assigned_group_state"`
}

// Available reports whether pg_auto_failover can run here: nil, or what is missing and how
// to install it.
func Available() error {
	binDir, err := db.FindPostgresBinDir()
	if err != nil {
		return err
	}
	return available(binDir)
}

func available(binDir string) error {
	major := filepath.Base(filepath.Dir(binDir))
	hint := fmt.Sprintf("install it with scripts/ensure-pg-auto-failover.sh (Debian: apt-get install -y postgresql-%s-auto-failover pg-auto-failover-cli)", major)
	if _, err := exec.LookPath("pg_autoctl"); err != nil {
		return fmt.Errorf("pg_autoctl not found: %s", hint)
	}
	if _, err := os.Stat(filepath.Join("/usr/share/postgresql", major, "extension", "pgautofailover.control")); err != nil {
		return fmt.Errorf("the pgautofailover extension for PostgreSQL %s is not installed: %s", major, hint)
	}
	return nil
}

// Start creates the monitor and the two nodes in cfg.Dir, starts them and waits until node1
// is the primary and node2 its streaming secondary.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	if cfg.Database == "" {
		cfg.Database = "giveathon"
	}
	c := &Cluster{cfg: cfg}
	if c.binDir, err = db.FindPostgresBinDir(); err != nil {
		return nil, err
	}
	if err := available(c.binDir); err != nil {
		return nil, err
	}
	if c.cred, err = db.RunAsPostgres(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		if c.cfg.Dir, err = os.MkdirTemp("", "giveathon-pgaf-"); err != nil {
			return nil, err
		}
		c.made = !cfg.Keep
	} else if c.cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return nil, err
	}
	if err := reachable(filepath.Dir(c.cfg.Dir), c.cred); err != nil {
		return nil, err
	}
	for _, sub := range []string{"", "config", "share", "run"} {
		if err := os.MkdirAll(filepath.Join(c.cfg.Dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	if err := db.ChownTree(c.cfg.Dir, c.cred); err != nil {
		return nil, fmt.Errorf("hand %s to the postgres user: %w", c.cfg.Dir, err)
	}
	// pg_autoctl keeps its configuration and state under the XDG folders: the formation's own.
	c.env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(c.cfg.Dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(c.cfg.Dir, "share"), "XDG_RUNTIME_DIR="+filepath.Join(c.cfg.Dir, "run"),
		"HOME="+c.cfg.Dir, "PATH="+c.binDir+":"+os.Getenv("PATH"))
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if err := c.startMonitor(ctx); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	for i := 1; i <= 2; i++ {
		if err := c.startNode(ctx, fmt.Sprintf("node%d", i)); err != nil {
			return nil, fmt.Errorf("node%d: %w", i, err)
		}
	}
	if _, err := c.WaitStable(ctx); err != nil {
		return nil, err
	}
	out, err := c.autoctl(ctx, "show", "uri", "--pgdata", c.Monitor.PGData, "--formation", "default")
	if err != nil {
		return nil, err
	}
	if c.url, err = clientURL(strings.TrimSpace(string(out))); err != nil {
		return nil, err
	}
	return c, nil
}

// reachable checks that cred's user may enter dir: every folder on the way lets others
// through, or is its own.
func reachable(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm()&0o001 == 0 && !(ok && sys.Uid == cred.Uid) {
			return fmt.Errorf("the postgres user cannot enter %s (mode %v): put the formation in a folder it can reach, or leave pgaf.Config.Dir empty", d, st.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// Dir is the folder that holds the formation's data and logs.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// clientURL is the formation's URI (postgres://h1:p1,h2:p2/db?target_session_attrs=read-write)
// as the postgres user, without TLS (the nodes run without: loopback only).
func clientURL(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || !strings.Contains(u.Host, ",") || u.Query().Get("target_session_attrs") != "read-write" {
		return "", fmt.Errorf("pg_autoctl show uri gave %q, not a multi-host URI with target_session_attrs=read-write", uri)
	}
	u.User = url.User("postgres")
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (c *Cluster) newNode(name string) (*Node, error) {
	port, err := procs.FreePort()
	if err != nil {
		return nil, err
	}
	return &Node{Name: name, Port: port, PGData: filepath.Join(c.cfg.Dir, name), log: filepath.Join(c.cfg.Dir, name+".log")}, nil
}

func (c *Cluster) startMonitor(ctx context.Context) error {
	m, err := c.newNode("monitor")
	if err != nil {
		return err
	}
	c.Monitor = m
	if _, err := c.autoctl(ctx, "create", "monitor", "--pgdata", m.PGData, "--pgport", m.Port, "--pgctl", filepath.Join(c.binDir, "pg_ctl"),
		"--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl"); err != nil {
		return err
	}
	// pg_autoctl starts the monitor's server with -h <listen_addresses>: loopback only.
	if _, err := c.autoctl(ctx, "config", "set", "--pgdata", m.PGData, "postgresql.listen_addresses", "127.0.0.1"); err != nil {
		return err
	}
	settings := map[string]string{"shared_buffers": "32MB"}
	for k, v := range MonitorSettings {
		settings[k] = v
	}
	if err := c.addSettings(m.PGData, settings); err != nil {
		return err
	}
	if err := c.run(m); err != nil {
		return err
	}
	return waitFor(ctx, m, time.Minute, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, c.MonitorURL())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// startNode creates a data node (the first becomes the primary, the second a standby
// cloned from it) and runs it.
func (c *Cluster) startNode(ctx context.Context, name string) error {
	n, err := c.newNode(name)
	if err != nil {
		return err
	}
	c.Nodes = append(c.Nodes, n)
	if _, err := c.autoctl(ctx, "create", "postgres", "--pgdata", n.PGData, "--pgport", n.Port, "--pgctl", filepath.Join(c.binDir, "pg_ctl"),
		"--listen", "127.0.0.1", "--hostname", "127.0.0.1", "--name", name, "--dbname", c.cfg.Database,
		"--auth", "trust", "--no-ssl", "--monitor", c.MonitorURL()); err != nil {
		return err
	}
	for k, v := range NodeTimeouts {
		if _, err := c.autoctl(ctx, "config", "set", "--pgdata", n.PGData, k, v); err != nil {
			return err
		}
	}
	// pg_autoctl sizes the server for the whole machine (shared_buffers a quarter of it):
	// three servers share this one.
	// A killed primary that cannot be rewound rejoins by pg_basebackup, which waits for a
	// spread checkpoint: at the default checkpoint_timeout (5 min) that is minutes, here
	// seconds.
	settings := map[string]string{"shared_buffers": "128MB", "max_connections": "200",
		"checkpoint_timeout": "30s", "checkpoint_completion_target": "0.3"}
	for k, v := range c.cfg.Settings {
		settings[k] = v
	}
	if err := c.addSettings(n.PGData, settings); err != nil {
		return err
	}
	if err := c.run(n); err != nil {
		return err
	}
	return waitFor(ctx, n, time.Minute, func(ctx context.Context) error {
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			if s.Name == name && s.Current == s.Assigned && (s.Current == "single" || s.Current == "secondary" || s.Current == "primary") {
				return nil
			}
		}
		return fmt.Errorf("not running yet: %v", st)
	})
}

// addSettings writes settings to <pgdata>/giveathon.conf, included last by postgresql.conf
// (after pg_autoctl's own postgresql-auto-failover.conf, which it rewrites at will).
func (c *Cluster) addSettings(pgdata string, settings map[string]string) error {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by Giveathon's internal/pgaf launcher.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, settings[k])
	}
	if err := os.WriteFile(filepath.Join(pgdata, "giveathon.conf"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	conf := filepath.Join(pgdata, "postgresql.conf")
	old, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	const include = "include_if_exists 'giveathon.conf'\n"
	if !bytes.Contains(old, []byte(include)) {
		if err := os.WriteFile(conf, append(old, []byte("\n"+include)...), 0o600); err != nil {
			return err
		}
	}
	return db.ChownTree(pgdata, c.cred)
}

// autoctl runs one pg_autoctl command as the postgres user and returns its standard output.
func (c *Cluster) autoctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "pg_autoctl", args...)
	cmd.Env = c.env
	cmd.Dir = "/"
	cmd.SysProcAttr = db.PostgresProcAttr(c.cred)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pg_autoctl %s: %w: %s", strings.Join(args[:min(2, len(args))], " "), err, lastLines(stderr.String(), 30))
	}
	return stdout.Bytes(), nil
}

// run starts `pg_autoctl run` for n, its output appended to n's log.
func (c *Cluster) run(n *Node) error {
	log, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("pg_autoctl", "run", "--pgdata", n.PGData)
	cmd.Env = c.env
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = db.PostgresProcAttr(c.cred)
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start pg_autoctl run for %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	return nil
}

// running reports whether n's pg_autoctl runs.
func (n *Node) running() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill ends n's pg_autoctl and everything it started with SIGKILL, as a lost machine would:
// its process group, and its PostgreSQL's children. Each of those calls setsid, so the group
// holds only the postmaster; a backend that outlived it went on answering its connection (an
// acknowledged write on the "killed" primary). The postmaster is stopped first, so that it
// forks nothing between the listing of its children and their end. kill returns when they
// have all ended.
func (n *Node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	var children []int
	if pm := db.RunningPostmaster(n.PGData); pm != 0 {
		_ = syscall.Kill(pm, syscall.SIGSTOP)
		children = childrenOf(pm)
		for _, pid := range children {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pm, syscall.SIGKILL)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range children {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(child); ok && ppid == pid {
			kids = append(kids, child)
		}
	}
	return kids
}

// alive reports whether pid runs (a zombie, dead and not yet reaped, does not).
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// procStat reads pid's parent and state from /proc/pid/stat; ok is false when it is gone.
func procStat(pid int) (ppid int, state string, ok bool) {
	f := procs.StatFields(pid)
	if len(f) < 2 {
		return 0, "", false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, f[0], err == nil
}

// stop asks n's pg_autoctl to stop (SIGINT: a fast shutdown of its PostgreSQL), and kills
// its process group if it has not within the timeout.
func (n *Node) stop(timeout time.Duration) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-done:
		// Whatever it left behind (a postmaster whose keeper was killed) goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
	}
	n.kill()
	return fmt.Errorf("%s did not stop within %s: killed", n.Name, timeout)
}

// waitFor polls check until it succeeds, n's pg_autoctl exits, or timeout passes.
func waitFor(ctx context.Context, n *Node, timeout time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		checkCtx, cancelCheck := context.WithTimeout(ctx, 5*time.Second)
		err := check(checkCtx)
		cancelCheck()
		if err == nil {
			return nil
		}
		if n != nil && !n.running() {
			return fmt.Errorf("pg_autoctl of %s exited (see %s): %w", n.Name, n.log, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// URL is the formation's multi-host connection string, from `pg_autoctl show uri`:
// postgres://postgres@127.0.0.1:P1,127.0.0.1:P2/giveathon?target_session_attrs=read-write.
func (c *Cluster) URL() string { return c.url }

// MonitorURL is the monitor's connection string (the autoctl_node role).
func (c *Cluster) MonitorURL() string {
	return "postgres://autoctl_node@127.0.0.1:" + c.Monitor.Port + "/pg_auto_failover?sslmode=disable"
}

// State is the monitor's view of the data nodes (`pg_autoctl show state --json`).
func (c *Cluster) State(ctx context.Context) ([]NodeState, error) {
	out, err := c.autoctl(ctx, "show", "state", "--pgdata", c.Monitor.PGData, "--json")
	if err != nil {
		return nil, err
	}
	var st []NodeState
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("pg_autoctl show state: %w: %.200s", err, out)
	}
	return st, nil
}

func (c *Cluster) node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// WaitStable waits until one node is the primary and the other its secondary, both as the
// monitor assigned, and returns the primary.
func (c *Cluster) WaitStable(ctx context.Context) (*Node, error) {
	var primary *Node
	err := waitFor(ctx, nil, 2*time.Minute, func(ctx context.Context) error {
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		var p, s string
		for _, n := range st {
			switch {
			case n.Current != n.Assigned:
			case n.Current == "primary":
				p = n.Name
			case n.Current == "secondary":
				s = n.Name
			}
		}
		if p == "" || s == "" || len(st) != len(c.Nodes) {
			return fmt.Errorf("not stable: %v", st)
		}
		primary = c.node(p)
		return nil
	})
	return primary, err
}

// WaitWritable waits until a node other than not is the primary, or the primary taking writes
// alone (wait_primary: its standby is gone), as the monitor assigned, and returns it.
func (c *Cluster) WaitWritable(ctx context.Context, not *Node) (*Node, error) {
	var primary *Node
	err := waitFor(ctx, nil, 2*time.Minute, func(ctx context.Context) error {
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		for _, n := range st {
			if n.Current == n.Assigned && (n.Current == "primary" || n.Current == "wait_primary") && (not == nil || n.Name != not.Name) {
				primary = c.node(n.Name)
				return nil
			}
		}
		return fmt.Errorf("no primary yet: %v", st)
	})
	return primary, err
}

// Switchover asks the monitor for a planned switchover (`pg_autoctl perform switchover`)
// and waits until the former secondary is the primary and the former primary its
// secondary; it returns the new primary.
func (c *Cluster) Switchover(ctx context.Context) (*Node, error) {
	before, err := c.WaitStable(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.autoctl(ctx, "perform", "switchover", "--pgdata", c.Monitor.PGData, "--formation", "default"); err != nil {
		return nil, err
	}
	after, err := c.WaitStable(ctx)
	if err == nil && after == before {
		err = fmt.Errorf("switchover: %s is still the primary", after.Name)
	}
	return after, err
}

// KillPrimary kills the primary as a machine failure would: its pg_autoctl keeper and its
// PostgreSQL (postmaster and backends), all with SIGKILL. It returns the node killed; the
// monitor then promotes the standby (see WaitWritable), and Rejoin brings the node back.
func (c *Cluster) KillPrimary(ctx context.Context) (*Node, error) {
	primary, err := c.WaitStable(ctx)
	if err != nil {
		return nil, err
	}
	primary.kill()
	return primary, nil
}

// Rejoin starts a killed node's pg_autoctl again: it rejoins as the standby of the new
// primary (rewinding what it had not replicated). It waits until the pair is stable again.
func (c *Cluster) Rejoin(ctx context.Context, n *Node) error {
	if n.running() {
		return fmt.Errorf("%s is running", n.Name)
	}
	if err := c.run(n); err != nil {
		return err
	}
	_, err := c.WaitStable(ctx)
	return err
}

// Stop stops the data nodes, then the monitor (each a fast shutdown, killed after 30 s).
func (c *Cluster) Stop() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(30 * time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if c.Monitor != nil {
		errs = append(errs, c.Monitor.stop(30*time.Second))
	}
	if c.made {
		errs = append(errs, os.RemoveAll(c.cfg.Dir))
	}
	return errors.Join(errs...)
}

// Logs returns the last lines of each pg_autoctl log, for a failure's message.
func (c *Cluster) Logs(lines int) string {
	var b strings.Builder
	for _, n := range append([]*Node{c.Monitor}, c.Nodes...) {
		if n == nil {
			continue
		}
		out, _ := os.ReadFile(n.log)
		fmt.Fprintf(&b, "--- %s (%s)\n%s\n", n.Name, n.log, lastLines(string(out), lines))
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Require skips the test when pg_auto_failover is not installed, or fails it under CI (CI
// set), where make test installs it: there a missing pg_autoctl must not pass for a test that
// ran.
func Require(t testing.TB) {
	t.Helper()
	err := Available()
	switch {
	case err == nil:
	case os.Getenv("CI") != "":
		t.Fatalf("pg_auto_failover is not installed, and CI needs it (scripts/ensure-pg-auto-failover.sh): %v", err)
	default:
		t.Skipf("pg_auto_failover is not installed (make deps-ha): %v", err)
	}
}
