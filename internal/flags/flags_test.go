package flags_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zdmhq/zdm/internal/flags"
)

const testToken = "*:*.very-secret-admin-token"

// call is one request the fake Unleash saw.
type call struct {
	Method, Path, Auth, Body string
}

// fakeUnleash answers each request with the next scripted reply and records the request.
type fakeUnleash struct {
	t       *testing.T
	mu      sync.Mutex
	calls   []call
	replies []reply
}

type reply struct {
	status int
	body   string
}

func newFake(t *testing.T, replies ...reply) (*fakeUnleash, *flags.Client) {
	t.Helper()
	f := &fakeUnleash{t: t, replies: replies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, flags.New(flags.Config{URL: srv.URL + "/", AdminToken: testToken})
}

func (f *fakeUnleash) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call{Method: r.Method, Path: r.URL.EscapedPath(), Auth: r.Header.Get("Authorization"), Body: string(b)})
	var rep reply
	if len(f.replies) > 0 {
		rep, f.replies = f.replies[0], f.replies[1:]
	} else {
		rep = reply{http.StatusInternalServerError, `{"message":"unexpected request"}`}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (f *fakeUnleash) seen() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func unleashError(name, msg string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "message": msg, "details": []map[string]string{{"message": msg}}})
	return string(b)
}

func TestEnsureCreatesReleaseFlag(t *testing.T) {
	f, c := newFake(t, reply{http.StatusCreated, `{"name":"zdm.users.read_new"}`})

	require.NoError(t, c.Ensure(context.Background(), "zdm.users.read_new", "read users.email_v2"))

	calls := f.seen()
	require.Len(t, calls, 1)
	assert.Equal(t, http.MethodPost, calls[0].Method)
	assert.Equal(t, "/api/admin/projects/default/features", calls[0].Path)
	assert.Equal(t, testToken, calls[0].Auth)
	assert.JSONEq(t, `{"name":"zdm.users.read_new","type":"release","description":"read users.email_v2"}`, calls[0].Body)
}

func TestEnsureExistingFlagIsOK(t *testing.T) {
	_, c := newFake(t, reply{http.StatusConflict, unleashError("NameExistsError", "A flag with that name already exists")})

	assert.NoError(t, c.Ensure(context.Background(), "zdm.x", ""))
}

func TestEnsureArchivedFlagIsAClearError(t *testing.T) {
	_, c := newFake(t, reply{http.StatusConflict, unleashError("NameExistsError", "An archived flag with that name already exists")})

	err := c.Ensure(context.Background(), "zdm.old", "")
	require.Error(t, err)
	assert.ErrorIs(t, err, flags.ErrArchived)
	assert.Contains(t, err.Error(), `flag "zdm.old" is archived`)
	assert.Contains(t, err.Error(), "revive")
}

func TestUnauthorizedErrorHasStatusAndMessageButNoToken(t *testing.T) {
	_, c := newFake(t, reply{http.StatusUnauthorized, unleashError("UnauthorizedError", "You must log in to use Unleash.")})

	err := c.Set(context.Background(), "zdm.x", true)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "401")
	assert.Contains(t, msg, "You must log in to use Unleash.")
	assert.Contains(t, msg, `turn flag "zdm.x" on in development`)
	assert.NotContains(t, msg, testToken)
	assert.NotContains(t, msg, "very-secret")

	var apiErr *flags.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
	assert.Equal(t, "UnauthorizedError", apiErr.Name)
}

func TestTokenEchoedByServerIsRedacted(t *testing.T) {
	_, c := newFake(t, reply{http.StatusForbidden, unleashError("ForbiddenError", "token "+testToken+" may not do this")})

	err := c.Archive(context.Background(), "zdm.x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "403")
	assert.Contains(t, err.Error(), "may not do this")
	assert.NotContains(t, err.Error(), testToken)
	assert.NotContains(t, err.Error(), "very-secret")
}

func TestNonJSONErrorBodyIsKept(t *testing.T) {
	_, c := newFake(t, reply{http.StatusBadGateway, "upstream down"})

	_, err := c.Enabled(context.Background(), "zdm.x")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "502")
	assert.Contains(t, err.Error(), "upstream down")
}

func TestSetCreatesMissingFlagThenRetries(t *testing.T) {
	f, c := newFake(t,
		reply{http.StatusNotFound, unleashError("NotFoundError", `There's no feature named "zdm.new" in project "default".`)},
		reply{http.StatusCreated, `{}`},
		reply{http.StatusOK, ``},
	)

	require.NoError(t, c.Set(context.Background(), "zdm.new", false))

	calls := f.seen()
	require.Len(t, calls, 3)
	assert.Equal(t, "/api/admin/projects/default/features/zdm.new/environments/development/off", calls[0].Path)
	assert.Equal(t, "/api/admin/projects/default/features", calls[1].Path)
	assert.Equal(t, calls[0], calls[2])
}

func TestSetUnknownEnvironmentFailsAfterOneRetry(t *testing.T) {
	notFound := reply{http.StatusNotFound, unleashError("NotFoundError", "Could not find environment staging for feature: zdm.x")}
	f, c := newFake(t, notFound, reply{http.StatusConflict, unleashError("NameExistsError", "A flag with that name already exists")}, notFound)

	err := c.Set(context.Background(), "zdm.x", true)
	require.Error(t, err)
	assert.ErrorIs(t, err, flags.ErrNotFound)
	assert.Contains(t, err.Error(), "Could not find environment staging")
	assert.Len(t, f.seen(), 3)
}

func TestSetOnArchivedFlagIsErrArchived(t *testing.T) {
	_, c := newFake(t, reply{http.StatusBadRequest, unleashError("ArchivedFeatureError", "Cannot perform this operation on archived features")})

	err := c.Set(context.Background(), "zdm.x", true)
	assert.ErrorIs(t, err, flags.ErrArchived)
}

func TestEnabledReadsEnvironmentState(t *testing.T) {
	f, c := newFake(t,
		reply{http.StatusOK, `{"name":"zdm.x","environment":"development","enabled":true,"strategies":[]}`},
		reply{http.StatusOK, `{"name":"zdm.x","environment":"development","enabled":false,"strategies":[]}`},
		reply{http.StatusNotFound, unleashError("NotFoundError", "There's no feature named")},
	)
	ctx := context.Background()

	on, err := c.Enabled(ctx, "zdm.x")
	require.NoError(t, err)
	assert.True(t, on)
	on, err = c.Enabled(ctx, "zdm.x")
	require.NoError(t, err)
	assert.False(t, on)
	_, err = c.Enabled(ctx, "zdm.x")
	assert.ErrorIs(t, err, flags.ErrNotFound)

	assert.Equal(t, http.MethodGet, f.seen()[0].Method)
	assert.Equal(t, "/api/admin/projects/default/features/zdm.x/environments/development", f.seen()[0].Path)
}

func TestArchiveMissingFlagIsOK(t *testing.T) {
	f, c := newFake(t, reply{http.StatusNotFound, unleashError("NotFoundError", "No feature flag found")})

	require.NoError(t, c.Archive(context.Background(), "zdm.gone"))
	assert.Equal(t, http.MethodDelete, f.seen()[0].Method)
	assert.Equal(t, "/api/admin/projects/default/features/zdm.gone", f.seen()[0].Path)
}

func TestNamesAndSettingsArePathEscaped(t *testing.T) {
	f := &fakeUnleash{t: t, replies: []reply{{http.StatusOK, ``}}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := flags.New(flags.Config{URL: srv.URL, AdminToken: testToken, Project: "my proj", Environment: "pre/prod"})

	require.NoError(t, c.Set(context.Background(), "odd/name?x", true))
	assert.Equal(t, "/api/admin/projects/my%20proj/features/odd%2Fname%3Fx/environments/pre%2Fprod/on", f.seen()[0].Path)
}

func TestHealthChecksServerAndToken(t *testing.T) {
	f, c := newFake(t,
		reply{http.StatusOK, `{"health":"GOOD"}`},
		reply{http.StatusOK, `{"name":"development","enabled":true}`},
	)
	require.NoError(t, c.Health(context.Background()))
	assert.Equal(t, "/health", f.seen()[0].Path)
	assert.Equal(t, "/api/admin/environments/development", f.seen()[1].Path)

	_, c = newFake(t,
		reply{http.StatusOK, `{"health":"GOOD"}`},
		reply{http.StatusUnauthorized, unleashError("UnauthorizedError", "You must log in to use Unleash.")},
	)
	err := c.Health(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	assert.NotContains(t, err.Error(), testToken)
}

func TestRequestsTimeOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := flags.New(flags.Config{URL: srv.URL, AdminToken: testToken, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})

	start := time.Now()
	err := c.Health(context.Background())
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.NotContains(t, err.Error(), testToken)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c = flags.New(flags.Config{URL: srv.URL, AdminToken: testToken})
	err = c.Health(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestUnreachableServerErrorHasNoToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := flags.New(flags.Config{URL: url, AdminToken: testToken})

	err := c.Ensure(context.Background(), "zdm.x", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `create flag "zdm.x"`)
	assert.NotContains(t, err.Error(), testToken)
}

func TestEmptyNameIsRejectedWithoutARequest(t *testing.T) {
	f, c := newFake(t)
	assert.Error(t, c.Ensure(context.Background(), " ", ""))
	assert.Error(t, c.Set(context.Background(), "", true))
	assert.Empty(t, f.seen())
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("UNLEASH_URL", "")
	t.Setenv("UNLEASH_ADMIN_TOKEN", "")
	t.Setenv("UNLEASH_PROJECT", "")
	t.Setenv("UNLEASH_ENVIRONMENT", "")
	_, err := flags.ConfigFromEnv()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "UNLEASH_URL")
	assert.Contains(t, err.Error(), "UNLEASH_ADMIN_TOKEN")

	t.Setenv("UNLEASH_URL", "http://127.0.0.1:4242")
	_, err = flags.ConfigFromEnv()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "UNLEASH_URL")
	assert.Contains(t, err.Error(), "UNLEASH_ADMIN_TOKEN")

	t.Setenv("UNLEASH_ADMIN_TOKEN", testToken)
	cfg, err := flags.ConfigFromEnv()
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:4242", cfg.URL)
	assert.Equal(t, testToken, cfg.AdminToken)
	c := flags.New(cfg)
	assert.Equal(t, "default", c.Project())
	assert.Equal(t, "development", c.Environment())

	t.Setenv("UNLEASH_ENVIRONMENT", "production")
	t.Setenv("UNLEASH_PROJECT", "payments")
	cfg, err = flags.ConfigFromEnv()
	require.NoError(t, err)
	assert.Equal(t, "production", cfg.Environment)
	assert.Equal(t, "payments", cfg.Project)

	t.Setenv("UNLEASH_URL", "127.0.0.1:4242")
	_, err = flags.ConfigFromEnv()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "UNLEASH_URL")
	assert.NotContains(t, err.Error(), testToken)
}

func TestAPIErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &flags.APIError{StatusCode: 404, Status: "404 Not Found"})
	assert.True(t, errors.Is(err, flags.ErrNotFound))
	assert.False(t, errors.Is(err, flags.ErrArchived))
	assert.True(t, strings.Contains(err.Error(), "404 Not Found"))
}
