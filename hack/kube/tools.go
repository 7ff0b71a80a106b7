//go:build tools

// Package kube pins the Kubernetes and etcd commands that envtest and the
// local quick start run. Nothing here is compiled into Nestor itself.
package kube

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
