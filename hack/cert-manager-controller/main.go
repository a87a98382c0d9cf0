// Command cert-manager-controller is wrapped-gateway's own small entry point for
// cert-manager's controllers, used by hack/local-cluster (`up --with-cert-manager`).
//
// cert-manager's own `main` lives in a nested Go module that the module proxy does
// not serve, so this program wires the controllers from the public packages of the
// root module github.com/cert-manager/cert-manager instead: it builds a controller
// ContextFactory from a kubeconfig, constructs the controllers it is asked to run
// (they self-register through init() in the packages imported below), starts the
// shared informers and runs the controllers until SIGINT/SIGTERM.
//
// It has no leader election, no metrics or health servers and no webhook: it is
// meant for a throw-away local control plane, not for production.
//
// hack/local_cluster_parts/build.py copies this file into a generated build module that
// requires the cert-manager version pinned in hack/versions.json and builds it with
// `go build`.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/component-base/featuregate"
	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// Controllers: each package registers itself with controllerpkg.Register.
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/listenerset"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"

	// Issuer types: each package registers itself with issuer.RegisterIssuer.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// listenerSetController is the name the ListenerSet certificate shim registers under
// (ControllerName in pkg/controller/certificate-shim/listenerset).
const listenerSetController = "listenerset"

// listenerSetsGate is cert-manager's alpha feature gate for the ListenerSet shim. Its
// Go constant lives in internal/controller/feature, which this program may not import;
// that package registers the gate (importing pkg/controller pulls it in).
const listenerSetsGate featuregate.Feature = "ListenerSets"

// defaultControllers are the controllers run unless --controllers says otherwise:
// everything needed for SelfSigned, CA and ACME (Cluster)Issuers, the automatic
// approval of CertificateRequests, and the Gateway API certificate shims. The
// ListenerSet shim is listed but only runs when it is switched on (see
// --enable-gateway-api-listenerset).
var defaultControllers = []string{
	"issuers",
	"clusterissuers",
	"certificates-trigger",
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-readiness",
	"certificates-revision-manager",
	"certificaterequests-approver",
	"certificaterequests-issuer-selfsigned",
	"certificaterequests-issuer-ca",
	"certificaterequests-issuer-acme",
	"orders",
	"challenges",
	"gateway-shim",
	listenerSetController,
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		kubeconfig        = flag.String("kubeconfig", "", "path to the kubeconfig (required)")
		controllers       = flag.String("controllers", strings.Join(defaultControllers, ","), "comma-separated controllers to run")
		enableGatewayAPI  = flag.Bool("enable-gateway-api", true, "run the Gateway API certificate shim (gateway-shim) and allow the HTTP-01 gatewayHTTPRoute solver")
		enableListenerSet = flag.Bool("enable-gateway-api-listenerset", false, "run the ListenerSet certificate shim (listenerset) for gateway.networking.k8s.io/v1 ListenerSets; "+
			"it also needs --feature-gates=ListenerSets=true and --enable-gateway-api, and the ListenerSet CRD (cert-manager exits without it)")
		clusterResNS    = flag.String("cluster-resource-namespace", "kube-system", "namespace of the Secrets referenced by ClusterIssuers")
		featureGates    = flag.String("feature-gates", "", "cert-manager feature gates, e.g. ServerSideApply=true")
		solverImage     = flag.String("acme-http01-solver-image", "quay.io/jetstack/cert-manager-acmesolver:local", "image of the HTTP-01 solver Pod (never runs without a kubelet)")
		selfCheckDNS    = flag.String("acme-http01-solver-nameservers", "", "comma-separated host:port DNS servers that the HTTP-01 self-check resolves the challenge's name with (default: the system resolver)")
		workers         = flag.Int("workers", 5, "workers per controller")
		readyFile       = flag.String("ready-file", "", "file written once all informer caches have synced")
		listControllers = flag.Bool("list-controllers", false, "print the registered controllers and exit")
	)
	klog.InitFlags(flag.CommandLine)
	flag.Parse()

	if *listControllers {
		names := make([]string, 0, len(controllerpkg.Known()))
		for n := range controllerpkg.Known() {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Println(strings.Join(names, "\n"))
		return 0
	}
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "--kubeconfig is required")
		return 2
	}
	if *featureGates != "" {
		if err := utilfeature.DefaultMutableFeatureGate.Set(*featureGates); err != nil {
			fmt.Fprintf(os.Stderr, "--feature-gates: %v\n", err)
			return 2
		}
	}
	var solverNameservers []string
	if *selfCheckDNS != "" {
		solverNameservers = strings.Split(*selfCheckDNS, ",")
	}
	// The same check upstream's configuration validation makes: every server has a port.
	for _, server := range solverNameservers {
		if _, _, err := net.SplitHostPort(server); err != nil {
			fmt.Fprintf(os.Stderr, "--acme-http01-solver-nameservers: %q must be in the format <ip address>:<port>\n", server)
			return 2
		}
	}
	enabled := strings.Split(*controllers, ",")
	for _, n := range enabled {
		if _, ok := controllerpkg.Known()[n]; !ok {
			fmt.Fprintf(os.Stderr, "unknown controller %q (see --list-controllers)\n", n)
			return 2
		}
	}

	logf.InitLogs()
	defer logf.FlushLogs()
	rootCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rootCtx = logf.NewContext(rootCtx, logf.Log, "controller")
	log := logf.FromContext(rootCtx)

	opts := controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace:        *clusterResNS,
			ClusterIssuerAmbientCredentials: false,
			IssuerAmbientCredentials:        false,
		},
		ACMEOptions: controllerpkg.ACMEOptions{
			HTTP01SolverImage:                 *solverImage,
			HTTP01SolverResourceRequestCPU:    resource.MustParse("10m"),
			HTTP01SolverResourceRequestMemory: resource.MustParse("64Mi"),
			HTTP01SolverResourceLimitsCPU:     resource.MustParse("100m"),
			HTTP01SolverResourceLimitsMemory:  resource.MustParse("64Mi"),
			ACMEHTTP01SolverRunAsNonRoot:      true,
			HTTP01SolverNameservers:           solverNameservers,
			DNS01CheckAuthoritative:           true,
			DNS01CheckRetryPeriod:             10 * time.Second,
		},
		IngressShimOptions: controllerpkg.IngressShimOptions{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                "cert-manager.io",
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
			GatewayAPIExtraProtocols:          sets.New[string](),
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: 60},
		ConfigOptions: controllerpkg.ConfigOptions{
			EnableGatewayAPI:            *enableGatewayAPI,
			EnableGatewayAPIListenerSet: *enableListenerSet,
		},
	}

	factory, err := controllerpkg.NewContextFactory(rootCtx, opts)
	if err != nil {
		log.Error(err, "error building the controller context")
		return 1
	}
	// A Context shares the informer factories of the ContextFactory; the controllers
	// register their informers with them while they are constructed.
	shared, err := factory.Build()
	if err != nil {
		log.Error(err, "error building the controller context")
		return 1
	}

	// The ListenerSet shim needs the alpha gate and the option together, as the option's
	// documentation says (EnableListenerSet in pkg/apis/config/controller/v1alpha1) and
	// as NewContextFactory checks them: with both on it has already refused to start if
	// the API server does not serve gateway.networking.k8s.io/v1 ListenerSet.
	listenerSetsEnabled := shared.GatewaySolverEnabled && *enableListenerSet &&
		utilfeature.DefaultFeatureGate.Enabled(listenerSetsGate)
	runners := map[string]controllerpkg.Interface{}
	for _, n := range enabled {
		if n == "gateway-shim" && !shared.GatewaySolverEnabled {
			log.Info("not starting controller: the Gateway API is not enabled", "controller", n)
			continue
		}
		if n == listenerSetController && !listenerSetsEnabled {
			log.Info("not starting controller: ListenerSet support is not enabled (needs --enable-gateway-api, --enable-gateway-api-listenerset and --feature-gates=ListenerSets=true)", "controller", n)
			continue
		}
		iface, err := controllerpkg.Known()[n](factory)
		if err != nil {
			log.Error(err, "error constructing controller", "controller", n)
			return 1
		}
		runners[n] = iface
	}

	done := rootCtx.Done()
	shared.SharedInformerFactory.Start(done)
	shared.KubeSharedInformerFactory.Start(done)
	shared.HTTP01ResourceMetadataInformersFactory.Start(done)
	if shared.GatewaySolverEnabled {
		shared.GWShared.Start(done)
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(runners))
	for n, iface := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("starting controller", "controller", n)
			if err := iface.Run(*workers, rootCtx); err != nil {
				errs <- fmt.Errorf("controller %s: %w", n, err)
			}
		}()
	}

	ok := allSynced(shared.SharedInformerFactory.WaitForCacheSync(done)) &&
		allSynced(shared.KubeSharedInformerFactory.WaitForCacheSync(done)) &&
		allSynced(shared.HTTP01ResourceMetadataInformersFactory.WaitForCacheSync(done))
	if ok && shared.GatewaySolverEnabled {
		ok = allSynced(shared.GWShared.WaitForCacheSync(done))
	}
	if ok {
		names := make([]string, 0, len(runners))
		for n := range runners {
			names = append(names, n)
		}
		sort.Strings(names)
		log.Info("informer caches synced; controllers running", "controllers", names, "gatewayAPI", shared.GatewaySolverEnabled, "listenerSets", listenerSetsEnabled)
		if *readyFile != "" {
			if err := os.WriteFile(*readyFile, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
				log.Error(err, "cannot write the ready file")
				return 1
			}
		}
	}

	select {
	case err := <-errs:
		log.Error(err, "a controller failed")
		stop()
		wg.Wait()
		return 1
	case <-done:
	}
	log.Info("shutting down")
	wg.Wait()
	return 0
}

// allSynced reports whether every informer of a WaitForCacheSync result has synced.
func allSynced[K comparable](m map[K]bool) bool {
	for _, v := range m {
		if !v {
			return false
		}
	}
	return true
}
