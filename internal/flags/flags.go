// Package flags owns switching zdm's feature flags on the Unleash server: it creates the
// release flags that gate a migration's phases, turns them on and off in one environment,
// reads their state and archives them once a migration no longer needs them.
//
// It speaks Unleash's Admin API over net/http with an admin token; applications read the
// same flags with an Unleash client SDK and a backend token, and see a change only after
// their next poll.
//
// Turning a flag on in an environment that has no strategy makes Unleash (8.2.0) add its
// default strategy, flexibleRollout at 100%, so a flag that is on is on for every client
// and no strategy needs to be managed here.
package flags

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const (
	// DefaultProject is the only project open-source Unleash has.
	DefaultProject = "default"
	// DefaultEnvironment is the environment flags are switched in unless configured.
	DefaultEnvironment = "development"
	// DefaultTimeout bounds each Admin API request when Config.HTTPClient is nil.
	DefaultTimeout = 10 * time.Second

	// flagType is Unleash's type for flags that gate a rollout and are removed afterwards.
	flagType = "release"
	// maxBody bounds what is read of a response; Unleash's answers here are small.
	maxBody = 1 << 20
)

var (
	// ErrNotFound reports a flag (or project, or environment) Unleash does not know.
	ErrNotFound = errors.New("not found in Unleash")
	// ErrArchived reports a flag that exists only in Unleash's archive.
	ErrArchived = errors.New("flag is archived in Unleash")
)

// Config says which Unleash server, project and environment the client works on.
type Config struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:4242 (no /api suffix).
	URL string
	// AdminToken is an Admin API token, e.g. "*:*.secret".
	AdminToken string
	// Project defaults to DefaultProject.
	Project string
	// Environment defaults to DefaultEnvironment.
	Environment string
	// HTTPClient defaults to a client with DefaultTimeout.
	HTTPClient *http.Client
}

// ConfigFromEnv reads UNLEASH_URL and UNLEASH_ADMIN_TOKEN (required) and UNLEASH_PROJECT and
// UNLEASH_ENVIRONMENT (optional).
func ConfigFromEnv() (Config, error) {
	cfg := Config{
		URL:         strings.TrimSpace(os.Getenv("UNLEASH_URL")),
		AdminToken:  strings.TrimSpace(os.Getenv("UNLEASH_ADMIN_TOKEN")),
		Project:     strings.TrimSpace(os.Getenv("UNLEASH_PROJECT")),
		Environment: strings.TrimSpace(os.Getenv("UNLEASH_ENVIRONMENT")),
	}
	var missing []string
	if cfg.URL == "" {
		missing = append(missing, "UNLEASH_URL (the Unleash base URL, e.g. http://127.0.0.1:4242)")
	}
	if cfg.AdminToken == "" {
		missing = append(missing, "UNLEASH_ADMIN_TOKEN (an Unleash Admin API token)")
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("flags: not set: %s; `eval \"$(scripts/stack.sh env)\"` sets them for the local stack",
			strings.Join(missing, ", "))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value may hold credentials: name the problem, not the value.
		return Config{}, fmt.Errorf("flags: UNLEASH_URL is not an http(s) URL like http://127.0.0.1:4242")
	}
	return cfg, nil
}

// Client switches feature flags through Unleash's Admin API. It is safe for concurrent use.
type Client struct {
	base    string
	token   string
	project string
	env     string
	http    *http.Client
}

// New returns a client for cfg, filling in defaults.
func New(cfg Config) *Client {
	c := &Client{
		base:    strings.TrimSuffix(strings.TrimRight(cfg.URL, "/"), "/api"),
		token:   cfg.AdminToken,
		project: cfg.Project,
		env:     cfg.Environment,
		http:    cfg.HTTPClient,
	}
	if c.project == "" {
		c.project = DefaultProject
	}
	if c.env == "" {
		c.env = DefaultEnvironment
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	return c
}

// Environment is the environment the client switches flags in.
func (c *Client) Environment() string { return c.env }

// Project is the Unleash project the client's flags live in.
func (c *Client) Project() string { return c.project }

// APIError is a non-2xx answer from Unleash. It never holds the token.
type APIError struct {
	Op         string // what the client was doing, e.g. `turn flag "x" on`
	Method     string
	Path       string
	StatusCode int
	Status     string // e.g. "409 Conflict"
	Name       string // Unleash's error name, e.g. "NameExistsError"
	Message    string // Unleash's message and details
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "(no message)"
	}
	return fmt.Sprintf("unleash: %s: %s %s: %s: %s", e.Op, e.Method, e.Path, e.Status, msg)
}

// Is lets errors.Is match ErrNotFound on a 404 and ErrArchived on Unleash's refusal to
// change an archived flag.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrArchived:
		return e.Name == "ArchivedFeatureError"
	}
	return false
}

func (c *Client) featuresPath() string {
	return "/api/admin/projects/" + url.PathEscape(c.project) + "/features"
}

func (c *Client) featurePath(name string) string {
	return c.featuresPath() + "/" + url.PathEscape(name)
}

func (c *Client) envPath(name string) string {
	return c.featurePath(name) + "/environments/" + url.PathEscape(c.env)
}

// Ensure creates the release flag name in the project, off in every environment. A flag
// that already exists is left as it is; an archived one is an error wrapping ErrArchived,
// since reviving it is a human's decision.
func (c *Client) Ensure(ctx context.Context, name, description string) error {
	op := fmt.Sprintf("create flag %q", name)
	if err := checkName(name); err != nil {
		return err
	}
	body := map[string]any{"name": name, "type": flagType, "description": description}
	err := c.do(ctx, op, http.MethodPost, c.featuresPath(), body, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusConflict {
		if strings.Contains(strings.ToLower(apiErr.Message), "archived") {
			return fmt.Errorf("unleash: flag %q is archived; revive it in the Unleash UI (Archive) or with POST /api/admin/archive/revive/%s, or use another name: %w",
				name, url.PathEscape(name), ErrArchived)
		}
		return nil
	}
	return err
}

// Set turns flag name on or off in the client's environment, creating the flag first if
// Unleash does not know it. Setting a flag to the state it has is a no-op.
func (c *Client) Set(ctx context.Context, name string, on bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	state := "off"
	if on {
		state = "on"
	}
	op := fmt.Sprintf("turn flag %q %s in %s", name, state, c.env)
	path := c.envPath(name) + "/" + state
	err := c.do(ctx, op, http.MethodPost, path, nil, nil)
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	// A 404 may also mean an unknown project or environment: Ensure reports the first, and
	// the retry the second.
	if err := c.Ensure(ctx, name, "created by zdm"); err != nil {
		return err
	}
	return c.do(ctx, op, http.MethodPost, path, nil, nil)
}

// Enabled reports whether flag name is on in the client's environment. An unknown flag is
// an error wrapping ErrNotFound.
func (c *Client) Enabled(ctx context.Context, name string) (bool, error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	var out struct {
		Enabled *bool `json:"enabled"`
	}
	op := fmt.Sprintf("read flag %q in %s", name, c.env)
	if err := c.do(ctx, op, http.MethodGet, c.envPath(name), nil, &out); err != nil {
		return false, err
	}
	if out.Enabled == nil {
		return false, fmt.Errorf("unleash: %s: answer has no \"enabled\" field", op)
	}
	return *out.Enabled, nil
}

// Archive moves flag name to Unleash's archive, where clients no longer see it. A flag that
// does not exist is fine.
func (c *Client) Archive(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := c.do(ctx, fmt.Sprintf("archive flag %q", name), http.MethodDelete, c.featurePath(name), nil, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Health checks that Unleash answers, that it accepts the admin token, and that the
// client's environment exists.
func (c *Client) Health(ctx context.Context) error {
	var h struct {
		Health string `json:"health"`
	}
	if err := c.do(ctx, "check health", http.MethodGet, "/health", nil, &h); err != nil {
		return err
	}
	if h.Health != "" && h.Health != "GOOD" {
		return fmt.Errorf("unleash: check health: server reports %q", h.Health)
	}
	op := fmt.Sprintf("check environment %q with the admin token", c.env)
	return c.do(ctx, op, http.MethodGet, "/api/admin/environments/"+url.PathEscape(c.env), nil, nil)
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("unleash: flag name is empty")
	}
	return nil
}

// do sends one Admin API request and decodes a 2xx JSON answer into out (when non-nil).
func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("unleash: %s: encode request: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("unleash: %s: %w", op, c.redactErr(err))
	}
	req.Header.Set("Authorization", c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("unleash: %s: %w", op, c.redactErr(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("unleash: %s: read answer: %w", op, c.redactErr(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		name, msg := parseError(raw)
		return &APIError{
			Op:         op,
			Method:     method,
			Path:       path,
			StatusCode: resp.StatusCode,
			Status:     resp.Status,
			Name:       name,
			Message:    c.redact(msg),
		}
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("unleash: %s: decode answer: %w", op, err)
	}
	return nil
}

// parseError pulls Unleash's error name and message out of an error body
// ({"name":..., "message":..., "details":[{"message":...}]}), falling back to the raw text.
func parseError(raw []byte) (name, msg string) {
	var e struct {
		Name    string `json:"name"`
		Message string `json:"message"`
		Details []struct {
			Message string `json:"message"`
		} `json:"details"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || (e.Message == "" && len(e.Details) == 0) {
		text := strings.TrimSpace(string(raw))
		if len(text) > 512 {
			text = text[:512] + "..."
		}
		return "", text
	}
	parts := []string{}
	if e.Message != "" {
		parts = append(parts, e.Message)
	}
	for _, d := range e.Details {
		if d.Message != "" && d.Message != e.Message {
			parts = append(parts, d.Message)
		}
	}
	msg = strings.Join(parts, "; ")
	if e.Name != "" {
		msg = e.Name + ": " + msg
	}
	return e.Name, msg
}

// redact removes the token from text a server or transport produced, in case it echoes it.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (c *Client) redactErr(err error) error {
	if c.token == "" || !strings.Contains(err.Error(), c.token) {
		return err
	}
	return &redactedError{msg: c.redact(err.Error()), err: err}
}
