package operator

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/nestor-dev/nestor/internal/webhook"
)

// Names config/default gives the webhook's objects; the binary's flags
// default to them.
const (
	WebhookSecret        = "nestor-webhook-server-cert"
	WebhookService       = "nestor-webhook-service"
	WebhookConfiguration = "nestor-validating-webhook-configuration"
	WebhookCertDir       = "/tmp/k8s-webhook-server/serving-certs"
	WebhookPort          = 9443
)

// CertRotation says where the operator keeps the webhook's serving
// certificate when it issues and rotates it itself.
type CertRotation struct {
	// Namespace the operator, its Secret and its Service are in.
	Namespace string
	// Secret the certificate is kept in, Service it is issued for, and the
	// ValidatingWebhookConfiguration whose caBundle trusts it.
	Secret, Service, Configuration string
	// CertDir is where the Secret is mounted: the webhook server reads it.
	CertDir string
}

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=update;patch,resourceNames=nestor-validating-webhook-configuration

// AddWebhook registers the VirtualCluster admission webhook. With rotation
// set, the operator issues the serving certificate (open-policy-agent's
// cert-controller), injects its CA into the webhook configuration, and
// registers the webhook once the certificate is mounted; without, the
// certificate is someone else's (cert-manager, envtest) and must be in
// place. The returned check passes once the webhook serves: with
// failurePolicy Fail, a replica that cannot admit must not be ready.
func AddWebhook(mgr manager.Manager, rotation *CertRotation) (healthz.Checker, error) {
	if rotation == nil {
		if err := webhook.Setup(mgr); err != nil {
			return nil, fmt.Errorf("setting up the VirtualCluster webhook: %w", err)
		}
		return mgr.GetWebhookServer().StartedChecker(), nil
	}

	certsReady := make(chan struct{})
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: rotation.Namespace, Name: rotation.Secret},
		CertDir:        rotation.CertDir,
		CAName:         "nestor-webhook-ca",
		CAOrganization: "nestor",
		DNSName:        fmt.Sprintf("%s.%s.svc", rotation.Service, rotation.Namespace),
		IsReady:        certsReady,
		Webhooks:       []rotator.WebhookInfo{{Name: rotation.Configuration, Type: rotator.Validating}},
		FieldOwner:     "nestor-operator",
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the webhook's certificate rotation: %w", err)
	}
	var (
		mu       sync.Mutex
		setupErr error
		started  healthz.Checker
	)
	go func() {
		<-certsReady
		err := webhook.Setup(mgr)
		if err != nil {
			ctrl.Log.WithName("webhook").Error(err, "setting up the VirtualCluster webhook")
		}
		mu.Lock()
		defer mu.Unlock()
		setupErr, started = err, mgr.GetWebhookServer().StartedChecker()
	}()
	return func(req *http.Request) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case setupErr != nil:
			return setupErr
		case started == nil:
			return errors.New("the webhook's certificate is not in place yet")
		}
		return started(req)
	}, nil
}
