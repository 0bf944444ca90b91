// Drives a rocketry binary (ROCKETRY_BIN) with the official Go client,
// github.com/apache/rocketmq-client-go/v2.
package compat

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const text = "héllo 世界 🚀"

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startStandalone runs `rocketry standalone` on free loopback ports with a fresh data dir.
func startStandalone(t *testing.T) string {
	bin := os.Getenv("ROCKETRY_BIN")
	if bin == "" {
		t.Fatal("set ROCKETRY_BIN to the rocketry binary")
	}
	dir := t.TempDir()
	ns, br := freePort(t), freePort(t)
	logFile, err := os.Create(filepath.Join(dir, "rocketry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "standalone", "--data-dir", filepath.Join(dir, "data"),
		"--namesrv-port", fmt.Sprint(ns), "--broker-port", fmt.Sprint(br))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(dir, "rocketry.log"))
			t.Logf("rocketry log:\n%s", out)
		}
	})
	for _, port := range []int{ns, br} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rocketry did not listen on %d", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return fmt.Sprintf("127.0.0.1:%d", ns)
}

func newMessage(topic, id, tag string) *primitive.Message {
	m := primitive.NewMessage(topic, []byte(id+"|"+text))
	m.WithTag(tag)
	m.WithKeys([]string{"key-" + id, "k2-" + id})
	m.WithProperty("id", id)
	m.WithProperty("text", text+" "+id)
	return m
}

func fingerprint(body []byte, tag, keys string, props map[string]string) string {
	return fmt.Sprintf("%s tags=%s keys=%s id=%s text=%s", body, tag, keys, props["id"], props["text"])
}

func TestRoundTrip(t *testing.T) {
	rlog.SetLogLevel("error")
	ns := startStandalone(t)
	const topic = "GoRoundTrip"

	p, err := rocketmq.NewProducer(producer.WithNameServer([]string{ns}), producer.WithGroupName("go_compat_producer"), producer.WithRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()

	want := map[string]string{}
	for i := 0; i < 100; i++ {
		m := newMessage(topic, fmt.Sprintf("go-%d", i), "TagA")
		r, err := p.SendSync(context.Background(), m)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if r.Status != primitive.SendOK || r.OffsetMsgID == "" {
			t.Fatalf("send %d: %+v", i, r)
		}
		want[m.GetProperty("id")] = fingerprint(m.Body, m.GetTags(), m.GetKeys(), m.GetProperties())
	}
	var batch []*primitive.Message
	for i := 0; i < 10; i++ {
		batch = append(batch, newMessage(topic, fmt.Sprintf("go-batch-%d", i), "TagB"))
	}
	r, err := p.SendSync(context.Background(), batch...)
	if err != nil || r.Status != primitive.SendOK {
		t.Fatalf("batch send: %v %+v", err, r)
	}
	for _, m := range batch {
		want[m.GetProperty("id")] = fingerprint(m.Body, m.GetTags(), m.GetKeys(), m.GetProperties())
	}

	var mu sync.Mutex
	got := map[string]string{}
	var dups []string
	c, err := rocketmq.NewPushConsumer(consumer.WithNameServer([]string{ns}), consumer.WithGroupName("go_compat_group"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			id := m.GetProperty("id")
			if _, seen := got[id]; seen {
				dups = append(dups, id)
			}
			got[id] = fingerprint(m.Body, m.GetTags(), m.GetKeys(), m.GetProperties())
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("received set differs:\nmissing %v\nunexpected %v", diff(want, got), diff(got, want))
	}
	if len(dups) > 0 {
		t.Fatalf("duplicates: %v", dups)
	}
}

func diff(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k+": "+v)
		}
	}
	sort.Strings(out)
	return out[:min(len(out), 10)]
}
