// Package guard owns watching an application's health for a guarded switch: it checks
// PromQL with Prometheus' own parser when a file is read, runs the guard's instant
// queries against a Prometheus server's HTTP API (/api/v1/query) and its health URL, and
// says whether each figure is within its threshold.
package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/zdmhq/zdm/internal/spec"
)

func init() { spec.CheckPromQL = ParsePromQL }

// ErrRefused marks a query the server answered but refused (bad PromQL for this server,
// an unknown function) or whose result a guard cannot use (a range vector, a string):
// asking again gives the same answer.
var ErrRefused = errors.New("refused by prometheus")

// ParsePromQL parses expr with Prometheus' parser.
func ParsePromQL(expr string) error {
	_, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	return err
}

// Sample is one value a query returned, with its labels ("" for a scalar).
type Sample struct {
	Labels string  `json:"labels,omitempty"` // e.g. {variant="new"}
	Value  float64 `json:"value"`
}

// Client queries one Prometheus server.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for the server at base (e.g. http://127.0.0.1:9090).
func New(base string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(base, "/"), http: hc}
}

// Query runs an instant query now. A vector gives one sample per series, a scalar one
// sample without labels; NaN samples (0/0, e.g. an error ratio without traffic) are left
// out, as no data.
func (c *Client) Query(ctx context.Context, expr string) ([]Sample, error) {
	form := url.Values{"query": {expr}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus: read answer: %w", err)
	}
	var out struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("prometheus: %s: answer is not the query API's JSON: %.200s", resp.Status, raw)
	}
	if out.Status != "success" {
		err := fmt.Errorf("prometheus: %s: %s: %s", resp.Status, out.ErrorType, out.Error)
		if out.ErrorType == "bad_data" {
			err = fmt.Errorf("%w (%w)", err, ErrRefused)
		}
		return nil, err
	}
	switch out.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(out.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("prometheus: scalar: %w", err)
		}
		f, err := value(v[1])
		if err != nil || math.IsNaN(f) {
			return nil, err
		}
		return []Sample{{Value: f}}, nil
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(out.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("prometheus: vector: %w", err)
		}
		var samples []Sample
		for _, s := range vec {
			f, err := value(s.Value[1])
			if err != nil {
				return nil, err
			}
			if math.IsNaN(f) {
				continue
			}
			samples = append(samples, Sample{Labels: labels(s.Metric), Value: f})
		}
		return samples, nil
	}
	return nil, fmt.Errorf("prometheus: the query gives a %s; a guard needs an instant vector or a scalar (%w)", out.Data.ResultType, ErrRefused)
}

func value(v any) (float64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("prometheus: sample value %v is not a string", v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("prometheus: sample value %q: %w", s, err)
	}
	return f, nil
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Health GETs u and wants a 2xx answer within timeout.
func Health(ctx context.Context, u string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s", timeout)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
