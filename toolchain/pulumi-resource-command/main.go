// Command pulumi-resource-command is a resource provider plugin for Pulumi,
// written for this project as a stand-in for pulumi-command 1.2.1.
//
// Why it exists: the project's program configures routers with
// `pulumi_command.remote.Command` (Python SDK pulumi-command==1.2.1). The engine
// runs those resources through a plugin named `pulumi-resource-command`, which
// upstream builds from github.com/pulumi/pulumi-command/provider. The Go module
// proxy reachable from our machines refuses that module at every version, and no
// prebuilt binary can be downloaded, so `pulumi up` failed with "no resource
// plugin 'pulumi-resource-command' found". scripts/install-pulumi builds this
// program instead and installs it next to the CLI, where the engine finds it on
// PATH. It is our own code against the public provider protocol (sdk/v3's
// pulumirpc), not a copy of upstream's.
//
// What it implements: the resource `command:remote:Command` with the inputs
// and behaviour the SDK documents (see inputs.go for the properties and their
// defaults, ssh.go for the connection):
//   - create runs `create`; update runs `update`, or `create` when `update` is
//     unset; delete runs `delete` when set. A change of `triggers` or
//     `connection` replaces the resource, any other input change updates it,
//     and no change runs nothing;
//   - with addPreviousOutputInEnv (default true) update and delete see the
//     previous stdout/stderr as PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR;
//   - SSH through golang.org/x/crypto/ssh: private key (optionally encrypted),
//     password (also as keyboard-interactive) or an SSH agent; an optional
//     pinned host key; dial retries (dialErrorLimit, perDialTimeout); one jump
//     host (`proxy`);
//   - stdout/stderr are captured as outputs and streamed to the engine log line
//     by line as `logging` allows; a non-zero exit fails the step with the exit
//     status and the tail of stderr (also with logging "none": the project's
//     scripts keep secrets out of stderr, and the operator must see why a step
//     failed);
//   - previews run nothing and report stdout/stderr as unknown.
//
// A failed create records nothing (the next `up` creates again) and a failed
// update keeps the previous state (the next `up` updates again). customTimeouts
// and the engine's Cancel (Ctrl-C) abort a running command's SSH connection;
// whether the remote process stops with it is up to the server (see run).
// Refresh keeps the state as it is.
//
// What it does not implement: `command:local:Command`, `command:local:run`,
// `command:remote:CopyToRemote`, `CopyFile`, provider configuration, and
// Construct/Call/Invoke. It does not accept secrets from the engine
// (Configure answers acceptSecrets=false): the engine then sends plain values
// and marks every output that has the name of a secret input (connection,
// stdin, ...) secret again before it writes the state. stdout and stderr are
// therefore only secret when the program asks for it with
// additionalSecretOutputs, as the project's code does for secret-bearing files.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	packageName = "command"
	commandType = "command:remote:Command"

	// pluginVersion is what GetPluginInfo reports. The SDK asks the engine for
	// version 1.2.1; the engine accepts any plugin found on PATH and only warns
	// when the reported version is not >= the requested one. Semver ignores
	// build metadata in comparisons, so "1.2.1+cilium-bgp" satisfies ">=1.2.1"
	// without that warning while still telling a reader that this is our build.
	pluginVersion = "1.2.1+cilium-bgp"
)

//go:embed schema.json
var schemaJSON []byte

func main() {
	err := provider.Main(packageName, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return newCommandProvider(host), nil
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

// commandProvider serves the ResourceProvider gRPC service. The engine may call
// it concurrently for many resources; it keeps no per-resource state.
type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	// host is the engine's log sink; nil when the plugin was started without an
	// engine address (attach mode), in which case nothing is logged.
	host *provider.HostClient

	// ctx is cancelled by the engine's Cancel call (e.g. on Ctrl-C), which
	// aborts every dial and every running remote command.
	ctx    context.Context
	cancel context.CancelFunc
}

func newCommandProvider(host *provider.HostClient) *commandProvider {
	ctx, cancel := context.WithCancel(context.Background())
	return &commandProvider{host: host, ctx: ctx, cancel: cancel}
}

// --- plugin metadata and provider configuration ----------------------------------

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: pluginVersion}, nil
}

// GetSchema returns a schema for package `command` that describes only what
// this plugin implements. The engine does not need it for `up`; tools such as
// `pulumi package get-schema` do.
func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	var schema map[string]any
	if err := json.Unmarshal(schemaJSON, &schema); err != nil {
		return nil, fmt.Errorf("embedded schema.json: %w", err)
	}
	schema["version"] = pluginVersion
	out, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(out)}, nil
}

// CheckConfig accepts the provider inputs unchanged: there is no provider
// configuration, and the default provider's inputs only carry `version`.
func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig reports a change of the provider's inputs as an in-place update,
// never a replacement: nothing in them affects the resources it manages.
func (p *commandProvider) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds := req.GetOldInputs()
	if olds == nil {
		olds = req.GetOlds()
	}
	oldMap, err := unmarshal(olds, "olds", true)
	if err != nil {
		return nil, err
	}
	newMap, err := unmarshal(req.GetNews(), "news", true)
	if err != nil {
		return nil, err
	}
	if oldMap.DeepEquals(newMap) {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{
		// The engine strips secret markers before calling us and re-marks the
		// same-named outputs secret itself (see the package comment).
		AcceptSecrets: false,
		// Create/Update are called with preview=true, so that a preview shows
		// stdout/stderr as unknown instead of guessing them.
		SupportsPreview: true,
		AcceptResources: false,
		AcceptOutputs:   false,
	}, nil
}

func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented,
		"%s is not implemented by this pulumi-resource-command (cilium-bgp's stand-in implements only %s)",
		req.GetTok(), commandType)
}

// --- resource lifecycle ---------------------------------------------------------------

// resourceType returns the request's type token, from the URN when the engine
// did not send it separately, and rejects every type but remote.Command.
func resourceType(typ, urn string) error {
	t := tokens.Type(typ)
	if t == "" {
		t = resource.URN(urn).Type()
	}
	if t != commandType {
		return fmt.Errorf("resource type %s is not implemented by this pulumi-resource-command "+
			"(cilium-bgp's stand-in for pulumi-command implements only %s)", t, commandType)
	}
	return nil
}

// Check applies the documented defaults and validates the inputs. Unknown
// values (preview) are accepted as they are.
func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "news", true)
	if err != nil {
		return nil, err
	}
	applyDefaults(news)
	_, failures := parseInputs(news)
	inputs, err := marshal(news, "inputs", true)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

// Diff compares the old inputs with the new ones (see diffInputs).
func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	// Engines since 3.x send the old inputs; the old outputs (inputs plus
	// stdout/stderr) are the fallback for states written without them.
	olds := req.GetOldInputs()
	if olds == nil {
		olds = req.GetOlds()
	}
	oldMap, err := unmarshal(olds, "olds", true)
	if err != nil {
		return nil, err
	}
	newMap, err := unmarshal(req.GetNews(), "news", true)
	if err != nil {
		return nil, err
	}
	return diffInputs(oldMap, newMap, req.GetIgnoreChanges()), nil
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	props, err := unmarshal(req.GetProperties(), "properties", req.GetPreview())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		outs, err := previewOutputs(props)
		return &pulumirpc.CreateResponse{Properties: outs}, err
	}
	in, err := inputsOrError(props)
	if err != nil {
		return nil, err
	}

	stdout, stderr := "", ""
	if in.create != "" {
		ctx, cancel := p.operationContext(ctx, req.GetTimeout())
		defer cancel()
		stdout, stderr, err = p.run(ctx, urn, in, "create", in.create, nil)
		if err != nil {
			return nil, err
		}
	}

	id, err := resource.NewUniqueHex(urn.Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	outs, err := outputs(props, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: outs}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	news, err := unmarshal(req.GetNews(), "news", req.GetPreview())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		outs, err := previewOutputs(news)
		return &pulumirpc.UpdateResponse{Properties: outs}, err
	}
	olds, err := unmarshal(req.GetOlds(), "olds", false)
	if err != nil {
		return nil, err
	}
	in, err := inputsOrError(news)
	if err != nil {
		return nil, err
	}

	// As upstream: `update` when given, otherwise `create` again.
	op, cmd := "update", in.update
	if cmd == "" {
		op, cmd = "create", in.create
	}
	// Nothing to run: keep what the last run produced.
	stdout, stderr := stringProp(olds, "stdout"), stringProp(olds, "stderr")
	if cmd != "" {
		ctx, cancel := p.operationContext(ctx, req.GetTimeout())
		defer cancel()
		stdout, stderr, err = p.run(ctx, urn, in, op, cmd, previousOutputEnv(in, olds))
		if err != nil {
			return nil, err
		}
	}
	outs, err := outputs(news, stdout, stderr)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: outs}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	// The state's outputs hold every input (including the connection used to
	// create the resource) plus the last stdout/stderr.
	olds, err := unmarshal(req.GetProperties(), "properties", false)
	if err != nil {
		return nil, err
	}
	in, err := inputsOrError(olds)
	if err != nil {
		return nil, err
	}
	if in.delete == "" {
		return &emptypb.Empty{}, nil
	}
	ctx, cancel := p.operationContext(ctx, req.GetTimeout())
	defer cancel()
	if _, _, err := p.run(ctx, resource.URN(req.GetUrn()), in, "delete", in.delete, previousOutputEnv(in, olds)); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read (refresh, import) cannot learn anything about a command that ran in the
// past, so the state stays as it is, as upstream does.
func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := resourceType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{
		Id:         req.GetId(),
		Properties: req.GetProperties(),
		Inputs:     req.GetInputs(),
	}, nil
}

// --- helpers ---------------------------------------------------------------------------

// operationContext bounds one create/update/delete by the request, the
// resource's customTimeouts (seconds; 0 = none) and the provider's Cancel.
func (p *commandProvider) operationContext(ctx context.Context, timeoutSeconds float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(p.ctx, func() { cancel(errors.New("cancelled by the engine")) })
	if timeoutSeconds > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeoutCause(ctx, time.Duration(timeoutSeconds*float64(time.Second)),
			fmt.Errorf("custom timeout of %gs exceeded", timeoutSeconds))
		return ctx, func() { cancelTimeout(); stop(); cancel(nil) }
	}
	return ctx, func() { stop(); cancel(nil) }
}

// inputsOrError parses fully known inputs, turning validation failures into one
// error (Check has already reported them, so this only guards odd states).
func inputsOrError(props resource.PropertyMap) (commandInputs, error) {
	in, failures := parseInputs(props)
	if len(failures) > 0 {
		errs := make([]error, 0, len(failures))
		for _, f := range failures {
			errs = append(errs, fmt.Errorf("%s: %s", f.GetProperty(), f.GetReason()))
		}
		return in, fmt.Errorf("invalid inputs: %w", errors.Join(errs...))
	}
	return in, nil
}

// previousOutputEnv is PULUMI_COMMAND_STDOUT/STDERR from the last run, when
// addPreviousOutputInEnv allows it.
func previousOutputEnv(in commandInputs, olds resource.PropertyMap) map[string]string {
	if !in.addPreviousOutputInEnv {
		return nil
	}
	return map[string]string{
		"PULUMI_COMMAND_STDOUT": stringProp(olds, "stdout"),
		"PULUMI_COMMAND_STDERR": stringProp(olds, "stderr"),
	}
}

// outputs are the inputs plus stdout and stderr, as upstream's state holds.
func outputs(inputs resource.PropertyMap, stdout, stderr string) (*structpb.Struct, error) {
	outs := inputs.Copy()
	outs["stdout"] = resource.NewProperty(stdout)
	outs["stderr"] = resource.NewProperty(stderr)
	return marshal(outs, "outputs", false)
}

// previewOutputs are the inputs plus unknown stdout and stderr.
func previewOutputs(inputs resource.PropertyMap) (*structpb.Struct, error) {
	outs := inputs.Copy()
	outs["stdout"] = resource.MakeComputed(resource.NewProperty(""))
	outs["stderr"] = resource.MakeComputed(resource.NewProperty(""))
	return marshal(outs, "outputs", true)
}

// logf sends one line to the engine's log for the resource. Errors are
// ignored: a lost log line must not fail the step.
func (p *commandProvider) logf(ctx context.Context, sev diag.Severity, urn resource.URN, format string, args ...any) {
	if p.host == nil {
		return
	}
	_ = p.host.Log(ctx, sev, urn, fmt.Sprintf(format, args...))
}

// statusf shows a transient message (e.g. a dial retry) in the progress view.
func (p *commandProvider) statusf(ctx context.Context, urn resource.URN, format string, args ...any) {
	if p.host == nil {
		return
	}
	_ = p.host.LogStatus(ctx, diag.Info, urn, fmt.Sprintf(format, args...))
}

// unmarshal decodes a gRPC property struct. Secrets never arrive (we do not
// accept them); unknowns only in previews and Check/Diff.
func unmarshal(s *structpb.Struct, label string, keepUnknowns bool) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label:          label,
		KeepUnknowns:   keepUnknowns,
		RejectUnknowns: !keepUnknowns,
		SkipNulls:      true,
	})
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = resource.PropertyMap{}
	}
	return m, nil
}

func marshal(m resource.PropertyMap, label string, keepUnknowns bool) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label:        label,
		KeepUnknowns: keepUnknowns,
		SkipNulls:    true,
	})
}
