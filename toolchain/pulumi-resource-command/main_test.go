package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func baseInputs() resource.PropertyMap {
	m := resource.PropertyMap{
		"connection": resource.NewProperty(resource.PropertyMap{"host": resource.NewProperty("198.18.250.2")}),
		"create":     resource.NewProperty("cat > /tmp/x"),
		"stdin":      resource.NewProperty("hello"),
		"triggers":   resource.NewProperty([]resource.PropertyValue{resource.NewProperty("t1")}),
	}
	applyDefaults(m)
	return m
}

func TestDefaults(t *testing.T) {
	in, failures := parseInputs(baseInputs())
	if len(failures) > 0 {
		t.Fatalf("unexpected failures: %v", failures)
	}
	c := in.connection
	if c.port != 22 || c.user != "root" || c.dialErrorLimit != 10 || c.perDialTimeout != 15*time.Second {
		t.Errorf("connection defaults: %+v", c)
	}
	if !in.addPreviousOutputInEnv || in.logging != loggingStdoutAndStderr {
		t.Errorf("defaults: addPreviousOutputInEnv=%v logging=%q", in.addPreviousOutputInEnv, in.logging)
	}
}

func TestCheckFailures(t *testing.T) {
	m := resource.PropertyMap{
		"logging": resource.NewProperty("loud"),
		"stdin":   resource.NewProperty(3.0),
	}
	_, failures := parseInputs(m)
	got := map[string]bool{}
	for _, f := range failures {
		got[f.GetProperty()] = true
	}
	for _, want := range []string{"logging", "stdin", "connection"} {
		if !got[want] {
			t.Errorf("no failure for %s in %v", want, failures)
		}
	}

	m = baseInputs()
	conn := m["connection"].ObjectValue()
	conn["hostKey"] = resource.NewProperty("not a key")
	delete(conn, "host")
	_, failures = parseInputs(m)
	got = map[string]bool{}
	for _, f := range failures {
		got[f.GetProperty()] = true
	}
	if !got["connection.hostKey"] || !got["connection.host"] {
		t.Errorf("failures: %v", failures)
	}

	// Unknown values (preview) are not failures.
	m = resource.PropertyMap{"connection": resource.MakeComputed(resource.NewProperty(""))}
	if _, failures = parseInputs(m); len(failures) > 0 {
		t.Errorf("unknown connection: %v", failures)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		change   func(resource.PropertyMap)
		want     pulumirpc.DiffResponse_DiffChanges
		replaces []string
	}{
		{"no change", func(resource.PropertyMap) {}, pulumirpc.DiffResponse_DIFF_NONE, nil},
		{"stdin", func(m resource.PropertyMap) { m["stdin"] = resource.NewProperty("world") },
			pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"logging", func(m resource.PropertyMap) { m["logging"] = resource.NewProperty(loggingNone) },
			pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"delete added", func(m resource.PropertyMap) { m["delete"] = resource.NewProperty("rm -f /tmp/x") },
			pulumirpc.DiffResponse_DIFF_SOME, nil},
		{"triggers", func(m resource.PropertyMap) {
			m["triggers"] = resource.NewProperty([]resource.PropertyValue{resource.NewProperty("t2")})
		}, pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"}},
		{"connection", func(m resource.PropertyMap) {
			m["connection"].ObjectValue()["port"] = resource.NewProperty(2222.0)
		}, pulumirpc.DiffResponse_DIFF_SOME, []string{"connection"}},
		{"unknown stdin", func(m resource.PropertyMap) {
			m["stdin"] = resource.MakeComputed(resource.NewProperty(""))
		}, pulumirpc.DiffResponse_DIFF_SOME, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			olds, news := baseInputs(), baseInputs()
			// Old outputs carry stdout/stderr; they must not count as changes.
			olds["stdout"] = resource.NewProperty("hello")
			tt.change(news)
			resp := diffInputs(olds, news, nil)
			if resp.GetChanges() != tt.want {
				t.Errorf("changes = %v, want %v (diffs %v)", resp.GetChanges(), tt.want, resp.GetDiffs())
			}
			if fmt.Sprint(resp.GetReplaces()) != fmt.Sprint(tt.replaces) {
				t.Errorf("replaces = %v, want %v", resp.GetReplaces(), tt.replaces)
			}
		})
	}
}

func TestTail(t *testing.T) {
	var lines []string
	for i := 1; i <= 100; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	got := tail("stderr", strings.Join(lines, "\n"))
	if !strings.HasPrefix(got, "stderr (last 40 of 100 lines):\nline 61\n") || !strings.HasSuffix(got, "line 100") {
		t.Errorf("tail = %q", got)
	}
	if got := tail("stderr", "boom"); got != "stderr:\nboom" {
		t.Errorf("tail = %q", got)
	}
}

func TestLineWriter(t *testing.T) {
	var got []string
	w := &lineWriter{emit: func(s string) { got = append(got, s) }}
	_, _ = io.WriteString(w, "a\r\nb")
	_, _ = io.WriteString(w, "c\nd")
	w.flush()
	if strings.Join(got, "|") != "a|bc|d" {
		t.Errorf("lines = %q", got)
	}
}

func TestSchema(t *testing.T) {
	resp, err := newCommandProvider(nil).GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Name      string
		Version   string
		Resources map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(resp.GetSchema()), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Name != "command" || schema.Version != pluginVersion || schema.Resources[commandType] == nil {
		t.Errorf("schema: name=%q version=%q resources=%d", schema.Name, schema.Version, len(schema.Resources))
	}
}

// TestRunOverSSH runs commands against an in-process SSH server on loopback:
// key auth, host key pinning, stdin, environment, exit status and stderr.
func TestRunOverSSH(t *testing.T) {
	srv := startTestServer(t)
	p := newCommandProvider(nil)
	ctx := context.Background()

	in, failures := parseInputs(srv.inputs(t, srv.hostKeyText))
	if len(failures) > 0 {
		t.Fatal(failures)
	}
	stdin := "hello\n"
	in.stdin = &stdin
	in.environment = map[string]string{"FOO": "bar"}
	stdout, stderr, err := p.run(ctx, "urn:test", in, "create", "echo", map[string]string{"PULUMI_COMMAND_STDOUT": "prev"})
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "hello" || stderr != "env FOO=bar PULUMI_COMMAND_STDOUT=prev" {
		t.Errorf("stdout=%q stderr=%q", stdout, stderr)
	}

	_, _, err = p.run(ctx, "urn:test", in, "create", "fail", nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing command: %v", err)
	}

	// A different pinned key fails at once (no retries).
	other, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ssh.NewPublicKey(other)
	if err != nil {
		t.Fatal(err)
	}
	in, _ = parseInputs(srv.inputs(t, string(ssh.MarshalAuthorizedKey(otherKey))))
	start := time.Now()
	_, _, err = p.run(ctx, "urn:test", in, "create", "echo", nil)
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") || time.Since(start) > 5*time.Second {
		t.Errorf("wrong host key: %v (after %s)", err, time.Since(start))
	}
}

type testServer struct {
	addr        *net.TCPAddr
	clientKey   []byte // PEM
	hostKeyText string
}

func (s *testServer) inputs(t *testing.T, hostKey string) resource.PropertyMap {
	t.Helper()
	m := resource.PropertyMap{"connection": resource.NewProperty(resource.PropertyMap{
		"host":       resource.NewProperty(s.addr.IP.String()),
		"port":       resource.NewProperty(float64(s.addr.Port)),
		"privateKey": resource.NewProperty(string(s.clientKey)),
		"hostKey":    resource.NewProperty(hostKey),
	})}
	applyDefaults(m)
	return m
}

// startTestServer serves SSH on 127.0.0.1. Its "exec" understands two
// commands: "echo" copies stdin to stdout and lists the received environment
// on stderr; "fail" prints "boom" on stderr and exits with status 3.
func startTestServer(t *testing.T) *testServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		t.Fatal(err)
	}

	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown key")
		},
	}
	config.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveTestConn(conn, config) })
		}
	})
	return &testServer{
		addr:        ln.Addr().(*net.TCPAddr),
		clientKey:   pem.EncodeToMemory(block),
		hostKeyText: string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey())),
	}
}

func serveTestConn(conn net.Conn, config *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for newCh := range chans {
		ch, requests, err := newCh.Accept()
		if err != nil {
			return
		}
		go serveTestSession(ch, requests)
	}
}

func serveTestSession(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	for req := range requests {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			_ = ssh.Unmarshal(req.Payload, &kv)
			env = append(env, kv.Name+"="+kv.Value)
			_ = req.Reply(true, nil)
		case "exec":
			var cmd struct{ Command string }
			_ = ssh.Unmarshal(req.Payload, &cmd)
			_ = req.Reply(true, nil)
			status := uint32(0)
			switch cmd.Command {
			case "echo":
				_, _ = io.Copy(ch, ch)
				_, _ = fmt.Fprintf(ch.Stderr(), "env %s\n", strings.Join(env, " "))
			case "fail":
				_, _ = fmt.Fprintln(ch.Stderr(), "boom")
				status = 3
			}
			payload := binary.BigEndian.AppendUint32(nil, status)
			_, _ = ch.SendRequest("exit-status", false, payload)
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}
