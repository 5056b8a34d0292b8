// Package pubsubemu runs a Pub/Sub emulator for tests and demos.
//
// # Which emulator
//
// [Start] uses the emulator named by PUBSUB_EMULATOR_HOST when that is set. Otherwise it starts
// the Cloud SDK's emulator (`gcloud beta emulators pubsub start`) on a free local port, in its
// own process group, and waits for it to report "Server started". [Emulator.Close] stops the
// whole group (gcloud's Python wrapper and the Java server it spawns). The emulator is also
// stopped when the process that started it dies, even by SIGKILL: a small shell wrapper in the
// group waits for its stdin, which the starting process holds, to close.
//
// When the Cloud SDK is not installed, [Start] fails with an error that wraps [ErrNoCloudSDK]
// and says how to install it; tests must not skip in that case. Demos may fall back to
// [StartFake], the in-process fake of the Go client library (pstest), which differs from the
// real service in places (see its package documentation); [StartOrFake] does both.
//
// # Tests
//
// [ForTest] starts one emulator per test binary, on first use, and exports its address in
// PUBSUB_EMULATOR_HOST so that every client of the process (the pipeline's reader included)
// finds it. Stop it from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := ptest.MainRetWithDefault(m, "prism")
//		pubsubemu.CloseShared()
//		os.Exit(code)
//	}
package pubsubemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// EnvHost is the environment variable through which Google's Pub/Sub clients find an emulator.
const EnvHost = "PUBSUB_EMULATOR_HOST"

// DefaultProject is the project used by the emulator when none is given.
const DefaultProject = "eventdelivery-local"

// ErrNoCloudSDK is wrapped by the error of Start when gcloud or its Pub/Sub emulator component
// is not installed.
var ErrNoCloudSDK = errors.New("the Cloud SDK's Pub/Sub emulator is not installed")

const installHint = "install the Cloud SDK (https://cloud.google.com/sdk/docs/install) with its " +
	"Pub/Sub emulator and a Java runtime (11+), e.g. on Debian/Ubuntu: " +
	"`apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator default-jre-headless`, " +
	"or `gcloud components install pubsub-emulator beta`; " +
	"or point PUBSUB_EMULATOR_HOST at a running emulator"

// startTimeout bounds how long Start waits for the emulator to report that it started.
const startTimeout = 90 * time.Second

// Emulator is a running Pub/Sub emulator.
type Emulator struct {
	// Host is the emulator's address, host:port, the value for PUBSUB_EMULATOR_HOST.
	Host string
	// Project is the default project for helpers that take none.
	Project string
	// Fake reports that this is the in-process pstest fake, not the Cloud SDK's emulator.
	Fake bool
	// External reports that the emulator was given by PUBSUB_EMULATOR_HOST and is not owned.
	External bool

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when cmd has exited
	log   *tailBuffer
	fake  *pstest.Server
	// gcloudPgid is gcloud's pid, which is also its process group; set before "Server started".
	gcloudPgid int

	closeOnce sync.Once
	closeErr  error
}

// Start returns the emulator named by PUBSUB_EMULATOR_HOST or, when that is unset, starts the
// Cloud SDK's emulator on a free local port. It does not change the environment; see
// [Emulator.Export].
func Start(ctx context.Context) (*Emulator, error) {
	if host := os.Getenv(EnvHost); host != "" {
		return &Emulator{Host: host, Project: DefaultProject, External: true}, nil
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return nil, fmt.Errorf("pubsubemu: %w: gcloud not found in PATH; %s", ErrNoCloudSDK, installHint)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("pubsubemu: free port: %w", err)
		}
		e, err := startGcloud(ctx, gcloud, port)
		if err == nil {
			return e, nil
		}
		lastErr = err
		if errors.Is(err, ErrNoCloudSDK) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// StartFake starts the in-process fake (pstest) on a free local port.
func StartFake() (*Emulator, error) {
	srv := pstest.NewServer()
	return &Emulator{Host: srv.Addr, Project: DefaultProject, Fake: true, fake: srv}, nil
}

// StartOrFake starts the real emulator as Start does and falls back to StartFake when the Cloud
// SDK is not installed. Meant for demos: it reports which one runs in Emulator.Fake.
func StartOrFake(ctx context.Context) (*Emulator, error) {
	e, err := Start(ctx)
	if errors.Is(err, ErrNoCloudSDK) {
		return StartFake()
	}
	return e, err
}

// Export sets PUBSUB_EMULATOR_HOST for this process to the emulator's address, so that Pub/Sub
// clients created afterwards (the pipeline's reader too) use it.
func (e *Emulator) Export() error { return os.Setenv(EnvHost, e.Host) }

// Env returns "PUBSUB_EMULATOR_HOST=<host>", for the environment of a child process.
func (e *Emulator) Env() string { return EnvHost + "=" + e.Host }

// Close stops the emulator if Start or StartFake started it. It is safe to call more than once.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		switch {
		case e.fake != nil:
			e.closeErr = e.fake.Close()
		case e.cmd != nil:
			e.closeErr = e.stopGroup()
		}
	})
	return e.closeErr
}

// Log returns the last lines the emulator printed (empty for the fake or an external one).
func (e *Emulator) Log() string {
	if e.log == nil {
		return ""
	}
	return e.log.String()
}

func startGcloud(ctx context.Context, gcloud string, port int) (*Emulator, error) {
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// The shell leads a new process group. gcloud puts itself into a group of its own (it calls
	// setpgid unless it leads a session) and forwards no signal to its Java child, so the shell
	// reports gcloud's pid, which is that group's id, and a watcher waits for the shell's stdin,
	// held by this process, to close (Close, or this process dying, even by SIGKILL), then
	// signals both groups.
	script := `exec 3<&0
"$0" beta emulators pubsub start --host-port="$1" --project="$2" 2>&1 </dev/null &
g=$!
echo "pubsubemu: gcloud pid $g"
{ read -r _ <&3; kill -TERM "-$g" 2>/dev/null; kill -TERM "$g" 2>/dev/null; kill -TERM 0; } >/dev/null 2>&1 &
wait "$g"
echo "pubsubemu: emulator exited with status $?"
wait`
	cmd := exec.Command("/bin/sh", "-c", script, gcloud, hostPort, DefaultProject)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("pubsubemu: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("pubsubemu: %w", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pubsubemu: start gcloud: %w", err)
	}
	e := &Emulator{
		Host: hostPort, Project: DefaultProject,
		cmd: cmd, stdin: stdin, done: make(chan struct{}), log: newTailBuffer(40),
	}
	started := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var once, exitOnce sync.Once
		for sc.Scan() {
			line := sc.Text()
			e.log.Add(line)
			if pid, ok := strings.CutPrefix(line, "pubsubemu: gcloud pid "); ok {
				e.gcloudPgid, _ = strconv.Atoi(pid)
			}
			if strings.Contains(line, "Server started") {
				once.Do(func() { close(started) })
			}
			if strings.HasPrefix(line, "pubsubemu: emulator exited") {
				exitOnce.Do(func() { close(exited) })
			}
		}
		exitOnce.Do(func() { close(exited) })
	}()
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-started:
		return e, nil
	case <-exited:
		_ = e.stopGroup()
		log := e.Log()
		if strings.Contains(log, "not installed") || strings.Contains(log, "Invalid choice") ||
			strings.Contains(log, "java") && strings.Contains(log, "not found") {
			return nil, fmt.Errorf("pubsubemu: %w: %s\nemulator output:\n%s", ErrNoCloudSDK, installHint, log)
		}
		return nil, fmt.Errorf("pubsubemu: emulator on %s exited before it started; output:\n%s", hostPort, log)
	case <-timer.C:
		_ = e.stopGroup()
		return nil, fmt.Errorf("pubsubemu: emulator on %s did not start within %v; output:\n%s", hostPort, startTimeout, e.Log())
	case <-ctx.Done():
		_ = e.stopGroup()
		return nil, fmt.Errorf("pubsubemu: start: %w", ctx.Err())
	}
}

// stopGroup closes the watcher's stdin, signals both process groups, and escalates to SIGKILL
// when they do not exit in time.
func (e *Emulator) stopGroup() error {
	_ = e.stdin.Close()
	groups := []int{e.cmd.Process.Pid}
	if e.gcloudPgid > 0 {
		groups = append(groups, e.gcloudPgid)
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGTERM)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		alive := false
		for _, g := range groups {
			if syscall.Kill(-g, 0) == nil {
				alive = true
				if time.Now().After(deadline) {
					_ = syscall.Kill(-g, syscall.SIGKILL)
				}
			}
		}
		if !alive {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	<-e.done
	return nil
}

// FreePort returns a TCP port of localhost that is free now: the emulator's, or that of
// anything else a test or demo starts beside it.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Client returns a Pub/Sub client for the emulator, whatever PUBSUB_EMULATOR_HOST says.
func (e *Emulator) Client(ctx context.Context, project string) (*pubsub.Client, error) {
	if project == "" {
		project = e.Project
	}
	conn, err := grpc.NewClient(e.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("pubsubemu: dial %s: %w", e.Host, err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn), option.WithoutAuthentication())
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("pubsubemu: client: %w", err)
	}
	return c, nil
}

// Names are the full resource names of a topic and its subscription.
type Names struct {
	Topic        string // projects/P/topics/T
	Subscription string // projects/P/subscriptions/S
}

// CreateSubscription creates the topic projects/project/topics/topicID (if it does not exist) and
// a subscription projects/project/subscriptions/subID on it with the given ack deadline (the
// service accepts 10s to 600s; zero means the service's default of 10s). An empty project means
// e.Project.
func (e *Emulator) CreateSubscription(ctx context.Context, project, topicID, subID string, ackDeadline time.Duration) (Names, error) {
	if project == "" {
		project = e.Project
	}
	c, err := e.Client(ctx, project)
	if err != nil {
		return Names{}, err
	}
	defer c.Close()
	n := Names{
		Topic:        "projects/" + project + "/topics/" + topicID,
		Subscription: "projects/" + project + "/subscriptions/" + subID,
	}
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: n.Topic}); err != nil && !isAlreadyExists(err) {
		return Names{}, fmt.Errorf("pubsubemu: create topic %s: %w", n.Topic, err)
	}
	sub := &pubsubpb.Subscription{Name: n.Subscription, Topic: n.Topic}
	if ackDeadline > 0 {
		sub.AckDeadlineSeconds = int32(ackDeadline / time.Second)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, sub); err != nil {
		return Names{}, fmt.Errorf("pubsubemu: create subscription %s: %w", n.Subscription, err)
	}
	return n, nil
}

func isAlreadyExists(err error) bool {
	return status.Code(err) == codes.AlreadyExists
}

// tailBuffer keeps the last n lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTailBuffer(n int) *tailBuffer { return &tailBuffer{n: n} }

func (b *tailBuffer) Add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
	if len(b.lines) > b.n {
		b.lines = b.lines[len(b.lines)-b.n:]
	}
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var buf bytes.Buffer
	for _, l := range b.lines {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	return buf.String()
}

// CPU returns the CPU time (user and system) used so far by the emulator's processes (its
// shell, gcloud and the JVM), read from /proc; zero for the in-process fake or an emulator
// given by PUBSUB_EMULATOR_HOST. Benchmarks compare it with the CPU the pipeline takes.
func (e *Emulator) CPU() time.Duration {
	if e.cmd == nil || e.cmd.Process == nil {
		return 0
	}
	groups := map[int]bool{e.cmd.Process.Pid: true}
	if e.gcloudPgid > 0 {
		groups[e.gcloudPgid] = true
	}
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
		// cmajflt utime stime.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		pgrp, _ := strconv.Atoi(f[2])
		if !groups[pgrp] {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
