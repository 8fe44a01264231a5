package main

// Running one command over SSH: dialing (with retries, an optional jump host
// and an optional pinned host key), authenticating, and collecting the output.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// errorTailLines bounds how much of stderr a failed command puts into the
// error: enough for a `vtysh -C -f` rejection, short enough to read in the
// engine's summary.
const errorTailLines = 40

// errorTailBytes also bounds it by size, for output with very long lines.
const errorTailBytes = 8 << 10

// maxDialBackoff caps the pause between two dial attempts.
const maxDialBackoff = 10 * time.Second

// dialFunc opens the TCP stream to the SSH server: a plain dial, or a
// channel through the jump host's SSH connection.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// run executes cmd on in.connection and returns its stdout and stderr, each
// without one trailing newline (as upstream). op names the step in messages.
// env holds PULUMI_COMMAND_* variables, which a server without a matching
// AcceptEnv silently drops, as with upstream.
func (p *commandProvider) run(ctx context.Context, urn resource.URN, in commandInputs, op, cmd string,
	env map[string]string,
) (string, string, error) {
	client, err := p.connect(ctx, urn, &in.connection)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", op, err)
	}
	defer client.Close()

	session, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("%s: opening an SSH session on %s: %w", op, &in.connection, err)
	}
	defer session.Close()

	// `environment` first, then PULUMI_COMMAND_*. Setenv needs AcceptEnv on the
	// server; a refusal is not fatal (as upstream), but for variables the
	// program asked for we say so, since the command will not see them.
	for _, k := range slices.Sorted(maps.Keys(in.environment)) {
		if err := session.Setenv(k, in.environment[k]); err != nil {
			p.logf(ctx, diag.Warning, urn, "%s: the SSH server refused environment variable %s "+
				"(it needs `AcceptEnv %s` in sshd_config): %v", op, k, k, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if err := session.Setenv(k, env[k]); err != nil {
			p.logf(ctx, diag.Debug, urn, "%s: the SSH server refused environment variable %s: %v", op, k, err)
		}
	}

	if in.stdin != nil {
		session.Stdin = strings.NewReader(*in.stdin)
	}
	var stdout, stderr bytes.Buffer
	logLine := func(line string) { p.logf(ctx, diag.Info, urn, "%s", line) }
	outLog, errLog := &lineWriter{}, &lineWriter{}
	if in.logStdout() {
		outLog.emit = logLine
	}
	if in.logStderr() {
		errLog.emit = logLine
	}
	session.Stdout = io.MultiWriter(&stdout, outLog)
	session.Stderr = io.MultiWriter(&stderr, errLog)

	if err := session.Start(cmd); err != nil {
		return "", "", fmt.Errorf("%s: starting the command on %s: %w", op, &in.connection, err)
	}
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Ask the remote command to stop, then drop the connection: Wait
		// returns once the channel is gone. Whether the command really stops
		// is up to the server: OpenSSH refuses signal requests in some
		// configurations ("session signalling requires privilege
		// separation"), and a command without a terminal survives the
		// disconnect until it writes to the closed channel.
		_ = session.Signal(ssh.SIGTERM)
		client.Close()
		<-done
		err = context.Cause(ctx)
	}
	outLog.flush()
	errLog.flush()

	outText := strings.TrimSuffix(stdout.String(), "\n")
	errText := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return outText, errText, commandError(op, &in.connection, err, in, outText, errText)
	}
	return outText, errText, nil
}

// commandError describes a failed command: where, how it ended, and the tail
// of its stderr. stdout stands in for an empty stderr only when `logging`
// would have shown stdout anyway, since the program may rely on logging
// "none" to keep stdout out of sight.
func commandError(op string, conn *connection, err error, in commandInputs, stdout, stderr string) error {
	how := err.Error()
	var exitErr *ssh.ExitError
	var missingErr *ssh.ExitMissingError
	exited := errors.As(err, &exitErr)
	switch {
	case exited && exitErr.Signal() != "":
		how = fmt.Sprintf("killed by signal %s", exitErr.Signal())
	case exited:
		how = fmt.Sprintf("exit status %d", exitErr.ExitStatus())
	case errors.As(err, &missingErr):
		how = "the connection closed without an exit status (did the command restart sshd or the host?)"
	}
	msg := fmt.Sprintf("%s command failed on %s: %s", op, conn, how)
	switch {
	case stderr != "":
		msg += "\n" + tail("stderr", stderr)
	case stdout != "" && in.logStdout():
		msg += "\n" + tail("stdout", stdout)
	case exited:
		msg += " (nothing on stderr)"
	}
	return errors.New(msg)
}

// tail returns the last errorTailLines lines (at most errorTailBytes) of text,
// under a heading that says whether it was cut.
func tail(name, text string) string {
	lines := strings.Split(text, "\n")
	heading := name + ":"
	if len(lines) > errorTailLines {
		heading = fmt.Sprintf("%s (last %d of %d lines):", name, errorTailLines, len(lines))
		lines = lines[len(lines)-errorTailLines:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > errorTailBytes {
		out = "..." + strings.ToValidUTF8(out[len(out)-errorTailBytes:], "")
		heading = fmt.Sprintf("%s (last %d bytes):", name, errorTailBytes)
	}
	return heading + "\n" + out
}

// lineWriter hands every complete line written to it to emit (when set) and
// the unterminated rest to flush. It lets the engine show output as it comes.
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	if w.emit == nil {
		return len(b), nil
	}
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

func (w *lineWriter) flush() {
	if w.emit != nil && len(w.buf) > 0 {
		w.emit(string(w.buf))
	}
	w.buf = nil
}

// connect dials c, through its jump host when it has one. Closing the returned
// client also closes the jump host's connection.
func (p *commandProvider) connect(ctx context.Context, urn resource.URN, c *connection) (*ssh.Client, error) {
	var netDialer net.Dialer
	dial := dialFunc(netDialer.DialContext)
	var proxyClient *ssh.Client
	if c.proxy != nil {
		if c.proxy.proxy != nil {
			return nil, errors.New("a proxy connection cannot have a proxy of its own")
		}
		var err error
		proxyClient, err = p.dialWithRetry(ctx, urn, c.proxy, dial)
		if err != nil {
			return nil, fmt.Errorf("jump host: %w", err)
		}
		dial = proxyClient.DialContext
	}
	client, err := p.dialWithRetry(ctx, urn, c, dial)
	if err != nil {
		if proxyClient != nil {
			proxyClient.Close()
		}
		return nil, err
	}
	if proxyClient != nil {
		go func() {
			_ = client.Wait()
			proxyClient.Close()
		}()
	}
	return client, nil
}

// dialWithRetry makes up to dialErrorLimit attempts (-1: no limit), each
// bounded by perDialTimeout, pausing 1s, 2s, 4s... (at most maxDialBackoff)
// between them: a router that is booting or restarting sshd becomes reachable
// a little later. A pinned host key that does not match and invalid
// credentials in the inputs are not retried.
func (p *commandProvider) dialWithRetry(ctx context.Context, urn resource.URN, c *connection, dial dialFunc) (*ssh.Client, error) {
	config, cleanup, err := clientConfig(c)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c, err)
	}
	defer cleanup()

	limit := c.dialErrorLimit
	if limit == 0 {
		limit = 1 // at least one attempt
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		client, err := dialOnce(ctx, c, config, dial)
		if err == nil {
			return client, nil
		}
		var mismatch *hostKeyMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("connecting to %s: %w", c, mismatch)
		}
		if c.hostKey != nil && strings.Contains(err.Error(), "no common algorithm for host key") {
			// Retrying cannot help: the server has no key of the pinned type.
			return nil, fmt.Errorf("connecting to %s: the server has no %s host key, which connection.hostKey pins: %w",
				c, c.hostKey.Type(), err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to %s: %w (last error: %v)", c, context.Cause(ctx), err)
		}
		if limit > 0 && attempt >= limit {
			return nil, fmt.Errorf("connecting to %s: giving up after %d attempt(s) (dialErrorLimit): %w", c, attempt, err)
		}
		p.statusf(ctx, urn, "connecting to %s failed (attempt %d): %v; retrying in %s", c, attempt, err, backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w (last error: %v)", c, context.Cause(ctx), err)
		}
		backoff = min(2*backoff, maxDialBackoff)
	}
}

// dialOnce opens the TCP stream and runs the SSH handshake, both within
// perDialTimeout.
func dialOnce(ctx context.Context, c *connection, config *ssh.ClientConfig, dial dialFunc) (*ssh.Client, error) {
	if c.perDialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.perDialTimeout)
		defer cancel()
	}
	conn, err := dial(ctx, "tcp", c.address())
	if err != nil {
		return nil, err
	}
	// ssh.NewClientConn takes no context: a deadline on the socket (where it
	// supports one) and closing it on cancellation bound the handshake.
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, c.address(), config)
	if !stop() {
		// The context ended during the handshake; the socket is closed.
		if err == nil {
			sshConn.Close()
		}
		return nil, fmt.Errorf("SSH handshake with %s: %w", c.address(), context.Cause(ctx))
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sshConn, chans, reqs), nil
}

// clientConfig builds the authentication and host key checking for c. The
// returned cleanup closes the agent connection, if any.
func clientConfig(c *connection) (*ssh.ClientConfig, func(), error) {
	cleanup := func() {}
	config := &ssh.ClientConfig{User: c.user}

	// All keys go into ONE publickey method: x/crypto tries each method name
	// only once, so a second PublicKeys method would never be tried.
	var signers []ssh.Signer
	if c.privateKey != "" {
		signer, err := parsePrivateKey(c.privateKey, c.privateKeyPassword)
		if err != nil {
			return nil, cleanup, err
		}
		signers = append(signers, signer)
	}
	var agentSigners func() ([]ssh.Signer, error)
	socket := c.agentSocketPath
	if socket == "" {
		socket = os.Getenv("SSH_AUTH_SOCK")
	}
	if socket != "" {
		agentConn, err := net.Dial("unix", socket)
		switch {
		case err == nil:
			cleanup = func() { agentConn.Close() }
			agentSigners = agent.NewClient(agentConn).Signers
		case c.agentSocketPath != "":
			// Asked for explicitly: say that it does not work.
			return nil, cleanup, fmt.Errorf("SSH agent at agentSocketPath %s: %w", c.agentSocketPath, err)
		}
		// An unusable $SSH_AUTH_SOCK is ignored, as ssh(1) does.
	}
	if len(signers) > 0 || agentSigners != nil {
		config.Auth = append(config.Auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := slices.Clone(signers)
			if agentSigners != nil {
				if more, err := agentSigners(); err == nil {
					all = append(all, more...)
				}
			}
			return all, nil
		}))
	}
	if c.password != "" {
		password := c.password
		config.Auth = append(config.Auth,
			ssh.Password(password),
			// Servers with PasswordAuthentication off often still take the
			// password through keyboard-interactive (PAM).
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	if len(config.Auth) == 0 {
		return nil, cleanup, errors.New("no way to authenticate: set connection.privateKey, connection.password, " +
			"or connection.agentSocketPath (or SSH_AUTH_SOCK)")
	}

	if c.hostKey != nil {
		want := c.hostKey
		// Ask the server for the pinned key's type; otherwise it may present
		// another of its host keys (e.g. ECDSA) and the comparison would fail.
		config.HostKeyAlgorithms = hostKeyAlgorithms(want)
		config.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if bytes.Equal(got.Marshal(), want.Marshal()) {
				return nil
			}
			return &hostKeyMismatchError{got: got, want: want}
		}
	} else {
		// Documented upstream behaviour: without hostKey the key is not checked.
		config.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // see above
	}
	return config, cleanup, nil
}

func parsePrivateKey(key, passphrase string) (ssh.Signer, error) {
	var signer ssh.Signer
	var err error
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey([]byte(key))
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, errors.New("connection.privateKey is encrypted: set connection.privateKeyPassword")
	case err != nil:
		// The parser's message does not quote the key, so it is safe to show.
		return nil, fmt.Errorf("connection.privateKey: %w", err)
	}
	return signer, nil
}

func hostKeyAlgorithms(key ssh.PublicKey) []string {
	if key.Type() == ssh.KeyAlgoRSA {
		// An RSA key signs with SHA-2 today; "ssh-rsa" (SHA-1) only for old servers.
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{key.Type()}
}

type hostKeyMismatchError struct {
	got, want ssh.PublicKey
}

func (e *hostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key mismatch: the server presented %s %s, but connection.hostKey pins %s %s "+
		"(a re-installed host, or a man in the middle)",
		e.got.Type(), ssh.FingerprintSHA256(e.got), e.want.Type(), ssh.FingerprintSHA256(e.want))
}
