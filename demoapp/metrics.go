package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/zdmhq/zdm/internal/demoapp"
)

// serveMetrics serves the app's metrics at /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, app *demoapp.App) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", app.MetricsHandler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			os.Stderr.WriteString("zdm-demoapp: metrics server: " + err.Error() + "\n")
		}
	}()
	go func() {
		<-ctx.Done()
		stop, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(stop)
	}()
	return ln.Addr(), nil
}

// envFloat is the float in environment variable name, 0 when unset or not a number (run
// refuses a value that is not a number, and New one out of range).
func envFloat(name string) float64 {
	f, _ := strconv.ParseFloat(os.Getenv(name), 64)
	return f
}
