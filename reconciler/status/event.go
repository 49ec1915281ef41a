package status

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EventComponent is the source component of every Event mk8s emits.
const EventComponent = "mk8s"

// Recorder emits core/v1 Events about a Site. Every Event carries the revision in the
// RevisionAnnotation and in its message. An Event identical to the previous one
// (same type, reason, revision and message) bumps that Event's count instead of adding
// a new object, as client-go's recorder does, so a revision failing every poll does not
// flood the namespace.
type Recorder struct {
	client   *Client
	instance string

	mu   sync.Mutex
	last struct {
		key   string
		name  string
		count int32
	}
}

// EventOptions describe one Event.
type EventOptions struct {
	// Warning selects type Warning instead of Normal.
	Warning bool
	// Reason is a condition reason (ReconciliationSucceeded, ValidationFailed, …).
	Reason string
	// Revision is the revision the Event is about (may be empty when unknown).
	Revision string
	// Message is the human text; the revision is appended when it is not in it.
	Message string
}

// NewRecorder returns a Recorder; instance names the reporting daemon (host name).
func (c *Client) NewRecorder(instance string) *Recorder {
	return &Recorder{client: c, instance: instance}
}

// eventNamespace is where Events about the cluster-scoped Site live, as client-go's
// recorder does for cluster-scoped objects.
const eventNamespace = metav1.NamespaceDefault

// Emit records one Event about site.
func (r *Recorder) Emit(ctx context.Context, site *Site, o EventOptions) error {
	typ := corev1.EventTypeNormal
	if o.Warning {
		typ = corev1.EventTypeWarning
	}
	msg := o.Message
	if o.Revision != "" && !strings.Contains(msg, o.Revision) {
		msg = fmt.Sprintf("%s (revision %s)", msg, o.Revision)
	}
	msg = truncate(msg, 1024)
	now := metav1.NewTime(time.Now())
	key := typ + "\x00" + o.Reason + "\x00" + o.Revision + "\x00" + msg

	r.mu.Lock()
	defer r.mu.Unlock()
	events := r.client.core.CoreV1().Events(eventNamespace)
	if r.last.key == key {
		ev, err := events.Get(ctx, r.last.name, metav1.GetOptions{})
		if err == nil {
			ev.Count = r.last.count + 1
			ev.LastTimestamp = now
			if _, err := events.Update(ctx, ev, metav1.UpdateOptions{}); err == nil {
				r.last.count = ev.Count
				return nil
			}
		}
		// The Event expired or changed under us: write a new one.
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        site.Name + "." + strconv.FormatInt(now.UnixNano(), 16),
			Namespace:   eventNamespace,
			Annotations: map[string]string{RevisionAnnotation: o.Revision},
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion:      APIVersion,
			Kind:            Kind,
			Name:            site.Name,
			UID:             site.UID,
			ResourceVersion: site.ResourceVersion,
		},
		Reason:              o.Reason,
		Message:             msg,
		Type:                typ,
		Source:              corev1.EventSource{Component: EventComponent, Host: r.instance},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: Group + "/reconciler",
		ReportingInstance:   r.instance,
	}
	if _, err := events.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Event %s/%s about Site %q: %w", eventNamespace, ev.Name, site.Name, err)
	}
	r.last.key, r.last.name, r.last.count = key, ev.Name, 1
	return nil
}

// ListEvents returns the Events about the Site named name, oldest first.
func (c *Client) ListEvents(ctx context.Context, name string) ([]corev1.Event, error) {
	l, err := c.core.CoreV1().Events(eventNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + Kind + ",involvedObject.name=" + name,
	})
	if err != nil {
		return nil, fmt.Errorf("list Events of Site %q: %w", name, err)
	}
	items := l.Items
	sort.SliceStable(items, func(i, j int) bool { return items[i].LastTimestamp.Before(&items[j].LastTimestamp) })
	return items, nil
}
