package daemon

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/metalk8s/mk8s/reconciler/status"
)

// RequestReconcile asks the daemon leading for site to reconcile now (mk8s reconcile
// --now), Flux style: it sets the requestedAt annotation of the Site to a fresh token,
// which the daemon sees through its watch. It returns the token for WaitForReconcile.
func RequestReconcile(ctx context.Context, cfg *rest.Config, site string) (string, error) {
	c, err := status.NewClient(cfg)
	if err != nil {
		return "", err
	}
	token := time.Now().UTC().Format(time.RFC3339Nano)
	if err := c.RequestReconcile(ctx, site, token); err != nil {
		return "", fmt.Errorf("request a reconcile of Site %q: %w", site, err)
	}
	return token, nil
}

// WaitForReconcile polls the Site until the daemon has handled the request token
// (status.lastHandledReconcileAt == token) and returns the Site as recorded then. A
// suspended Site is returned at once: the request will not be handled until resume.
func WaitForReconcile(ctx context.Context, cfg *rest.Config, site, token string) (*status.Site, error) {
	c, err := status.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	var got *status.Site
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		s, err := c.Get(ctx, site)
		if err != nil {
			return false, nil //nolint:nilerr // transient: keep polling until ctx ends
		}
		got = s
		return s.Status.LastHandledReconcileAt == token || s.Spec.Suspend, nil
	})
	if err != nil {
		return got, fmt.Errorf("wait for the daemon to reconcile Site %q: %w", site, err)
	}
	return got, nil
}
