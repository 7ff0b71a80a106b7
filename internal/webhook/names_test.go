package webhook_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// refusedOnceSeen waits until the webhook's cache holds the VirtualClusters
// m collides with, asking with dry runs, then checks that m is refused,
// naming metadata.name and saying says.
func refusedOnceSeen(t *testing.T, m *unstructured.Unstructured, says string) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func() error { return apply(m, client.DryRunAll) }).WithTimeout(10*time.Second).Should(MatchError(ContainSubstring(says)), m.GetName())
	err := apply(m)
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
	g.Expect(causeFields(err)).To(ContainElement("metadata.name"))
}

func TestSiblingsWhoseObjectsShareNamesAreRefused(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	g.Expect(apply(manifest(t, ns, vcYAML("sample", "  {}\n")))).To(Succeed())
	for name, says := range map[string]string{
		"sample-headless": "Service sample-headless in namespace " + ns + ", the API server's Service of this VirtualCluster, " +
			"is already the control plane's headless Service of VirtualCluster " + ns + "/sample; choose another name for this VirtualCluster",
		"workload-sample": "ServiceAccount vc-workload-sample in namespace " + ns + ", the syncer's ServiceAccount of this VirtualCluster, " +
			"is already the ServiceAccount of the tenant's pods of VirtualCluster " + ns + "/sample",
	} {
		refusedOnceSeen(t, manifest(t, ns, vcYAML(name, "  {}\n")), says)
	}
	// Refused above, so the webhook sees "sample" by now.
	g.Expect(apply(manifest(t, ns, vcYAML("dev", "  {}\n")))).To(Succeed(), "a sibling whose objects share no name with it")
}

// team/a-dev and team-a/dev would share the ClusterRole nestor-team-a-dev.
func TestClusterScopedNamesThatCollideAreRefused(t *testing.T) {
	g := NewWithT(t)
	team := newNamespace(t)
	teamA := createNamespace(t, team+"-a")
	multiMode := "  experimental: {multiNamespaceMode: {enabled: true}}\n"
	g.Expect(apply(manifest(t, team, vcYAML("a-dev", multiMode)))).To(Succeed())

	refusedOnceSeen(t, manifest(t, teamA, vcYAML("dev", multiMode)),
		"ClusterRole nestor-"+team+"-a-dev cluster-wide, the syncer's ClusterRole of this VirtualCluster, is already the syncer's ClusterRole of VirtualCluster "+
			team+`/a-dev (cluster-scoped names join the namespace and the name with "-"); choose another name for this VirtualCluster`)
	g.Expect(apply(manifest(t, teamA, vcYAML("dev", "  {}\n")))).To(Succeed(), "in single-namespace mode it has no ClusterRole")
}
