package daemon

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/metalk8s/mk8s/reconciler/status"
)

// watchSite queues a reconcile when a user flips spec.suspend or sets a new
// requestedAt annotation on the Site, until ctx is done. The daemon's own status
// writes change neither, so they trigger nothing.
func (d *Daemon) watchSite(ctx context.Context, dyn dynamic.Interface) {
	inf := dynamicinformer.NewFilteredDynamicInformer(dyn, status.GVR, metav1.NamespaceAll, 0, cache.Indexers{},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", d.opts.Site).String()
		}).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok {
				return
			}
			// A request made while no daemon was leading is handled now.
			handled, _, _ := unstructured.NestedString(u.Object, "status", "lastHandledReconcileAt")
			if req := u.GetAnnotations()[status.RequestedAtAnnotation]; req != "" && req != handled {
				d.queue.Add(TriggerRequested)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*unstructured.Unstructured)
			n, ok2 := newObj.(*unstructured.Unstructured)
			if !ok1 || !ok2 {
				return
			}
			os, _, _ := unstructured.NestedBool(o.Object, "spec", "suspend")
			ns, _, _ := unstructured.NestedBool(n.Object, "spec", "suspend")
			switch {
			case os && !ns:
				d.queue.Add(TriggerResume)
			case !os && ns:
				d.queue.Add(TriggerSuspend)
			}
			if req := n.GetAnnotations()[status.RequestedAtAnnotation]; req != "" && req != o.GetAnnotations()[status.RequestedAtAnnotation] {
				d.queue.Add(TriggerRequested)
			}
		},
	})
	inf.RunWithContext(ctx)
}
