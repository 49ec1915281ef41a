package objects

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	ssaerrors "github.com/fluxcd/pkg/ssa/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/metalk8s/mk8s/reconciler/render"
	"github.com/metalk8s/mk8s/schema"
)

// ImmutableError says a change touches a field the API server refuses to update, for an
// object that did not opt in to being recreated.
type ImmutableError struct {
	// Subject is Kind/namespace/name.
	Subject string
	// Fields are the field paths the server named (may be empty when it named none).
	Fields []string
	// Err is the server's answer.
	Err error
	// Object is the desired object (nil when unknown).
	Object *unstructured.Unstructured
}

func (e *ImmutableError) Error() string {
	field := "an immutable field"
	if len(e.Fields) > 0 {
		field = "immutable field " + strings.Join(e.Fields, ", ")
	}
	if strings.HasPrefix(e.Subject, schema.KindVolume+"/") {
		// Recreating it would wait for the release of its storage (errPreparedVolume).
		return fmt.Sprintf("%s: the change touches %s and the API server refuses it (%s); the storage of a Volume "+
			"cannot move: revert the change, or remove the Volume from the site and reconcile (its storage is released), "+
			"then add it back (the annotation %s: \"true\" recreates only a Volume whose storage is not prepared)",
			e.Subject, field, serverMessage(e.Err), render.AnnotationRecreate)
	}
	return fmt.Sprintf("%s: the change touches %s and the API server refuses it (%s); "+
		"revert the change, or set the annotation %s: \"true\" on the object to let mk8s delete and recreate it",
		e.Subject, field, serverMessage(e.Err), render.AnnotationRecreate)
}

func (e *ImmutableError) Unwrap() error { return e.Err }

// RefusedError is the API server's refusal of a desired object (other than an
// immutable field): invalid, forbidden, or needing what does not exist.
type RefusedError struct {
	// Object is the desired object.
	Object *unstructured.Unstructured
	// Err is the server's answer.
	Err error
}

func (e *RefusedError) Error() string {
	var bound *boundVolumeError
	if errors.As(e.Err, &bound) || errors.Is(e.Err, errPreparedVolume) {
		return fmt.Sprintf("%s: %s", subjectOf(e.Object), e.Err.Error())
	}
	return fmt.Sprintf("%s: the API server refused the object: %s", subjectOf(e.Object), serverMessage(e.Err))
}

func (e *RefusedError) Unwrap() error { return e.Err }

// ObjectOf returns the desired object an error of Apply or Plan is about (a
// ScopeError, an ImmutableError or a RefusedError), or nil.
func ObjectOf(err error) *unstructured.Unstructured {
	var se *ScopeError
	if errors.As(err, &se) {
		return se.Object
	}
	var ie *ImmutableError
	if errors.As(err, &ie) && ie.Object != nil {
		return ie.Object
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return re.Object
	}
	return nil
}

// explainApplyError turns ssa's errors into messages that name the object and, for
// immutable fields, the field and the way out.
func explainApplyError(err error) error {
	var dr *ssaerrors.DryRunErr
	if !errors.As(err, &dr) || dr.InvolvedObject() == nil {
		return err
	}
	obj := dr.InvolvedObject()
	under := dr.Unwrap()
	if !isImmutable(under) {
		return &RefusedError{Object: obj, Err: under}
	}
	return &ImmutableError{Subject: subjectOf(obj), Fields: causeFields(under), Err: under, Object: obj}
}

var immutableRE = regexp.MustCompile(`(?i)(is\s+immutable|immutable\s+field|field is immutable|updates to .* are forbidden|may not change|cannot be changed)`)

// isImmutable is narrower than ssa's IsImmutableError (which counts every Invalid
// answer): the message must say the field cannot change.
func isImmutable(err error) bool {
	if err == nil {
		return false
	}
	return (apierrors.IsInvalid(err) || apierrors.IsConflict(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err)) &&
		immutableRE.MatchString(err.Error())
}

func causeFields(err error) []string {
	var st apierrors.APIStatus
	if !errors.As(err, &st) || st.Status().Details == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range st.Status().Details.Causes {
		if c.Field != "" && !seen[c.Field] {
			seen[c.Field] = true
			out = append(out, c.Field)
		}
	}
	return out
}

func serverMessage(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return st.Status().Message
	}
	return err.Error()
}
