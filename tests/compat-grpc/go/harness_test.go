// Harness of the RocketMQ 5.x gRPC compatibility suite: runs one `rocketry standalone` per
// test (its gRPC port serves apache.rocketmq.v2.MessagingService), creates topics and groups
// with `rocketry admin`, and builds clients of the official Go 5.x SDK against it.
package compatgrpc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	rmq "github.com/apache/rocketmq-clients/golang/v5"
	"github.com/apache/rocketmq-clients/golang/v5/credentials"
)

const (
	loopback = "127.0.0.1"
	// The line the standalone prints once its gRPC port is bound.
	grpcReadyLine = "gRPC (RocketMQ 5.x) listening"
	// How long the broker may take to come up.
	startTimeout = 30 * time.Second
	// How long a client's Start may take (the SDK itself would wait forever for settings).
	clientStartTimeout = 15 * time.Second
)

// sdkLog is the file the SDK logs to (set up in TestMain).
var sdkLog string

func TestMain(m *testing.M) {
	// The SDK logs to a file under rocketmq.client.logRoot; keep it in a temp dir of ours.
	logDir, err := os.MkdirTemp("", "rocketry-compat-grpc-go-sdklog-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot make a log dir:", err)
		os.Exit(2)
	}
	os.Setenv("rocketmq.client.logRoot", logDir)
	if os.Getenv("rocketmq.client.logLevel") == "" {
		os.Setenv("rocketmq.client.logLevel", "info")
	}
	rmq.ResetLogger()
	sdkLog = filepath.Join(logDir, "rocketmq_client_go.log")
	// Plaintext by default; COMPAT_GRPC_TLS=1 keeps the SDK's default, TLS (the broker
	// serves both on its gRPC port; the SDK trusts any certificate).
	rmq.EnableSsl = os.Getenv("COMPAT_GRPC_TLS") == "1"

	code := m.Run()
	if code == 0 && os.Getenv("KEEP_SDK_LOG") == "" {
		os.RemoveAll(logDir)
	} else {
		fmt.Fprintf(os.Stderr, "SDK log kept at %s\n", sdkLog)
	}
	os.Exit(code)
}

// rocketryBin is the binary under test, from env ROCKETRY_BIN.
func rocketryBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("ROCKETRY_BIN")
	if bin == "" {
		t.Fatal("ROCKETRY_BIN is not set: run `ROCKETRY_BIN=/abs/path/to/rocketry go test ./...` (or ./run.sh /abs/path/to/rocketry)")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatalf("ROCKETRY_BIN=%q: %v", bin, err)
	}
	st, err := os.Stat(abs)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("ROCKETRY_BIN=%q is not an executable file (%v)", abs, err)
	}
	return abs
}

// freePorts picks n distinct free loopback ports, holding each until all are chosen.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			t.Fatalf("no free port: %v", err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func accepts(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(loopback, strconv.Itoa(port)), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// broker is one `rocketry standalone` process.
type broker struct {
	t                    *testing.T
	bin, dir             string
	nsPort, bPort, gPort int
	cmd                  *exec.Cmd
	stdoutPath, errPath  string
	done                 chan struct{}
	exitErr              error
}

// Endpoint is what the SDK is given.
func (b *broker) Endpoint() string { return net.JoinHostPort(loopback, strconv.Itoa(b.gPort)) }

func (b *broker) namesrv() string { return net.JoinHostPort(loopback, strconv.Itoa(b.nsPort)) }

// startBroker runs a fresh standalone (NameServer + broker + gRPC) in a temp dir and waits
// until its gRPC port accepts TCP and it printed its gRPC line. It is killed and its dir
// removed when the test ends (the dir is kept if the test failed).
func startBroker(t *testing.T) *broker {
	t.Helper()
	bin := rocketryBin(t)
	dir, err := os.MkdirTemp("", "rocketry-compat-grpc-go-")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "broker.conf")
	if err := os.WriteFile(conf, []byte("diskCapacityBytes=1099511627776\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	b := &broker{
		t: t, bin: bin, dir: dir,
		nsPort: ports[0], bPort: ports[1], gPort: ports[2],
		stdoutPath: filepath.Join(dir, "rocketry.stdout.log"),
		errPath:    filepath.Join(dir, "rocketry.stderr.log"),
		done:       make(chan struct{}),
	}
	out, err := os.Create(b.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(b.errPath)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "standalone",
		"--data-dir", filepath.Join(dir, "data"),
		"--namesrv-port", strconv.Itoa(b.nsPort),
		"--broker-port", strconv.Itoa(b.bPort),
		"--grpc-port", strconv.Itoa(b.gPort),
		"-c", conf)
	b.cmd.Dir = dir
	b.cmd.Stdout = out
	b.cmd.Stderr = errf
	b.cmd.Env = os.Environ()
	if os.Getenv("RUST_LOG") == "" {
		b.cmd.Env = append(b.cmd.Env, "RUST_LOG=info")
	}
	// Killed by the kernel if this test process dies first.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", b.cmd.Args, err)
	}
	go func() {
		b.exitErr = b.cmd.Wait()
		out.Close()
		errf.Close()
		close(b.done)
	}()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("broker work dir kept: %s\n%s", dir, b.tail(60))
			return
		}
		os.RemoveAll(dir)
	})

	deadline := time.Now().Add(startTimeout)
	for !(accepts(b.gPort) && b.printed(grpcReadyLine)) {
		select {
		case <-b.done:
			t.Fatalf("rocketry exited (%v) before its gRPC port %d was up\n%s", b.exitErr, b.gPort, b.tail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rocketry: gRPC port %d not up (or %q not printed) within %v\n%s", b.gPort, grpcReadyLine, startTimeout, b.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The NameServer must answer the admin commands too.
	for !accepts(b.nsPort) {
		if time.Now().After(deadline) {
			t.Fatalf("rocketry: namesrv port %d not up within %v\n%s", b.nsPort, startTimeout, b.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return b
}

func (b *broker) printed(line string) bool {
	data, err := os.ReadFile(b.stdoutPath)
	return err == nil && bytes.Contains(data, []byte(line))
}

// stop sends SIGTERM, then SIGKILL after 10 s.
func (b *broker) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

func (b *broker) tail(n int) string {
	var s strings.Builder
	for _, f := range []string{b.stdoutPath, b.errPath} {
		fmt.Fprintf(&s, "-- %s\n", f)
		s.WriteString(tailFile(f, n))
	}
	return s.String()
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("   (unreadable: %v)\n", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var s strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&s, "   | %s\n", l)
	}
	return s.String()
}

// admin runs `rocketry admin <sub> -n <namesrv> -c DefaultCluster <args...>` and fails the
// test if it does not succeed within 30 s.
func (b *broker) admin(sub string, args ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"admin", sub, "-n", b.namesrv(), "-c", "DefaultCluster"}, args...)
	cmd := exec.CommandContext(ctx, b.bin, full...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		hint := ""
		if bytes.Contains(out, []byte("unrecognized subcommand")) {
			hint = fmt.Sprintf("\n(this rocketry binary has no `admin %s`: rebuild it or take a newer one)", sub)
		}
		b.t.Fatalf("rocketry %s: %v\n%s%s", strings.Join(full, " "), err, out, hint)
	}
	return string(out)
}

// createTopic makes a topic with 4 read and 4 write queues (message.type=FIFO if fifo).
func (b *broker) createTopic(topic string, fifo bool) {
	b.t.Helper()
	args := []string{"-t", topic, "-r", "4", "-w", "4"}
	if fifo {
		args = append(args, "-a", "+message.type=FIFO")
	}
	b.admin("updateTopic", args...)
}

// createGroup makes a consumer (subscription) group, orderly for FIFO consumption.
func (b *broker) createGroup(group string, orderly bool) {
	b.t.Helper()
	args := []string{"-g", group}
	if orderly {
		args = append(args, "-o", "true")
	}
	b.admin("updateSubGroup", args...)
}

// uniq makes a name unique to this test run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), time.Now().UnixNano()%1_000_000_000)
}

func (b *broker) config(group string) *rmq.Config {
	return &rmq.Config{
		Endpoint:      b.Endpoint(),
		ConsumerGroup: group,
		// No ACL: empty credentials (the SDK requires a non-nil value).
		Credentials: &credentials.SessionCredentials{},
	}
}

// within runs f and fails the test if it takes longer than d (f keeps running then; the
// broker's end unblocks it).
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %v (the broker never answered?); SDK log tail:\n%s", what, d, tailFile(sdkLog, 30))
		return nil
	}
}

// stopQuietly stops a client when the test ends, waiting for it no longer than wait (a push
// consumer's GracefulStop waits for its in-flight long polls, up to the 20 s the broker's
// settings give; the broker's end, which follows, cuts them short).
func stopQuietly(t *testing.T, what string, stop func() error, wait time.Duration) {
	t.Cleanup(func() {
		ch := make(chan error, 1)
		go func() { ch <- stop() }()
		select {
		case err := <-ch:
			if err != nil {
				t.Logf("%s GracefulStop: %v", what, err)
			}
		case <-time.After(wait):
			t.Logf("%s GracefulStop still running after %v; leaving it", what, wait)
		}
	})
}

// dumpSDKLogOnFailure logs the SDK log lines written during the test if it fails.
func dumpSDKLogOnFailure(t *testing.T) {
	start := fileSize(sdkLog)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		f, err := os.Open(sdkLog)
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(start, 0); err != nil {
			return
		}
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		t.Logf("SDK log (%s), last %d lines of this test:\n   | %s", sdkLog, len(lines), strings.Join(lines, "\n   | "))
	})
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// setup starts a broker and arranges for the SDK log to be shown on failure.
func setup(t *testing.T) *broker {
	t.Helper()
	b := startBroker(t)
	dumpSDKLogOnFailure(t)
	return b
}

// sdkLogSince tells whether the SDK logged a line containing what after byte offset from.
func sdkLogSince(from int64, what string) bool {
	data, err := os.ReadFile(sdkLog)
	if err != nil || int64(len(data)) < from {
		return false
	}
	return bytes.Contains(data[from:], []byte(what))
}
