package temporalconn

import (
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"go.temporal.io/sdk/contrib/envconfig"
)

// Env is an environment: the process's (OSEnv) or one a test or the CLI hands in.
type Env = envconfig.EnvLookup

// OSEnv is the process's environment.
var OSEnv Env = envconfig.EnvLookupOS

// Getenv adapts a getenv function (the CLI's App.Getenv) to an Env. environ lists the
// variables for TEMPORAL_GRPC_META_*; nil lists none.
func Getenv(getenv func(string) string, environ func() []string) Env {
	return getenvEnv{getenv, environ}
}

type getenvEnv struct {
	getenv  func(string) string
	environ func() []string
}

func (e getenvEnv) LookupEnv(k string) (string, bool) {
	v := e.getenv(k)
	return v, v != ""
}

func (e getenvEnv) Environ() []string {
	if e.environ == nil {
		return nil
	}
	return e.environ()
}

// nonEmpty treats a variable set to "" as unset (see the package doc).
type nonEmpty struct{ Env }

func (e nonEmpty) LookupEnv(k string) (string, bool) {
	v, ok := e.Env.LookupEnv(k)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

func (e nonEmpty) Environ() []string {
	var out []string
	for _, kv := range e.Env.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" && k != "" {
			out = append(out, kv)
		}
	}
	return out
}

// defaultConfigFile is where the temporal CLI keeps its profiles
// (os.UserConfigDir()/temporalio/temporal.toml), found from env rather than the process
// so that a test's environment decides; empty when env has no home.
func defaultConfigFile(env Env) string {
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir, _ = env.LookupEnv("AppData")
	case "darwin", "ios":
		if home, ok := env.LookupEnv("HOME"); ok {
			dir = filepath.Join(home, "Library", "Application Support")
		}
	default:
		if xdg, ok := env.LookupEnv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(xdg) {
			dir = xdg
		} else if home, ok := env.LookupEnv("HOME"); ok {
			dir = filepath.Join(home, ".config")
		}
	}
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "temporalio", "temporal.toml")
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
