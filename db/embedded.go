package db

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// EmbeddedDatabase is the name of the database the embedded server holds Giveathon's data in.
const EmbeddedDatabase = "giveathon"

// embeddedUser is the database superuser initdb creates; connections are local (socket) only.
const embeddedUser = "giveathon"

// embeddedPort names the socket file (.s.PGSQL.<port>); the server listens on no TCP port.
const embeddedPort = 5432

// ErrNoPostgres says the machine has no PostgreSQL server binaries.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found: install them with `apt-get install -y postgresql` (Debian), or set DATABASE_URL to an existing database")

// EmbeddedConfig says where and how to run a private PostgreSQL.
type EmbeddedConfig struct {
	// DataDir is the folder Giveathon owns; the cluster lives in DataDir/postgres.
	DataDir string
	// BinDir holds initdb and postgres; empty: found with FindPostgresBinDir.
	BinDir string
	// Settings are extra server settings (-c name=value), e.g. fsync=off for tests.
	Settings map[string]string
	Logger   *slog.Logger
}

// Embedded is a private PostgreSQL server started from the machine's own binaries.
type Embedded struct {
	cfg      EmbeddedConfig
	pgDir    string
	sockDir  string
	lock     *os.File
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	cleanups []func()
}

// FindPostgresBinDir finds the folder that holds initdb and postgres: pg_config --bindir,
// then /usr/lib/postgresql/<newest>/bin, then PATH.
func FindPostgresBinDir() (string, error) {
	return findBinDir("pg_config", "/usr/lib/postgresql/*/bin")
}

func findBinDir(pgConfig, glob string) (string, error) {
	if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && hasServerBinaries(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// StartEmbedded initialises the cluster on first use, starts the server on a socket inside the
// data folder and creates the Giveathon database. The data folder is locked while it runs: a
// second StartEmbedded on the same folder fails with a message that says it is in use.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (_ *Embedded, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BinDir == "" {
		if cfg.BinDir, err = FindPostgresBinDir(); err != nil {
			return nil, err
		}
	} else if !hasServerBinaries(cfg.BinDir) {
		return nil, fmt.Errorf("%s holds no initdb and postgres: %w", cfg.BinDir, ErrNoPostgres)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data folder %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	e := &Embedded{cfg: cfg, pgDir: filepath.Join(dataDir, "postgres"), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			e.release()
		}
	}()
	if err := e.lockDataDir(dataDir); err != nil {
		return nil, err
	}
	cred, err := runAsCredential()
	if err != nil {
		return nil, err
	}
	if err := e.initdb(ctx, cred); err != nil {
		return nil, err
	}
	if err := e.start(ctx, dataDir, cred); err != nil {
		return nil, err
	}
	if err := e.createDatabase(ctx); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

// lockDataDir takes an exclusive lock on DataDir/giveathon.lock for the life of the process.
func (e *Embedded) lockDataDir(dataDir string) error {
	path := filepath.Join(dataDir, "giveathon.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("data folder %s is in use by another giveathon process (pid %s): stop it, or set DATA_DIR to another folder", dataDir, strings.TrimSpace(string(owner)))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	e.lock = f
	return nil
}

// runAsCredential returns the unprivileged user to run PostgreSQL as when we are root (it
// refuses to run as root), or nil.
func runAsCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// RunAsPostgres returns the unprivileged user to run PostgreSQL's programs as when this process
// is root (PostgreSQL refuses to run as root), or nil: for launchers of other PostgreSQL
// set-ups (the pg_auto_failover formation of the failover tests), as for the embedded server.
func RunAsPostgres() (*syscall.Credential, error) { return runAsCredential() }

// PostgresProcAttr is the SysProcAttr of a PostgreSQL program started as cred (nil: as this
// process): in a process group of its own, interrupted when this process dies.
func PostgresProcAttr(cred *syscall.Credential) *syscall.SysProcAttr { return procAttr(cred) }

// ChownTree hands dir and everything in it to cred's user (nothing when cred is nil).
func ChownTree(dir string, cred *syscall.Credential) error { return chownTree(dir, cred) }

// procAttr makes a child run as cred; CAP_DAC_READ_SEARCH lets it reach a data folder below
// directories only root may enter (a private temporary folder, say) without changing them.
func procAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	if cred != nil {
		attr.Credential = cred
		attr.AmbientCaps = []uintptr{capDacReadSearch}
	}
	return attr
}

const capDacReadSearch = 2 // CAP_DAC_READ_SEARCH, linux/capability.h

func chownTree(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
}

// initdb creates the cluster on first use, in a side folder renamed into place once complete,
// so an interrupted first start leaves nothing half made.
func (e *Embedded) initdb(ctx context.Context, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(e.pgDir, "PG_VERSION")); err == nil {
		if cred != nil {
			if st, err := os.Stat(e.pgDir); err == nil {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != cred.Uid {
					return chownTree(e.pgDir, cred)
				}
			}
		}
		return nil
	}
	if _, err := os.Stat(e.pgDir); err == nil {
		return fmt.Errorf("%s exists but holds no PostgreSQL cluster: move it away or set DATA_DIR to another folder", e.pgDir)
	}
	start := time.Now()
	tmp := e.pgDir + ".init"
	_ = os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := chownTree(tmp, cred); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", tmp, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(e.cfg.BinDir, "initdb"),
		"-D", tmp, "-U", embeddedUser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = procAttr(cred)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("initdb: %w: %s", err, lastLines(string(out), 5))
	}
	if err := os.Rename(tmp, e.pgDir); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	e.cfg.Logger.Info("initialised embedded PostgreSQL", "dir", e.pgDir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// earlierServerWait is how long a start waits for an earlier run's server to stop.
const earlierServerWait = time.Minute

// waitForEarlierServer waits, up to limit, for a PostgreSQL server still running on the
// cluster to stop. The data folder's lock is ours, so no giveathon process owns that server:
// its own died (killed, or crashed) and its death signal told the server to stop, which takes
// a shutdown checkpoint first, seconds on a busy cluster. A supervisor that restarts giveathon
// at once would otherwise see it exit, the folder in use. A server that does not stop within
// limit was started by other hands: the start then fails, saying the folder is in use.
func (e *Embedded) waitForEarlierServer(ctx context.Context, limit time.Duration) {
	pid := RunningPostmaster(e.pgDir)
	if pid == 0 {
		return
	}
	e.cfg.Logger.Info("waiting for the PostgreSQL server of an earlier run to stop", "pid", pid, "dir", e.pgDir)
	deadline := time.Now().Add(limit)
	for RunningPostmaster(e.pgDir) == pid && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RunningPostmaster returns the pid that pgDir's postmaster.pid names when that process still
// runs and is a PostgreSQL server (a stale file's pid may belong to another process by now), or 0.
func RunningPostmaster(pgDir string) int {
	b, err := os.ReadFile(filepath.Join(pgDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return 0
	}
	return pid
}

func (e *Embedded) start(ctx context.Context, dataDir string, cred *syscall.Credential) error {
	// A Unix socket path is limited to 107 bytes; a deep data folder gets a short socket folder.
	e.sockDir = e.pgDir
	if len(e.sockDir)+len("/.s.PGSQL.5432.lock") > 100 {
		dir, err := os.MkdirTemp("", "giveathon-pg-")
		if err != nil {
			return fmt.Errorf("create socket folder: %w", err)
		}
		e.cleanups = append(e.cleanups, func() { os.RemoveAll(dir) })
		if err := chownTree(dir, cred); err != nil {
			return err
		}
		e.sockDir = dir
	}
	settings := writeHeavySettings(machineMemory(), hasLZ4(e.cfg.BinDir))
	for k, v := range map[string]string{
		"listen_addresses":        "",
		"unix_socket_directories": e.sockDir,
		"port":                    strconv.Itoa(embeddedPort),
		"max_connections":         "200",
		"logging_collector":       "off",
	} {
		settings[k] = v
	}
	for k, v := range e.cfg.Settings {
		settings[k] = v
	}
	args := []string{"-D", e.pgDir}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logPath := filepath.Join(dataDir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", logPath, err)
	}
	defer logFile.Close()
	logStart, _ := logFile.Seek(0, 2)

	e.waitForEarlierServer(ctx, earlierServerWait)
	e.cmd = exec.Command(filepath.Join(e.cfg.BinDir, "postgres"), args...)
	e.cmd.SysProcAttr = procAttr(cred)
	e.cmd.Dir = "/"
	e.cmd.Stdout, e.cmd.Stderr = logFile, logFile
	began := time.Now()
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		e.exitErr = e.cmd.Wait()
		close(e.exited)
	}()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case <-e.exited:
			out := readFrom(logPath, logStart)
			if strings.Contains(out, "postmaster.pid") && strings.Contains(out, "already exists") {
				return fmt.Errorf("data folder %s is in use: a PostgreSQL server already runs on %s (stop it first): %s", dataDir, e.pgDir, lastLines(out, 2))
			}
			return fmt.Errorf("postgres exited while starting (%v): %s (full log: %s)", e.exitErr, lastLines(out, 3), logPath)
		case <-ctx.Done():
			_ = e.Stop()
			return ctx.Err()
		case <-deadline.C:
			_ = e.Stop()
			return fmt.Errorf("postgres did not accept connections within 60s: %s", lastLines(readFrom(logPath, logStart), 3))
		case <-time.After(50 * time.Millisecond):
		}
		conn, err := pgx.Connect(ctx, e.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			e.cfg.Logger.Info("embedded PostgreSQL started", "dir", e.pgDir, "pid", e.cmd.Process.Pid, "took", time.Since(began).Round(time.Millisecond))
			return nil
		}
	}
}

func (e *Embedded) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to embedded PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", EmbeddedDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{EmbeddedDatabase}.Sanitize()); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	}
	return nil
}

// StartReplica makes a streaming standby of the running server in dataDir (a base backup
// with `pg_basebackup -R`, which writes the standby's connection to this server) and starts
// it there with this server's settings: a read replica, for tests. The server must keep the
// default wal_level (replica); initdb's pg_hba.conf lets local connections replicate.
func (e *Embedded) StartReplica(ctx context.Context, dataDir string) (*Embedded, error) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("replica data folder %q: %w", dataDir, err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create replica data folder: %w", err)
	}
	cred, err := runAsCredential()
	if err != nil {
		return nil, err
	}
	pgDir := filepath.Join(dataDir, "postgres")
	if _, err := os.Stat(pgDir); err == nil {
		return nil, fmt.Errorf("%s exists: a replica is made in an empty folder", pgDir)
	}
	// Made aside and renamed into place once complete, as initdb's cluster is.
	tmp := pgDir + ".init"
	_ = os.RemoveAll(tmp)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := chownTree(tmp, cred); err != nil {
		return nil, fmt.Errorf("hand %s to the postgres user: %w", tmp, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(e.cfg.BinDir, "pg_basebackup"),
		"-d", e.URL("postgres"), "-D", tmp, "-R", "-X", "stream", "-c", "fast", "--no-sync")
	cmd.SysProcAttr = procAttr(cred)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("pg_basebackup: %w: %s", err, lastLines(string(out), 5))
	}
	// The server's socket lives in its data folder: its lock file came along, and would make
	// the replica think the folder's socket is taken.
	locks, _ := filepath.Glob(filepath.Join(tmp, ".s.PGSQL.*"))
	for _, f := range locks {
		_ = os.Remove(f)
	}
	if err := os.Rename(tmp, pgDir); err != nil {
		return nil, fmt.Errorf("move the base backup into place: %w", err)
	}
	cfg := e.cfg
	cfg.DataDir = dataDir
	return StartEmbedded(ctx, cfg)
}

// URL returns a connection string for the named database on the embedded server.
func (e *Embedded) URL(database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", e.sockDir, embeddedPort, embeddedUser, database)
}

// Dir returns the cluster's folder.
func (e *Embedded) Dir() string { return e.pgDir }

// Kill stops the server at once, as a crash would (SIGQUIT: immediate shutdown, recovery on
// the next start). For tests of what survives.
func (e *Embedded) Kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Signal(syscall.SIGQUIT)
		<-e.exited
	}
}

// Restart starts the server again on the same data after Kill or Stop.
func (e *Embedded) Restart(ctx context.Context) error {
	e.exited = make(chan struct{})
	cred, err := runAsCredential()
	if err != nil {
		return err
	}
	return e.start(ctx, filepath.Dir(e.pgDir), cred)
}

// Stop shuts the server down (fast shutdown: open sessions are ended, data is flushed), waits
// for it to exit and releases the data folder.
func (e *Embedded) Stop() error {
	defer e.release()
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-e.exited:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = e.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-e.exited:
		return errors.New("postgres needed an immediate shutdown")
	case <-time.After(10 * time.Second):
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	return errors.New("postgres had to be killed")
}

func (e *Embedded) release() {
	for _, f := range e.cleanups {
		f()
	}
	e.cleanups = nil
	if e.lock != nil {
		e.lock.Close()
		e.lock = nil
	}
}

func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
