// Command pulumi-language-python is a small language host for Pulumi programs
// and policy packs written in Python, written for this project.
//
// Why it exists: the Pulumi CLI runs a Python program through a plugin named
// `pulumi-language-python`. Upstream builds it from the Go module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, but the Go
// module proxy reachable from our machines refuses every version of that
// module ("403 This module version is not available"), and no prebuilt binary
// can be downloaded. So scripts/install-pulumi builds this host instead.
//
// What it does: it serves the LanguageRuntime gRPC service from the pinned
// sdk/v3 module and delegates all Python work to code that ships with Pulumi:
//   - programs run through `pulumi-language-python-exec` (copied by the install
//     script from the sdk/v3 module zip next to this binary);
//   - policy packs run as `python -u -m pulumi.policy ENGINE PACKDIR` (the
//     module ships in the `pulumi` Python package);
//   - the Python interpreter / virtualenv / toolchain (pip, uv, poetry) choice
//     uses sdk/v3's python/toolchain package, driven by the `runtime.options`
//     of Pulumi.yaml / PulumiPolicy.yaml (virtualenv, toolchain).
//
// Deliberate differences from upstream:
//   - GetRequiredPackages returns nothing: plugins are resolved when the program
//     first registers a resource of that package. Upstream lists every
//     `pulumi-*` distribution installed in the interpreter, which would make
//     every `pulumi up` fail (with automatic plugin acquisition disabled) as soon
//     as an SDK such as pulumi-kubernetes is installed without its provider.
//   - No code generation (GenerateProgram/Project/Package, Pack, Link, Template,
//     RuntimeOptionsPrompts): `pulumi new`, `convert` and `package gen-sdk` for
//     Python are not supported.
//   - No debugger attachment and no type checker run (the `typechecker` option
//     is ignored).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// execScriptName is the Python shim (from the sdk/v3 module) that configures the
// Pulumi runtime and runs the user's program; it is expected next to this binary.
const execScriptName = "pulumi-language-python-exec"

// userActionableExitCode is the exit code pulumi-language-python-exec uses when
// it has already shown the error to the user (the engine then just bails).
const userActionableExitCode = 32

func main() {
	// The engine starts language plugins as `pulumi-language-python ENGINE_ADDRESS`
	// (older engines also passed flags such as -root=...): take the last
	// argument that is not a flag as the engine address and ignore the rest.
	var engineAddress string
	for _, arg := range os.Args[1:] {
		if !strings.HasPrefix(arg, "-") {
			engineAddress = arg
		}
	}

	execScript, err := findExecScript()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}

	host := &languageHost{engineAddress: engineAddress, execScript: execScript}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start the RPC server: %v\n", err)
		os.Exit(1)
	}

	// The engine reads the port we listen on from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: RPC server stopped: %v\n", err)
		os.Exit(1)
	}
}

// findExecScript locates pulumi-language-python-exec next to this executable
// (following symlinks), or falls back to PATH.
func findExecScript() (string, error) {
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		candidate := filepath.Join(filepath.Dir(self), execScriptName)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	if p, err := exec.LookPath(execScriptName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("cannot find %s next to this binary or on PATH", execScriptName)
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	execScript    string
}

func (h *languageHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// resolveToolchain picks the Python interpreter for a program or plugin from its
// runtime options (Pulumi.yaml / PulumiPolicy.yaml `runtime.options`).
func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Auto}
	if info != nil {
		opts.Root = info.GetRootDirectory()
		opts.ProgramDir = info.GetProgramDirectory()
		options := info.GetOptions().AsMap()
		if v, ok := options["virtualenv"].(string); ok {
			opts.Virtualenv = v
		}
		switch tc, _ := options["toolchain"].(string); tc {
		case "", "auto":
			// Auto: uv or poetry if their lock file is found, else pip.
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "uv":
			opts.Toolchain = toolchain.Uv
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		default:
			return nil, fmt.Errorf("unsupported python toolchain %q", tc)
		}
	}
	if opts.ProgramDir == "" {
		opts.ProgramDir = opts.Root
	}
	return toolchain.ResolveToolchain(opts)
}

// programPath is the file or directory to run: ProgramDirectory/EntryPoint.
func programPath(info *pulumirpc.ProgramInfo, fallback string) string {
	if info == nil || info.GetProgramDirectory() == "" {
		if fallback == "" {
			return "."
		}
		return fallback
	}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	return filepath.Join(info.GetProgramDirectory(), entry)
}

func baseEnv(cmd *exec.Cmd) []string {
	if cmd.Env != nil {
		return cmd.Env
	}
	return os.Environ()
}

func (h *languageHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPlugins / GetRequiredPackages: deliberately empty (see the package
// comment); plugins are loaded on demand when resources are registered.
func (h *languageHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// Run executes a Pulumi program: python -u pulumi-language-python-exec --monitor ... PROGRAM ARGS.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	args := []string{"-u", h.execScript}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine())
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("organization", req.GetOrganization())
	add("root_directory", req.GetInfo().GetRootDirectory())
	args = append(args, programPath(req.GetInfo(), req.GetProgram())) //nolint:staticcheck // fallback only
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	// The exec shim expects JSON objects/arrays, never `null`.
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret config keys: %w", err)
	}
	cmd.Env = append(baseEnv(cmd),
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON),
	)
	if req.GetPwd() != "" {
		cmd.Dir = req.GetPwd()
	}
	// The engine shows our stdout/stderr as the program's output.
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == userActionableExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter forwards a child's stdout or stderr to a gRPC stream.
type streamWriter struct {
	mu   *sync.Mutex
	send func(p []byte) error
}

func (w streamWriter) Write(p []byte) (int, error) {
	buf := make([]byte, len(p))
	copy(buf, p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.send(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RunPlugin runs a plugin written in Python. Policy packs (kind "analyzer") run
// as `python -u -m pulumi.policy ENGINE PACKDIR`, which is what the upstream
// host does; any other kind runs the program directly (`python -u PROGRAM ARGS`).
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	ctx := server.Context()
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}

	program := programPath(req.GetInfo(), req.GetProgram()) //nolint:staticcheck // fallback only
	var cmd *exec.Cmd
	if req.GetKind() == "analyzer" {
		cmd, err = tc.ModuleCommand(ctx, "pulumi.policy", append(append([]string{}, req.GetArgs()...), program)...)
	} else {
		cmd, err = tc.Command(ctx, append([]string{"-u", program}, req.GetArgs()...)...)
	}
	if err != nil {
		return err
	}
	// Unbuffered output: the engine reads the plugin's port from its first line.
	cmd.Env = append(append(baseEnv(cmd), req.GetEnv()...), "PYTHONUNBUFFERED=1")
	if req.GetPwd() != "" {
		cmd.Dir = req.GetPwd()
	}

	var mu sync.Mutex
	cmd.Stdout = streamWriter{&mu, func(p []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: p}})
	}}
	cmd.Stderr = streamWriter{&mu, func(p []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: p}})
	}}

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("running plugin %s: %w", program, err)
		}
		code = int32(exitErr.ExitCode()) //nolint:gosec // exit codes fit
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// InstallDependencies creates the virtualenv (if one is configured) and installs
// requirements.txt / pyproject dependencies with the configured toolchain.
func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory() //nolint:staticcheck // fallback only
	}
	var mu sync.Mutex
	stdout := streamWriter{&mu, func(p []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: p})
	}}
	stderr := streamWriter{&mu, func(p []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: p})
	}}
	return tc.InstallDependencies(server.Context(), dir, req.GetUseLanguageVersionTools(), true,
		io.Writer(stdout), io.Writer(stderr))
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata:   map[string]string{"host": "cilium-bgp minimal pulumi-language-python"},
	}, nil
}

func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
