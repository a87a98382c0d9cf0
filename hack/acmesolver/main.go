// Command acmesolver is wrapped-gateway's own entry point for cert-manager's ACME HTTP-01
// solver, the small HTTP server that cert-manager's solver Pod runs: it answers
// GET /.well-known/acme-challenge/<token> for Host <domain> with the key.
//
// cert-manager's own `main` (cmd/acmesolver) is a nested Go module that the module proxy
// does not serve, so this program wraps the public package
// github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver instead. It takes the
// flags cert-manager puts on the solver Pod (--listen-port, --domain, --token, --key; see
// pkg/issuer/acme/http/pod.go), so that a test can start it with a Pod's args verbatim, as
// there is no kubelet to run the Pod. Like upstream, it listens on every interface and
// shuts down on SIGINT/SIGTERM.
//
// hack/local_cluster_parts/build.py copies this file into a generated build module that
// requires the cert-manager version pinned in hack/versions.json (entry `acmesolver`).
package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	os.Exit(run())
}

func run() int {
	s := new(solver.HTTP01Solver)
	// The defaults and help texts of upstream's cmd/acmesolver.
	flag.IntVar(&s.ListenPort, "listen-port", 8089, "the port number to listen on for connections")
	flag.StringVar(&s.Domain, "domain", "", "the domain name to verify")
	flag.StringVar(&s.Token, "token", "", "the challenge token to verify against")
	flag.StringVar(&s.Key, "key", "", "the challenge key to respond with")
	flag.Parse()

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := logf.Log.WithName("acmesolver")

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(shutdownCtx); err != nil {
			log.Error(err, "error shutting down the acmesolver server")
		}
	}()
	// Listen returns http.ErrServerClosed once Shutdown has begun; wait until it is done.
	if err := s.Listen(log); !errors.Is(err, http.ErrServerClosed) {
		log.Error(err, "the acmesolver server failed")
		return 1
	}
	<-stopped
	return 0
}
