package volumes

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Phases of a Volume (status.phase), as MetalK8s names them.
const (
	PhasePending     = "Pending"
	PhaseAvailable   = "Available"
	PhaseFailed      = "Failed"
	PhaseTerminating = "Terminating"
)

// state is what the status says: the phase, the device, the Ready condition
// ("True", "False" for Failed, "Unknown" while Pending or Terminating, as MetalK8s'
// operator encodes them: its UI reads Ready=False as Failed).
type state struct {
	phase, deviceName string
	ready             string
	reason, message   string
	// transition is the recorded lastTransitionTime (read, never compared).
	transition string
}

// readiness is the Ready status of a phase.
func readiness(phase string) string {
	switch phase {
	case PhaseAvailable:
		return "True"
	case PhaseFailed:
		return "False"
	}
	return "Unknown"
}

func liveState(u *unstructured.Unstructured) state {
	var s state
	s.phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	s.deviceName, _, _ = unstructured.NestedString(u.Object, "status", "deviceName")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			s.ready, _ = m["status"].(string)
			s.reason, _ = m["reason"].(string)
			s.message, _ = m["message"].(string)
			s.transition, _ = m["lastTransitionTime"].(string)
		}
	}
	return s
}

// setStatus writes s as the Volume's status when it differs from what is recorded, and
// reports whether it had to. The condition's lastUpdateTime moves when it is written,
// its lastTransitionTime only when its status (True, False, Unknown) changes.
func (m *Manager) setStatus(ctx context.Context, vol *unstructured.Unstructured, s state, apply bool) (bool, error) {
	live := liveState(vol)
	recorded := live
	recorded.transition = s.transition
	if recorded == s {
		return false, nil
	}
	if !apply {
		return true, nil
	}
	status := map[string]any{"phase": s.phase}
	if s.deviceName != "" {
		status["deviceName"] = s.deviceName
	}
	now := time.Now().UTC().Format(time.RFC3339)
	transition := now
	if live.ready == s.ready && live.transition != "" {
		transition = live.transition
	}
	status["conditions"] = []any{map[string]any{
		"type": "Ready", "status": s.ready, "reason": s.reason, "message": s.message,
		"lastTransitionTime": transition, "lastUpdateTime": now,
	}}
	vol.Object["status"] = status
	if err := m.client.Status().Update(ctx, vol); err != nil {
		return true, fmt.Errorf("Volume/%s: status %s: %w", vol.GetName(), s.phase, err)
	}
	return true, nil
}
