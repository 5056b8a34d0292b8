package publish

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/eventdelivery/eventdelivery/templates"
)

// BuildEnv is the environment the pipeline is cross-compiled in, on top of the caller's: a
// static linux/amd64 binary for the launcher base image, with the baseline amd64 instruction
// set so that the same source gives the same bytes on every build machine.
var BuildEnv = []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1"}

// BuildArgs returns the arguments of `go` that build the pipeline binary of version into out,
// from the module root. -trimpath keeps the build machine's paths out of the binary. The
// binary is not stripped: Beam Go resolves functions through the symbol table.
func BuildArgs(version, out string) []string {
	return []string{"build", "-trimpath", "-ldflags", "-X " + templates.VersionSymbol + "=" + version, "-o", out, templates.PipelinePackage}
}

// BuildOptions say how to build the pipeline binary.
type BuildOptions struct {
	// Dir is the module root (the folder of go.mod); empty is the current directory.
	Dir string
	// Version is stamped into the binary.
	Version string
	// Out is the file to write.
	Out string
	// Go is the go command; empty is "go" from PATH.
	Go string
	// Log receives the compiler's output; nil discards it (it is in the error anyway).
	Log io.Writer
}

// Build cross-compiles the pipeline for linux/amd64 with the version stamped in.
func Build(ctx context.Context, o BuildOptions) error {
	if o.Version == "" || o.Out == "" {
		return fmt.Errorf("build: version and output file are required")
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, BuildArgs(o.Version, o.Out)...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), BuildEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if o.Log != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, o.Log), io.MultiWriter(&out, o.Log)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build: %s %s: %w\n%s", goCmd, strings.Join(cmd.Args[1:], " "), err, out.String())
	}
	return checkBinary(o.Out)
}

// checkBinary fails unless path is a linux/amd64 ELF executable.
func checkBinary(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("pipeline binary %s: not an ELF file: %w", path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("pipeline binary %s: %s %s, want a linux/amd64 executable", path, f.Machine, f.Type)
	}
	return nil
}
