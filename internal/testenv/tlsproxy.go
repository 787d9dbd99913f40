package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TLSServerName is the only name in the server certificates of Certs: a client that
// dials 127.0.0.1 must say it (TEMPORAL_TLS_SERVER_NAME); one that dials localhost
// needs nothing more.
const TLSServerName = "temporal.zdm.test"

// Certs is a certificate authority of a test's own, with a server certificate for
// TLSServerName and localhost and a client certificate, as PEM files in Dir.
type Certs struct {
	Dir                   string
	CACert                string // the CA's certificate
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	caPool                *x509.CertPool
	server                tls.Certificate
}

// NewCerts makes a CA and its two certificates, valid for an hour, in a new directory.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{Dir: dir}
	now := time.Now()

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "zdm test CA " + Suffix()},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	c.CACert = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	c.caPool = x509.NewCertPool()
	c.caPool.AddCert(ca)

	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, dns []string) (certPath, keyPath string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			DNSNames:     dns,
			NotBefore:    now.Add(-time.Minute),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	c.ServerCert, c.ServerKey = leaf("server", 2, x509.ExtKeyUsageServerAuth, []string{TLSServerName, "localhost"})
	c.ClientCert, c.ClientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth, nil)
	c.server, err = tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	require.NoError(t, err)
	return c
}

func writePEM(t testing.TB, dir, name, kind string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
	return p
}

// ProxyConfig is what a TLSProxy asks of its clients.
type ProxyConfig struct {
	Certs *Certs
	// RequireClientCert makes it mTLS: a client must present a certificate of Certs' CA.
	RequireClientCert bool
	// APIKey, when set, is what every gRPC request must carry as
	// "authorization: Bearer <APIKey>"; a connection with a request that does not is
	// closed before the request reaches the backend.
	APIKey string
}

// TLSProxy terminates TLS in front of a plaintext backend (a Temporal dev server, which
// has no TLS of its own) and passes the HTTP/2 stream through.
type TLSProxy struct {
	Addr string
	cfg  ProxyConfig

	mu       sync.Mutex
	rejected []string // why handshakes failed or requests were refused
	accepted int      // requests that passed the API key check
}

// StartTLSProxy listens on a free loopback port until the test ends.
func StartTLSProxy(t testing.TB, backend string, cfg ProxyConfig) *TLSProxy {
	t.Helper()
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cfg.Certs.server}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	if cfg.RequireClientCert {
		tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
		tlsCfg.ClientCAs = cfg.Certs.caPool
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &TLSProxy{Addr: l.Addr().String(), cfg: cfg}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		_ = l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(ctx, tls.Server(conn, tlsCfg), backend)
			}()
		}
	}()
	return p
}

// Rejected lists why connections were refused: failed handshakes, requests without the
// API key.
func (p *TLSProxy) Rejected() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.rejected...)
}

// Accepted is the number of requests that carried the API key.
func (p *TLSProxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *TLSProxy) reject(why string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rejected = append(p.rejected, why)
}

func (p *TLSProxy) serve(ctx context.Context, conn *tls.Conn, backend string) {
	defer conn.Close()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		if !errors.Is(err, io.EOF) {
			p.reject("handshake: " + err.Error())
		}
		return
	}
	back, err := (&net.Dialer{}).DialContext(ctx, "tcp", backend)
	if err != nil {
		p.reject("backend: " + err.Error())
		return
	}
	defer back.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close(); back.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(conn, back)
		conn.Close()
	}()
	if p.cfg.APIKey == "" {
		_, _ = io.Copy(back, conn)
	} else {
		p.checkRequests(back, conn)
	}
	back.Close()
	<-done
}

// checkRequests forwards the client's HTTP/2 frames one by one, decoding each request's
// headers first: a request without the API key ends the connection unforwarded.
func (p *TLSProxy) checkRequests(back io.Writer, conn io.Reader) {
	var pending bytes.Buffer
	in := io.TeeReader(conn, &pending)
	forward := func() bool {
		_, err := back.Write(pending.Bytes())
		pending.Reset()
		return err == nil
	}
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(in, preface); err != nil || string(preface) != http2.ClientPreface || !forward() {
		return
	}
	fr := http2.NewFramer(nil, in)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	want := "Bearer " + p.cfg.APIKey
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.reject("reading HTTP/2 frames: " + err.Error())
			}
			return
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			path, auth := h.PseudoValue("path"), ""
			for _, hf := range h.RegularFields() {
				if hf.Name == "authorization" {
					auth = hf.Value
				}
			}
			if auth != want {
				what := "no authorization header"
				if auth != "" {
					what = "a wrong authorization header"
				}
				if strings.HasPrefix(auth, "Bearer ") && auth != want {
					what = "a Bearer token that is not the API key"
				}
				p.reject(fmt.Sprintf("request %s with %s", path, what))
				return
			}
			p.mu.Lock()
			p.accepted++
			p.mu.Unlock()
		}
		if !forward() {
			return
		}
	}
}
