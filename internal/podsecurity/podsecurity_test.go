package podsecurity

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/utils/ptr"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

func TestEffectiveIsTheStricterOfTheLevelAndTheNamespaceLabel(t *testing.T) {
	const (
		privileged = tenancyv1alpha1.PodSecurityPrivileged
		baseline   = tenancyv1alpha1.PodSecurityBaseline
		restricted = tenancyv1alpha1.PodSecurityRestricted
	)
	enforce := func(level string) map[string]string { return map[string]string{psapi.EnforceLevelLabel: level} }
	fromLabel := func(value string) string {
		return "label pod-security.kubernetes.io/enforce=" + value + " of namespace team-a"
	}
	for _, tc := range []struct {
		name   string
		level  tenancyv1alpha1.PodSecurityLevel
		labels map[string]string
		want   psapi.Level
		from   string
	}{
		{"unset level, unlabelled namespace", "", nil, psapi.LevelBaseline, LevelField},
		{"baseline, unlabelled namespace", baseline, nil, psapi.LevelBaseline, LevelField},
		{"restricted, unlabelled namespace", restricted, nil, psapi.LevelRestricted, LevelField},
		{"other labels only", restricted, map[string]string{psapi.WarnLevelLabel: "privileged"}, psapi.LevelRestricted, LevelField},
		{"privileged, unlabelled namespace", privileged, nil, psapi.LevelBaseline,
			"namespace team-a, not labelled pod-security.kubernetes.io/enforce=privileged"},
		{"privileged where the platform allows it", privileged, enforce("privileged"), psapi.LevelPrivileged, LevelField},
		{"privileged, namespace enforces baseline", privileged, enforce("baseline"), psapi.LevelBaseline, fromLabel("baseline")},
		{"baseline, namespace enforces restricted", baseline, enforce("restricted"), psapi.LevelRestricted, fromLabel("restricted")},
		{"restricted, namespace enforces baseline", restricted, enforce("baseline"), psapi.LevelRestricted, LevelField},
		{"restricted, namespace allows privileged", restricted, enforce("privileged"), psapi.LevelRestricted, LevelField},
		{"equal levels: the VirtualCluster's", baseline, enforce("baseline"), psapi.LevelBaseline, LevelField},
		{"a label the host cannot parse counts as restricted", baseline, enforce("strict"), psapi.LevelRestricted, fromLabel("strict")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Effective(tc.level, "team-a", tc.labels)
			if got.Level != tc.want || got.From != tc.from {
				t.Errorf("Effective(%q, %v) = %+v, want %s from %q", tc.level, tc.labels, got, tc.want, tc.from)
			}
		})
	}
}

func TestCheckWordsViolationsAsTheHostsAdmission(t *testing.T) {
	pod := func(mutate func(*corev1.PodSpec)) *corev1.PodSpec {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1"}}}
		mutate(spec)
		return spec
	}
	plain := pod(func(*corev1.PodSpec) {})
	privileged := pod(func(s *corev1.PodSpec) {
		s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	})
	hostPath := pod(func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	})
	hostNetwork := pod(func(s *corev1.PodSpec) { s.HostNetwork, s.HostPID = true, true })
	hardened := pod(func(s *corev1.PodSpec) {
		s.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		s.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	})
	for _, tc := range []struct {
		name  string
		level psapi.Level
		meta  metav1.ObjectMeta
		spec  *corev1.PodSpec
		want  string
	}{
		{"a plain pod at baseline", psapi.LevelBaseline, metav1.ObjectMeta{}, plain, ""},
		{"privileged at baseline", psapi.LevelBaseline, metav1.ObjectMeta{}, privileged,
			`violates PodSecurity "baseline:latest": privileged (container "main" must not set securityContext.privileged=true)`},
		{"hostPath at baseline", psapi.LevelBaseline, metav1.ObjectMeta{}, hostPath,
			`violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`},
		{"host namespaces at baseline", psapi.LevelBaseline, metav1.ObjectMeta{}, hostNetwork,
			`violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostPID=true)`},
		{"an unconfined AppArmor annotation at baseline", psapi.LevelBaseline,
			metav1.ObjectMeta{Annotations: map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + "main": "unconfined"}}, plain,
			`violates PodSecurity "baseline:latest": forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/main="unconfined"")`},
		{"everything at privileged", psapi.LevelPrivileged, metav1.ObjectMeta{}, privileged, ""},
		{"a plain pod at restricted", psapi.LevelRestricted, metav1.ObjectMeta{}, plain,
			`violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "main" must set securityContext.allowPrivilegeEscalation=false), ` +
				`unrestricted capabilities (container "main" must set securityContext.capabilities.drop=["ALL"]), ` +
				`runAsNonRoot != true (pod or container "main" must set securityContext.runAsNonRoot=true), ` +
				`seccompProfile (pod or container "main" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`},
		{"a hardened pod at restricted", psapi.LevelRestricted, metav1.ObjectMeta{}, hardened, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Policy{Level: tc.level}).Check(&tc.meta, tc.spec); got != tc.want {
				t.Errorf("Check = %q\nwant    %q", got, tc.want)
			}
		})
	}
}

func TestNamespaceLabelsEnforceWarnAndAuditTheLevel(t *testing.T) {
	got := Policy{Level: psapi.LevelRestricted}.NamespaceLabels()
	want := map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/audit":           "restricted",
	}
	if !maps.Equal(got, want) {
		t.Errorf("NamespaceLabels = %v, want %v", got, want)
	}
	// The host's admission reads them as that policy.
	p, errs := psapi.PolicyToEvaluate(got, psapi.Policy{})
	if len(errs) > 0 || p.Enforce.Level != psapi.LevelRestricted || !p.Enforce.Version.Latest() || p.Warn.Level != psapi.LevelRestricted || p.Audit.Level != psapi.LevelRestricted {
		t.Errorf("the host reads %v as %+v (%v)", got, p, errs)
	}
}
