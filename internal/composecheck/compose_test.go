package composecheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/require"
)

const module = "github.com/zdmhq/zdm"

// notSetInCompose lists, per program, variables it reads that compose leaves unset on
// purpose, each with the reason. Every service spells out its configuration, but for how
// to reach a secured Temporal (securedTemporal) and the fleet's databases.
var notSetInCompose = map[string]map[string]string{
	"./worker": {"ZDM_TARGET_ENVS": "names the variables of a fleet's databases (zdm start --targets); compose's stack has one database, DATABASE_URL"},
}

// securedTemporal says why compose leaves a variable of the Temporal client settings
// (internal/temporalconn) unset, or "" when it is not one: compose's Temporal servers are
// plaintext on compose's own network, so TLS, API keys and profile files are for the
// clusters people point the workers at themselves.
func securedTemporal(v string) string {
	switch {
	case v == "TEMPORAL_ADDRESS" || v == "TEMPORAL_NAMESPACE":
		return ""
	case strings.HasPrefix(v, "TEMPORAL_CODEC_"):
		return "read by the SDK's envconfig; zdm dials without a remote codec"
	case strings.HasPrefix(v, "TEMPORAL_"):
		return "TLS, API key and profile of a secured Temporal; compose's own is plaintext on its network"
	case v == "HOME" || v == "XDG_CONFIG_HOME":
		return "where the temporal CLI's profile file is looked for; the image has none"
	}
	return ""
}

func root(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// --- the compose file ------------------------------------------------------------------

type service struct {
	Image       string `yaml:"image"`
	Build       any    `yaml:"build"`
	Command     any    `yaml:"command"`
	Environment any    `yaml:"environment"`
	Expose      []any  `yaml:"expose"`
	Ports       []any  `yaml:"ports"`
	DependsOn   any    `yaml:"depends_on"`
	Volumes     []any  `yaml:"volumes"`
	Profiles    []any  `yaml:"profiles"`
	Healthcheck *struct {
		Test any `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "docker-compose.yml"))
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(data, &f), "docker-compose.yml")
	require.NotEmpty(t, f.Services)
	return f
}

// rawEnv is a service's environment as written, in map or list form.
func (s service) rawEnv() map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

func (s service) command() []string {
	switch c := s.Command.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, a := range c {
			out = append(out, fmt.Sprint(a))
		}
		return out
	}
	return nil
}

// containerPorts are the ports a service says it serves: expose, and the container side
// of ports.
func (s service) containerPorts() []string {
	var out []string
	for _, e := range s.Expose {
		out = append(out, strings.TrimSuffix(fmt.Sprint(e), "/tcp"))
	}
	return append(out, s.publishedPorts()...)
}

func (s service) publishedPorts() []string {
	var out []string
	for _, p := range s.Ports {
		v := interpolate(fmt.Sprint(p))
		out = append(out, strings.TrimSuffix(v[strings.LastIndex(v, ":")+1:], "/tcp"))
	}
	return out
}

// buildsZdm says whether the service runs the Dockerfile's default image, the one with
// the zdm programs (the temporal target is another image).
func (s service) buildsZdm() bool {
	switch b := s.Build.(type) {
	case string:
		return true
	case map[string]any:
		target, _ := b["target"].(string)
		return target == "" || target == "zdm"
	}
	return false
}

// dependsOn maps each service waited for to the condition.
func (s service) dependsOn() map[string]string {
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			out[fmt.Sprint(n)] = "service_started"
		}
	case map[string]any:
		for n, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			out[n] = cond
		}
	}
	return out
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves ${VAR:-default} as compose does with VAR unset.
func interpolate(s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpolation.FindStringSubmatch(m)
		if strings.HasSuffix(sub[2], "-") {
			return sub[3]
		}
		return ""
	})
}

// --- the programs ----------------------------------------------------------------------

var dockerBuild = regexp.MustCompile(`-o\s+\S*/([\w.-]+)\s+(\./[\w./-]+)`)

// dockerPrograms maps each binary the Dockerfile builds to its package (./worker).
func dockerPrograms(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "Dockerfile"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, m := range dockerBuild.FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = m[2]
	}
	require.NotEmpty(t, out, "the Dockerfile builds no program (go build -o DIR/NAME ./PKG)")
	return out
}

func goList(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// fn names a top-level function ("F") or method ("T.M") of a package.
type fn struct{ pkg, name string }

// envReads finds the environment variables a program reads, with where. A read is a
// name passed to a getenv-like call (os.Getenv, os.LookupEnv, env("X", def),
// e.Getenv("X"), orEnv(v, "X", def)...) or an `env:"X"` struct tag, in a function of
// this module that the program can reach: from main, init functions and package-level
// variables, through the functions they name. Methods all count as reachable (interfaces
// and reflection call them: activities are), so the result errs towards reading more.
// Test files are left out.
func envReads(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	list := goList(t, "-deps", "-f", `{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}}`, pkg)
	type file struct {
		pkg string
		ast *ast.File
	}
	var files []file
	consts := map[string]map[string]string{} // package -> const -> string value
	names := map[string]string{}             // package path -> package name
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) < 3 || !scanned(parts[0]) {
			continue
		}
		consts[parts[0]] = map[string]string{}
		for _, name := range strings.Fields(parts[2]) {
			f, err := parser.ParseFile(fset, filepath.Join(parts[1], name), nil, parser.SkipObjectResolution)
			require.NoError(t, err)
			files = append(files, file{parts[0], f})
			names[parts[0]] = f.Name.Name
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, spec := range g.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								if s, ok := stringLit(vs.Values[i]); ok {
									consts[parts[0]][n.Name] = s
								}
							}
						}
					}
				}
			}
		}
	}
	funcs := map[fn]bool{} // top-level functions, not methods
	for _, f := range files {
		for _, d := range f.ast.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fn{f.pkg, fd.Name.Name}] = true
			}
		}
	}

	edges := map[fn][]fn{}
	reads := map[fn]map[string][]string{}
	var roots []fn
	scan := func(owner fn, pkgPath string, imports map[string]string, n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			var found []string
			switch n := n.(type) {
			case *ast.Ident:
				if funcs[fn{pkgPath, n.Name}] {
					edges[owner] = append(edges[owner], fn{pkgPath, n.Name})
				}
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && imports[x.Name] != "" {
					edges[owner] = append(edges[owner], fn{imports[x.Name], n.Sel.Name})
					return false
				}
			case *ast.CallExpr:
				if readsEnv(n.Fun) {
					for _, a := range n.Args {
						if s, ok := stringLit(a); ok {
							found = append(found, s)
						} else if id, ok := a.(*ast.Ident); ok && consts[pkgPath][id.Name] != "" {
							found = append(found, consts[pkgPath][id.Name])
						}
					}
				}
			case *ast.Field:
				if n.Tag != nil {
					tag, _ := strconv.Unquote(n.Tag.Value)
					if v, ok := reflectTag(tag, "env"); ok {
						found = append(found, v)
					}
				}
			}
			for _, s := range found {
				if envName.MatchString(s) {
					p := fset.Position(n.Pos())
					rel, _ := filepath.Rel(root(t), p.Filename)
					if reads[owner] == nil {
						reads[owner] = map[string][]string{}
					}
					reads[owner][s] = append(reads[owner][s], fmt.Sprintf("%s:%d", rel, p.Line))
				}
			}
			return true
		})
	}
	for i, f := range files {
		imports := map[string]string{} // local name -> path, for this module's packages
		for _, im := range f.ast.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if name, ok := names[path]; ok {
				if im.Name != nil {
					name = im.Name.Name
				}
				imports[name] = path
			}
		}
		for j, d := range f.ast.Decls {
			owner := fn{f.pkg, fmt.Sprintf("decl %d.%d", i, j)}
			switch d := d.(type) {
			case *ast.FuncDecl:
				switch {
				case d.Recv == nil:
					owner.name = d.Name.Name
					if d.Name.Name == "init" || (d.Name.Name == "main" && f.ast.Name.Name == "main") {
						roots = append(roots, owner)
					}
				default: // a method
					roots = append(roots, owner)
				}
			default: // package-level variables and types
				roots = append(roots, owner)
			}
			scan(owner, f.pkg, imports, d)
		}
	}

	out := map[string][]string{}
	seen := map[fn]bool{}
	for len(roots) > 0 {
		f := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if seen[f] {
			continue
		}
		seen[f] = true
		for v, where := range reads[f] {
			out[v] = append(out[v], where...)
		}
		roots = append(roots, edges[f]...)
	}
	return out
}

// readsOnBehalf are packages outside this module that read the environment for the
// programs: the SDK's envconfig reads the TEMPORAL_* variables (TLS, API key, profile),
// as the temporal CLI does.
var readsOnBehalf = []string{"go.temporal.io/sdk/contrib/envconfig"}

// scanned says whether envReads looks into a package.
func scanned(pkg string) bool {
	return pkg == module || strings.HasPrefix(pkg, module+"/") || slices.Contains(readsOnBehalf, pkg)
}

func readsEnv(fun ast.Expr) bool {
	var name string
	switch f := fun.(type) {
	case *ast.Ident:
		name = f.Name
	case *ast.SelectorExpr:
		name = f.Sel.Name
	default:
		return false
	}
	name = strings.ToLower(name)
	switch name {
	case "setenv", "unsetenv", "clearenv", "environ", "expandenv":
		return false
	}
	return strings.Contains(name, "env")
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

func reflectTag(tag, key string) (string, bool) {
	for _, part := range strings.Fields(tag) {
		k, v, ok := strings.Cut(part, ":")
		if ok && k == key {
			v, err := strconv.Unquote(v)
			if err == nil {
				name, _, _ := strings.Cut(v, ",")
				return name, true
			}
		}
	}
	return "", false
}

// zdmServices are the services built from this repository, with the package each runs.
func zdmServices(t *testing.T, f composeFile) map[string]string {
	t.Helper()
	programs := dockerPrograms(t)
	out := map[string]string{}
	for name, s := range f.Services {
		if !s.buildsZdm() {
			continue
		}
		cmd := s.command()
		require.NotEmpty(t, cmd, "service %s: give it a command naming the zdm program it runs", name)
		pkg, ok := programs[filepath.Base(cmd[0])]
		require.True(t, ok, "service %s runs %q, which the Dockerfile does not build", name, cmd[0])
		out[name] = pkg
	}
	require.NotEmpty(t, out, "no service is built from this repository")
	return out
}

// --- tests -----------------------------------------------------------------------------

func TestDockerfileBuildsEveryProgram(t *testing.T) {
	built := map[string]bool{}
	for _, pkg := range dockerPrograms(t) {
		_, err := os.Stat(filepath.Join(root(t), pkg))
		require.NoError(t, err, "the Dockerfile builds %s, which does not exist", pkg)
		built[module+strings.TrimPrefix(pkg, ".")] = true
	}
	for _, pkg := range strings.Fields(goList(t, "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./...")) {
		if notShipped[pkg] != "" {
			continue
		}
		require.True(t, built[pkg], "main package %s is not built by the Dockerfile: add a go build line for it, or list it in notShipped with the reason", pkg)
	}
}

// notShipped are main packages the image leaves out on purpose, with why.
var notShipped = map[string]string{
	module + "/internal/benchpg/report": "make bench-pgbench's reader of pgbench logs and workflow histories: a development tool",
}

func TestComposeSetsWhatTheProgramsRead(t *testing.T) {
	f := loadCompose(t)
	for name, pkg := range zdmServices(t, f) {
		t.Run(name, func(t *testing.T) {
			reads := envReads(t, pkg)
			require.NotEmpty(t, reads, "found no environment variable that %s reads: is the scan broken?", pkg)
			t.Logf("%s reads %s", pkg, strings.Join(slices.Sorted(maps.Keys(reads)), " "))
			set := f.Services[name].rawEnv()
			skip := notSetInCompose[pkg]
			var problems []string
			for v := range set {
				if _, ok := reads[v]; !ok {
					problems = append(problems, fmt.Sprintf("compose sets %s on %s, but %s never reads it: remove it (or fix its name)", v, name, pkg))
				}
			}
			for v, where := range reads {
				if _, ok := set[v]; !ok && skip[v] == "" && securedTemporal(v) == "" {
					problems = append(problems, fmt.Sprintf("%s reads %s (%s), but compose does not set it on %s: set it, or list it in notSetInCompose with the reason",
						pkg, v, strings.Join(where, ", "), name))
				}
			}
			for v := range skip {
				if _, ok := reads[v]; !ok {
					problems = append(problems, fmt.Sprintf("notSetInCompose lists %s for %s, which no longer reads it", v, pkg))
				}
			}
			sort.Strings(problems)
			require.Empty(t, problems)
		})
	}
}

var hostPort = regexp.MustCompile(`(?:^|//|@)([A-Za-z0-9_.-]*):(\d+)`)

// Every host:port in an environment value names a service that serves that port and is
// waited for until healthy; a listen address is on all interfaces and its port published.
func TestComposeAddresses(t *testing.T) {
	f := loadCompose(t)
	var problems []string
	for name, s := range f.Services {
		waits := s.dependsOn()
		for v, raw := range s.rawEnv() {
			value := interpolate(raw)
			for _, m := range hostPort.FindAllStringSubmatch(value, -1) {
				host, port := m[1], m[2]
				switch target, isService := f.Services[host]; {
				case isService:
					if !slices.Contains(target.containerPorts(), port) {
						problems = append(problems, fmt.Sprintf("%s: %s=%s: service %s does not serve port %s (expose: %v)", name, v, value, host, port, target.containerPorts()))
					}
					if waits[host] != "service_healthy" {
						problems = append(problems, fmt.Sprintf("%s: %s names %s, so %s needs depends_on %s with condition service_healthy", name, v, host, name, host))
					}
					if target.Healthcheck == nil {
						problems = append(problems, fmt.Sprintf("%s: %s is waited for but has no healthcheck", name, host))
					}
				case host == "" || host == "0.0.0.0":
					if !slices.Contains(s.containerPorts(), port) || !slices.Contains(s.publishedPorts(), port) {
						problems = append(problems, fmt.Sprintf("%s: %s listens on port %s, which it does not both expose and publish", name, v, port))
					}
					if s.Healthcheck == nil || !strings.Contains(fmt.Sprint(s.Healthcheck.Test), "127.0.0.1:"+port+"/") {
						problems = append(problems, fmt.Sprintf("%s: %s listens on port %s, which its healthcheck does not ask", name, v, port))
					}
				case host == "127.0.0.1" || host == "localhost":
					if strings.HasSuffix(v, "_ADDR") {
						problems = append(problems, fmt.Sprintf("%s: %s=%s listens on the container's loopback, out of reach of other containers and the host: use 0.0.0.0", name, v, value))
					}
					// Otherwise a URL for people's browsers, on a published port.
				default:
					problems = append(problems, fmt.Sprintf("%s: %s=%s names host %s, which is no service in docker-compose.yml", name, v, value, host))
				}
			}
		}
	}
	sort.Strings(problems)
	require.Empty(t, problems)
}

// Passwords and tokens shared between services are the same expression on both sides, so
// overriding one in the environment overrides both.
func TestComposeSharedSecretsAgree(t *testing.T) {
	f := loadCompose(t)
	var db string
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			if strings.Contains(fmt.Sprint(v), "./deploy/postgres:/docker-entrypoint-initdb.d") {
				db = name
			}
		}
	}
	require.NotEmpty(t, db, "no service runs deploy/postgres as its init scripts")
	dbEnv := f.Services[db].rawEnv()

	scripts, err := filepath.Glob(filepath.Join(root(t), "deploy", "postgres", "*.sh"))
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	var script strings.Builder
	for _, p := range scripts {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		script.Write(data)
	}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(script.String(), -1) {
		require.Contains(t, dbEnv, m[1], "deploy/postgres reads $%s, which service %s does not set", m[1], db)
	}
	for v := range dbEnv {
		if !strings.HasPrefix(v, "POSTGRES_") {
			require.Contains(t, script.String(), "$"+v, "service %s sets %s, which deploy/postgres does not read", db, v)
		}
	}

	passwords := map[string]bool{}
	for _, v := range dbEnv {
		passwords[v] = true
	}
	urls := 0
	for name, s := range f.Services {
		for v, raw := range s.rawEnv() {
			u, err := url.Parse(interpolate(raw))
			if err != nil || !strings.HasPrefix(u.Scheme, "postgres") || u.Hostname() != db {
				continue
			}
			urls++
			// The raw password, before interpolation: ${X:-default}.
			rawPassword := raw[strings.Index(raw, u.User.Username()+":")+len(u.User.Username())+1 : strings.LastIndex(raw, "@")]
			require.True(t, passwords[rawPassword], "%s: the password in %s (%s) is none of those service %s creates roles with", name, v, rawPassword, db)
			require.Regexp(t, `(?i)CREATE ROLE `+regexp.QuoteMeta(u.User.Username())+`\b`, script.String(), "%s: %s logs in as %s, which deploy/postgres does not create", name, v, u.User.Username())
			require.Regexp(t, `(?i)CREATE DATABASE `+regexp.QuoteMeta(strings.TrimPrefix(u.Path, "/"))+`\b`, script.String(), "%s: %s uses database %s, which deploy/postgres does not create", name, v, u.Path)
		}
	}
	require.GreaterOrEqual(t, urls, 2, "zdm's and Unleash's database URLs")

	// The worker's admin token is one that Unleash creates.
	unleash := f.Services["unleash"].rawEnv()
	require.Equal(t, unleash["INIT_ADMIN_API_TOKENS"], f.Services["zdm-worker"].rawEnv()["UNLEASH_ADMIN_TOKEN"])
}

func TestComposeVolumesAreNamed(t *testing.T) {
	f := loadCompose(t)
	for name, s := range f.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(fmt.Sprint(v), ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				continue // a bind mount of configuration
			}
			require.Contains(t, f.Volumes, src, "service %s mounts volume %s, which is not declared", name, src)
		}
	}
}

// docker compose (or Debian's docker-compose) accepts the file; make deps-system installs
// the latter.
func TestComposeConfigValidates(t *testing.T) {
	var compose []string
	if exec.Command("docker", "compose", "version").Run() == nil {
		compose = []string{"docker", "compose"}
	} else if p, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{p}
	} else {
		msg := "neither `docker compose` nor docker-compose is installed (make deps-system installs Debian's docker-compose)"
		if os.Getenv("ZDM_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Each profile too: a service only a profile starts is only checked with it.
	for _, profile := range []string{"", "slack", "cluster"} {
		args := append(append([]string{}, compose[1:]...), "-f", "docker-compose.yml")
		if profile != "" {
			args = append(args, "--profile", profile)
		}
		cmd := exec.Command(compose[0], append(args, "config", "-q")...)
		cmd.Dir = root(t)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s:\n%s", strings.Join(cmd.Args, " "), out)
		require.Empty(t, strings.TrimSpace(string(out)), "warnings from %s", strings.Join(cmd.Args, " "))
	}
}
