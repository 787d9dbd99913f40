package demoapp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/Unleash/unleash-client-go/v4"
	unleashctx "github.com/Unleash/unleash-client-go/v4/context"
)

// flagReader answers which mode the flags choose, from the Unleash client's
// last fetch; it never calls the server on the request path.
type flagReader struct {
	client             *unleash.Client
	dualWrite, readNew string
	listener           *flagListener
	closeOnce          sync.Once
}

// openFlags starts an Unleash client and waits, at most cfg.ReadyTimeout,
// until it has fetched the flags once. The client's own WaitForReady has no
// timeout, hence the listener's ready channel.
func openFlags(ctx context.Context, cfg Config, rec *recorder) (*flagReader, error) {
	l := &flagListener{log: cfg.Logger, rec: rec, ready: make(chan struct{})}
	host, _ := os.Hostname()
	client, err := unleash.NewClient(
		unleash.WithUrl(clientAPIURL(cfg.UnleashURL)),
		unleash.WithAppName("zdm-demoapp"),
		unleash.WithInstanceId(host+"-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)),
		unleash.WithCustomHeaders(http.Header{"Authorization": {cfg.UnleashToken}}),
		unleash.WithEnvironment(cfg.UnleashEnvironment),
		unleash.WithRefreshInterval(cfg.RefreshInterval),
		// With metrics on, IsEnabled after Close can block on the metrics channel.
		unleash.WithDisableMetrics(true),
		// The default storage reads and writes one backup file per app name in
		// the temp dir: parallel demo apps would share it, and a new one could
		// start from an old run's flags.
		unleash.WithStorage(&memoryStorage{}),
		unleash.WithListener(l),
	)
	if err != nil {
		return nil, fmt.Errorf("unleash client for %s: %w", cfg.UnleashURL, err)
	}
	f := &flagReader{client: client, dualWrite: cfg.DualWriteFlag, readNew: cfg.ReadNewFlag, listener: l}

	timer := time.NewTimer(cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-l.ready:
		return f, nil
	case <-ctx.Done():
		f.close()
		return nil, fmt.Errorf("stopped while waiting for the first flags from unleash at %s%s: %w",
			cfg.UnleashURL, l.lastErrorSuffix(), ctx.Err())
	case <-timer.C:
		f.close()
		return nil, fmt.Errorf("unleash at %s sent no flags within %s%s: check UNLEASH_URL, UNLEASH_API_TOKEN (a backend token) and that the server is up",
			cfg.UnleashURL, cfg.ReadyTimeout, l.lastErrorSuffix())
	}
}

// mode is the code path the flags choose for one operation of user ("" for none).
func (f *flagReader) mode(user string) Mode {
	return ModeFor(f.enabled(f.dualWrite, user), f.enabled(f.readNew, user))
}

func (f *flagReader) enabled(name, user string) bool {
	if name == "" {
		return false
	}
	if user == "" {
		return f.client.IsEnabled(name)
	}
	return f.client.IsEnabled(name, unleash.WithContext(unleashctx.Context{UserId: user}))
}

func (f *flagReader) close() {
	f.closeOnce.Do(func() { _ = f.client.Close() })
}

// flagListener records the client's problems without flooding the log: a
// message is logged only when it differs from the one before.
type flagListener struct {
	log       *slog.Logger
	rec       *recorder
	ready     chan struct{}
	readyOnce sync.Once

	mu   sync.Mutex
	last string
}

func (l *flagListener) OnError(err error)   { l.problem("error", err) }
func (l *flagListener) OnWarning(err error) { l.problem("warning", err) }
func (l *flagListener) OnReady()            { l.readyOnce.Do(func() { close(l.ready) }) }
func (l *flagListener) OnUpdate()           {}

func (l *flagListener) problem(kind string, err error) {
	msg := err.Error()
	l.rec.flagError(msg)
	l.mu.Lock()
	repeated := msg == l.last
	l.last = msg
	l.mu.Unlock()
	if !repeated {
		l.log.Warn("unleash client "+kind, "err", msg)
	}
}

func (l *flagListener) lastErrorSuffix() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == "" {
		return ""
	}
	return " (last error: " + l.last + ")"
}

// memoryStorage keeps the fetched flags in memory only.
type memoryStorage struct {
	mu   sync.RWMutex
	data map[string]any
}

var _ unleash.Storage = (*memoryStorage)(nil)

func (s *memoryStorage) Init(string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = map[string]any{}
}

func (s *memoryStorage) Reset(data map[string]any, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = data
	return nil
}

func (s *memoryStorage) Load() error    { return nil }
func (s *memoryStorage) Persist() error { return nil }

func (s *memoryStorage) Get(key string) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	return v, ok
}

func (s *memoryStorage) List() []any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]any, 0, len(s.data))
	for _, v := range s.data {
		out = append(out, v)
	}
	return out
}
