package templates_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/templates"
	"github.com/eventdelivery/eventdelivery/templates/publish"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, …
	args string
}

// stage is one FROM and the instructions under it.
type stage struct {
	from  instruction
	instr []instruction
}

// parseDockerfile reads the instructions of a Dockerfile: comments and blank lines
// dropped, backslash continuations joined. Global ARGs (before the first FROM) come back
// as args.
func parseDockerfile(t *testing.T, path string) (args map[string]string, stages []stage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	args = map[string]string{}
	var cur strings.Builder
	start := 0
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(rest), " ")}
		cur.Reset()
		switch {
		case in.cmd == "FROM":
			stages = append(stages, stage{from: in})
		case len(stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		case len(stages) == 0:
			t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
		default:
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
		}
	}
	return args, stages
}

// shellWords splits a command line on spaces, honouring double quotes.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

var argRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// TestDockerfileMatchesPublish keeps templates/Dockerfile equivalent to the image that
// templates/publish builds: same base image, same binary build, same path, env and label,
// nothing else changed in the final image.
func TestDockerfileMatchesPublish(t *testing.T) {
	const path = "Dockerfile"
	const fix = "templates/Dockerfile and templates/publish must build the same image: change both"
	args, stages := parseDockerfile(t, path)
	if len(stages) != 2 {
		t.Fatalf("%s has %d stages, want 2 (build, then the template image)", path, len(stages))
	}
	build, final := stages[0], stages[1]

	// The final image is the launcher base, for linux/amd64.
	from := strings.Fields(final.from.args)
	if len(from) != 2 || from[0] != "--platform=linux/amd64" {
		t.Fatalf("%s:%d: FROM %s, want FROM --platform=linux/amd64 ${BASE_IMAGE}", path, final.from.line, final.from.args)
	}
	base := argRef.ReplaceAllStringFunc(from[1], func(m string) string { return args[argRef.FindStringSubmatch(m)[1]] })
	if base != templates.DefaultBaseImage {
		t.Errorf("%s:%d: base image %q, publish's default is %q; %s", path, final.from.line, base, templates.DefaultBaseImage, fix)
	}

	// The build stage: the Go of go.mod, building the way publish.Build does.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || args["GO_VERSION"] != string(goVersion[1]) {
		t.Errorf("%s: ARG GO_VERSION=%s, go.mod says go %s: build with the module's toolchain", path, args["GO_VERSION"], goVersion[1])
	}
	stageName := ""
	if f := strings.Fields(build.from.args); len(f) >= 2 && strings.EqualFold(f[len(f)-2], "AS") {
		stageName = f[len(f)-1]
	}
	var out string
	for _, in := range build.instr {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		words := shellWords(in.args)
		i := slices.Index(words, "go")
		if i < 0 {
			t.Fatalf("%s:%d: RUN %s: no go command", path, in.line, in.args)
		}
		if env := words[:i]; !slices.Equal(env, publish.BuildEnv) {
			t.Errorf("%s:%d: build environment %q, publish builds with %q; %s", path, in.line, env, publish.BuildEnv, fix)
		}
		if o := slices.Index(words, "-o"); o > 0 && o+1 < len(words) {
			out = words[o+1]
		}
		if want := append([]string{"go"}, publish.BuildArgs("${VERSION}", out)...); !slices.Equal(words[i:], want) {
			t.Errorf("%s:%d: build command\n  %q\npublish builds with\n  %q\n%s", path, in.line, words[i:], want, fix)
		}
	}
	if out == "" {
		t.Fatalf("%s: the build stage has no RUN … go build -o FILE", path)
	}

	// The final stage: exactly what publish.Image adds.
	var copies, envs, labels []string
	for _, in := range final.instr {
		switch in.cmd {
		case "ARG":
		case "COPY":
			copies = append(copies, in.args)
		case "ENV":
			envs = append(envs, in.args)
		case "LABEL":
			labels = append(labels, in.args)
		default:
			t.Errorf("%s:%d: %s in the template image; publish does no such thing (and keeps the base's entrypoint); %s", path, in.line, in.cmd, fix)
		}
	}
	if want := []string{"--from=" + stageName + " " + out + " " + templates.BinaryPath}; !slices.Equal(copies, want) {
		t.Errorf("%s: COPY %q, want %q; %s", path, copies, want, fix)
	}
	if want := []string{templates.BinaryEnv + "=" + templates.BinaryPath}; !slices.Equal(envs, want) {
		t.Errorf("%s: ENV %q, want %q; %s", path, envs, want, fix)
	}
	if want := []string{templates.VersionLabel + "=${VERSION}"}; !slices.Equal(labels, want) {
		t.Errorf("%s: LABEL %q, want %q; %s", path, labels, want, fix)
	}
}
