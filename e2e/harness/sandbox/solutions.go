package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/metalk8s/mk8s/e2e/harness/solutioniso"
)

// SolutionISO builds the example Solution archive of that version (solutioniso.Example)
// and returns its path, the one solutions.yaml names. On a real bootstrap node the
// reconciler and the node read one file; here the reconciler runs on the machine and
// the bootstrap host has its own /tmp, so the archive is written at that path on both.
func (s *Sandbox) SolutionISO(ctx context.Context, version string) (string, error) {
	return s.writeSolution(ctx, solutioniso.Example(version))
}

// SolutionISOWithRole is SolutionISO with role.yaml replaced (a forbidden one, say).
func (s *Sandbox) SolutionISOWithRole(ctx context.Context, version, roleYAML string) (string, error) {
	spec := solutioniso.Example(version)
	spec.RoleYAML = roleYAML
	return s.writeSolution(ctx, spec)
}

func (s *Sandbox) writeSolution(ctx context.Context, spec solutioniso.Spec) (string, error) {
	p := filepath.Join(s.Dir, "solutions", fmt.Sprintf("%s-%s.iso", spec.Name, spec.Version))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if err := solutioniso.Write(p, spec); err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	if err := s.Lab.WriteFile(ctx, s.Nodes["bootstrap"], p, b, 0o644); err != nil {
		return "", fmt.Errorf("copying %s to the bootstrap node: %w", p, err)
	}
	s.logf("built the Solution archive %s (xorriso), on the machine and the bootstrap node", p)
	return p, nil
}

// RollOutDeployments stands in, until ctx ends, for what the sandbox does not run:
// kube-controller-manager and kubelets that would start a Deployment's pod. Every
// Deployment whose status lags its generation is given the status the deployment
// controller writes once its replicas are available, so that the reconciler's health
// wait (kstatus) sees it rolled out. Nothing else is touched.
func (s *Sandbox) RollOutDeployments(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(s.Kube.Config)
	if err != nil {
		return err
	}
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			list, err := cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range list.Items {
				d := &list.Items[i]
				if d.Status.ObservedGeneration >= d.Generation {
					continue
				}
				rolledOut(d)
				_, _ = cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			}
		}
	}()
	return nil
}

// rolledOut sets the status of a Deployment whose replicas all run its template.
func rolledOut(d *appsv1.Deployment) {
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	now := metav1.Now()
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastUpdateTime: now, LastTransitionTime: now},
		},
	}
}
