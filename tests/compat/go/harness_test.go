package compat

import (
	"bytes"
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
)

const loopback = "127.0.0.1"

// rocketryBin returns the binary under test (env ROCKETRY_BIN), failing the test clearly if unusable.
func rocketryBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("ROCKETRY_BIN")
	if bin == "" {
		t.Fatal("ROCKETRY_BIN is not set: run `ROCKETRY_BIN=/abs/path/to/rocketry go test ./...`")
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

// freePorts returns n distinct free loopback ports (all held until every one is chosen).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", loopback+":0")
		if err != nil {
			t.Fatalf("no free port: %v", err)
		}
		ls = append(ls, l)
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

// proc is one rocketry process with its output in files under dir.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr string
	done           chan struct{}
	exitErr        error
}

// startRocketry starts `rocketry args...` and waits (30 s at most) until every port accepts TCP
// connections. The process is killed when the test ends, and the tails of its output are logged
// if the test failed.
func startRocketry(t *testing.T, dir, name string, args []string, ports ...int) *proc {
	t.Helper()
	for _, p := range ports {
		if accepts(p) {
			t.Fatalf("%s: port %d already accepts connections before start", name, p)
		}
	}
	p := &proc{
		name:   name,
		stdout: filepath.Join(dir, name+".stdout.log"),
		stderr: filepath.Join(dir, name+".stderr.log"),
		done:   make(chan struct{}),
	}
	out, err := os.Create(p.stdout)
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(rocketryBin(t), args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = out
	p.cmd.Stderr = errf
	// If this test process dies without cleaning up, the kernel kills the child.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %v: %v", name, args, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		out.Close()
		errf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rocketry work dir: %s\n%s", dir, p.tail(40))
		}
		p.stop()
	})
	deadline := time.Now().Add(30 * time.Second)
	for _, port := range ports {
		for !accepts(port) {
			select {
			case <-p.done:
				t.Fatalf("%s exited (%v) before port %d accepted connections\n%s", name, p.exitErr, port, p.tail(40))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: port %d did not accept connections within 30 s\n%s", name, port, p.tail(40))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return p
}

// stop sends SIGTERM, then SIGKILL if the process has not exited within 15 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) tail(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---- %s %v\n", p.name, p.cmd.Args[1:])
	for _, f := range []string{p.stdout, p.stderr} {
		fmt.Fprintf(&b, "-- %s\n", f)
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(&b, "(unreadable: %v)\n", err)
			continue
		}
		lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "   | %s\n", l)
		}
	}
	return b.String()
}

// workDir is a fresh temp dir, removed at the end unless the test failed (then kept for inspection).
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rocketry-compat-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept work dir %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}
