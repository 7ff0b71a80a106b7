// Package podsecurity holds a virtual cluster's pods to a level of the Pod
// Security Standards on the host: which level applies and why, what a pod
// violates at it, worded as the host's PodSecurity admission words it, and
// the labels that have a host namespace enforce it (docs/pod-security.md).
package podsecurity

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	pspolicy "k8s.io/pod-security-admission/policy"

	tenancyv1alpha1 "github.com/nestor-dev/nestor/api/v1alpha1"
)

// LevelField is the field that picks a VirtualCluster's level.
const LevelField = "spec.policies.podSecurity.level"

// Policy is the level a virtual cluster's pods are held to, and what set it.
type Policy struct {
	Level psapi.Level
	// From names what set the level, for messages to the tenant.
	From string
}

// Requested is the policy a VirtualCluster's level asks for; unset, it is
// baseline, the schema's default.
func Requested(level tenancyv1alpha1.PodSecurityLevel) Policy {
	if level == "" {
		level = tenancyv1alpha1.PodSecurityBaseline
	}
	return Policy{Level: psapi.Level(level), From: LevelField}
}

// Effective is the policy of a VirtualCluster of level in namespace, whose
// labels are given: the stricter of its level and the namespace's enforce
// label. Privileged is the platform's to allow: a namespace without the
// label counts as baseline. A label value the host cannot parse counts as
// restricted, as the host's admission reads it.
func Effective(level tenancyv1alpha1.PodSecurityLevel, namespace string, labels map[string]string) Policy {
	p := Requested(level)
	value, labelled := labels[psapi.EnforceLevelLabel]
	if !labelled {
		if p.Level == psapi.LevelPrivileged {
			return Policy{Level: psapi.LevelBaseline, From: fmt.Sprintf(
				"namespace %s, not labelled %s=privileged", namespace, psapi.EnforceLevelLabel)}
		}
		return p
	}
	enforced, _ := psapi.ParseLevel(value)
	if psapi.CompareLevels(enforced, p.Level) > 0 {
		return Policy{Level: enforced, From: fmt.Sprintf("label %s=%s of namespace %s", psapi.EnforceLevelLabel, value, namespace)}
	}
	return p
}

// evaluator runs the checks of the Pod Security Standards, as the host's
// admission does.
var evaluator = func() pspolicy.Evaluator {
	e, err := pspolicy.NewEvaluator(pspolicy.DefaultChecks(), nil)
	if err != nil {
		panic(fmt.Sprintf("the Pod Security Standards' own checks: %v", err))
	}
	return e
}()

// Check returns what a pod of meta and spec violates at p's level, in the
// words of the host's PodSecurity admission (`violates PodSecurity
// "baseline:latest": privileged (container "app" must not set
// securityContext.privileged=true)`), or "" when it passes.
func (p Policy) Check(meta *metav1.ObjectMeta, spec *corev1.PodSpec) string {
	lv := psapi.LevelVersion{Level: p.Level, Version: psapi.LatestVersion()}
	result := pspolicy.AggregateCheckResults(evaluator.EvaluatePod(lv, meta, spec))
	if result.Allowed {
		return ""
	}
	return fmt.Sprintf("violates PodSecurity %q: %s", lv.String(), result.ForbiddenDetail())
}

// NamespaceLabels have the host's PodSecurity admission enforce, warn about
// and audit p's level in a host namespace, at the latest version of the
// standards, as the syncer checks them.
func (p Policy) NamespaceLabels() map[string]string {
	level := string(p.Level)
	return map[string]string{
		psapi.EnforceLevelLabel:   level,
		psapi.EnforceVersionLabel: psapi.VersionLatest,
		psapi.WarnLevelLabel:      level,
		psapi.AuditLevelLabel:     level,
	}
}
