package main

// The inputs of command:remote:Command, as the pulumi-command 1.2.1 SDKs send
// them (camelCase wire names; see pulumi_command/remote/command.py and
// _inputs.py), their defaults, their validation, and the diff between two
// sets of them.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Values of the `logging` input (enum command:remote:Logging).
const (
	loggingStdout          = "stdout"
	loggingStderr          = "stderr"
	loggingStdoutAndStderr = "stdoutAndStderr"
	loggingNone            = "none"
)

var loggingValues = []string{loggingStdout, loggingStderr, loggingStdoutAndStderr, loggingNone}

// replaceKeys are the inputs whose change replaces the resource (upstream: the
// triggers exist for exactly that, and a command written for one host must not
// be "updated" onto another one).
var replaceKeys = []resource.PropertyKey{"triggers", "connection"}

// outputOnlyKeys are in the state but are not inputs; Diff ignores them when
// the engine sends old outputs instead of old inputs.
var outputOnlyKeys = []resource.PropertyKey{"stdout", "stderr"}

type commandInputs struct {
	connection             connection
	create, update, delete string
	stdin                  *string // nil: unset (the command reads an empty stdin)
	environment            map[string]string
	logging                string
	addPreviousOutputInEnv bool
}

// connection is ConnectionArgs / ProxyConnectionArgs after defaults.
type connection struct {
	host               string
	port               int
	user               string
	password           string
	privateKey         string
	privateKeyPassword string
	hostKey            ssh.PublicKey // nil: not pinned
	agentSocketPath    string
	dialErrorLimit     int           // -1: unlimited
	perDialTimeout     time.Duration // 0: no limit
	proxy              *connection
}

func (c *connection) address() string {
	return fmt.Sprintf("%s:%d", c.host, c.port)
}

func (c *connection) String() string {
	return fmt.Sprintf("%s@%s", c.user, c.address())
}

func (in commandInputs) logStdout() bool {
	return in.logging == loggingStdout || in.logging == loggingStdoutAndStderr
}

func (in commandInputs) logStderr() bool {
	return in.logging == loggingStderr || in.logging == loggingStdoutAndStderr
}

// applyDefaults fills in what the SDK documents as defaults, so that the state
// holds them and a later change of an SDK default shows up as a diff.
func applyDefaults(m resource.PropertyMap) {
	setDefault(m, "addPreviousOutputInEnv", resource.NewProperty(true))
	setDefault(m, "logging", resource.NewProperty(loggingStdoutAndStderr))
	if c, ok := m["connection"]; ok && c.IsObject() {
		conn := c.ObjectValue()
		applyConnectionDefaults(conn)
		if px, ok := conn["proxy"]; ok && px.IsObject() {
			applyConnectionDefaults(px.ObjectValue())
		}
	}
}

func applyConnectionDefaults(m resource.PropertyMap) {
	setDefault(m, "port", resource.NewProperty(22.0))
	setDefault(m, "user", resource.NewProperty("root"))
	setDefault(m, "dialErrorLimit", resource.NewProperty(10.0))
	setDefault(m, "perDialTimeout", resource.NewProperty(15.0))
}

func setDefault(m resource.PropertyMap, key resource.PropertyKey, v resource.PropertyValue) {
	if old, ok := m[key]; !ok || old.IsNull() {
		m[key] = v
	}
}

// parseInputs reads the inputs into commandInputs. Problems are returned as
// Check failures (property path + reason). Unknown values are skipped, so the
// result is only meaningful when the inputs are fully known.
func parseInputs(m resource.PropertyMap) (commandInputs, []*pulumirpc.CheckFailure) {
	r := newReader(m)
	in := commandInputs{
		create:                 r.str("create"),
		update:                 r.str("update"),
		delete:                 r.str("delete"),
		stdin:                  r.optStr("stdin"),
		environment:            r.strMap("environment"),
		logging:                r.str("logging"),
		addPreviousOutputInEnv: r.boolean("addPreviousOutputInEnv", true),
	}
	if in.logging == "" {
		in.logging = loggingStdoutAndStderr
	} else if !slices.Contains(loggingValues, in.logging) {
		r.fail("logging", fmt.Sprintf("%q is not one of %s", in.logging, strings.Join(loggingValues, ", ")))
	}
	if m.HasValue("triggers") && !m["triggers"].IsComputed() && !m["triggers"].IsArray() {
		r.fail("triggers", "must be a list")
	}

	if cr, ok := r.object("connection"); ok {
		in.connection = parseConnection(cr)
		if pr, ok := cr.object("proxy"); ok {
			proxy := parseConnection(pr)
			in.connection.proxy = &proxy
		}
	} else if !r.unknown("connection") {
		r.fail("connection", "missing required property 'connection'")
	}
	return in, *r.failures
}

func parseConnection(r *reader) connection {
	c := connection{
		host:               r.str("host"),
		port:               r.integer("port", 22),
		user:               r.str("user"),
		password:           r.str("password"),
		privateKey:         r.str("privateKey"),
		privateKeyPassword: r.str("privateKeyPassword"),
		agentSocketPath:    r.str("agentSocketPath"),
		dialErrorLimit:     r.integer("dialErrorLimit", 10),
		perDialTimeout:     time.Duration(r.integer("perDialTimeout", 15)) * time.Second,
	}
	if c.user == "" {
		c.user = "root"
	}
	if c.host == "" && !r.unknown("host") {
		r.fail("host", "missing required property 'host'")
	}
	if c.port < 1 || c.port > 65535 {
		r.fail("port", fmt.Sprintf("%d is not a TCP port", c.port))
	}
	if c.dialErrorLimit < -1 {
		r.fail("dialErrorLimit", "must be -1 (unlimited) or a count of attempts")
	}
	if c.perDialTimeout < 0 {
		r.fail("perDialTimeout", "must be 0 (no limit) or a number of seconds")
	}
	if text := r.str("hostKey"); text != "" {
		key, err := parseHostKey(text)
		if err != nil {
			r.fail("hostKey", err.Error())
		}
		c.hostKey = key
	}
	return c
}

// parseHostKey accepts the key as in an authorized_keys or *.pub file
// ("ssh-ed25519 AAAA... comment"), or a known_hosts line ("host ssh-ed25519 AAAA...").
func parseHostKey(text string) (ssh.PublicKey, error) {
	if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text)); err == nil {
		return key, nil
	}
	if _, _, key, _, _, err := ssh.ParseKnownHosts([]byte(text)); err == nil {
		return key, nil
	}
	return nil, fmt.Errorf("cannot parse %q as an SSH public key (expected e.g. \"ssh-ed25519 AAAA...\")",
		abbreviate(text, 40))
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// diffInputs decides what a change of inputs means:
//   - triggers or connection changed: replace (the engine decides whether the
//     old resource is deleted first, from the deleteBeforeReplace option);
//   - any other input changed: update (runs `update`, or `create` again);
//   - nothing changed: DIFF_NONE, so that a repeated `pulumi up` runs nothing.
//
// An unknown new value counts as a change. Keys in ignoreChanges (top-level
// names) are skipped; the engine has usually applied them already.
func diffInputs(olds, news resource.PropertyMap, ignoreChanges []string) *pulumirpc.DiffResponse {
	keys := map[resource.PropertyKey]struct{}{}
	for k := range olds {
		keys[k] = struct{}{}
	}
	for k := range news {
		keys[k] = struct{}{}
	}
	sorted := make([]resource.PropertyKey, 0, len(keys))
	for k := range keys {
		if !slices.Contains(outputOnlyKeys, k) && !slices.Contains(ignoreChanges, string(k)) {
			sorted = append(sorted, k)
		}
	}
	slices.Sort(sorted)

	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	for _, k := range sorted {
		oldV, newV := olds[k], news[k]
		if (oldV.IsNull() && newV.IsNull()) || oldV.DeepEquals(newV) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case oldV.IsNull():
			kind = pulumirpc.PropertyDiff_ADD
		case newV.IsNull():
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if slices.Contains(replaceKeys, k) {
			kind = replaceKind(kind)
			resp.Replaces = append(resp.Replaces, string(k))
		}
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
		resp.Diffs = append(resp.Diffs, string(k))
		resp.DetailedDiff[string(k)] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return resp
}

func replaceKind(k pulumirpc.PropertyDiff_Kind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case pulumirpc.PropertyDiff_ADD:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case pulumirpc.PropertyDiff_DELETE:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	}
}

// stringProp is a string property of a state, or "" (e.g. stdout of a state
// whose create command was unset).
func stringProp(m resource.PropertyMap, key resource.PropertyKey) string {
	if v, ok := m[key]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

// reader reads typed properties from one object, recording type errors as
// Check failures under the object's path.
type reader struct {
	m        resource.PropertyMap
	path     string
	failures *[]*pulumirpc.CheckFailure
}

func newReader(m resource.PropertyMap) *reader {
	return &reader{m: m, failures: &[]*pulumirpc.CheckFailure{}}
}

func (r *reader) fail(key, reason string) {
	*r.failures = append(*r.failures, &pulumirpc.CheckFailure{Property: r.path + key, Reason: reason})
}

// get returns a known, non-null value (secrets unwrapped).
func (r *reader) get(key string) (resource.PropertyValue, bool) {
	v, ok := r.m[resource.PropertyKey(key)]
	for ok && v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !ok || v.IsNull() || v.IsComputed() || (v.IsOutput() && !v.OutputValue().Known) {
		return v, false
	}
	if v.IsOutput() {
		v = v.OutputValue().Element
	}
	return v, true
}

func (r *reader) unknown(key string) bool {
	v, ok := r.m[resource.PropertyKey(key)]
	return ok && v.ContainsUnknowns()
}

func (r *reader) str(key string) string {
	if s := r.optStr(key); s != nil {
		return *s
	}
	return ""
}

func (r *reader) optStr(key string) *string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	if !v.IsString() {
		r.fail(key, "must be a string")
		return nil
	}
	s := v.StringValue()
	return &s
}

func (r *reader) integer(key string, def int) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
		r.fail(key, "must be an integer")
		return def
	}
	return int(v.NumberValue())
}

func (r *reader) boolean(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	if !v.IsBool() {
		r.fail(key, "must be a boolean")
		return def
	}
	return v.BoolValue()
}

func (r *reader) strMap(key string) map[string]string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	if !v.IsObject() {
		r.fail(key, "must be a map of strings")
		return nil
	}
	sub := r.sub(key, v.ObjectValue())
	out := map[string]string{}
	for k := range v.ObjectValue() {
		if s := sub.optStr(string(k)); s != nil {
			out[string(k)] = *s
		}
	}
	return out
}

func (r *reader) object(key string) (*reader, bool) {
	v, ok := r.get(key)
	if !ok {
		return nil, false
	}
	if !v.IsObject() {
		r.fail(key, "must be an object")
		return nil, false
	}
	return r.sub(key, v.ObjectValue()), true
}

func (r *reader) sub(key string, m resource.PropertyMap) *reader {
	return &reader{m: m, path: r.path + key + ".", failures: r.failures}
}
