package schema

import (
	"fmt"
	"sort"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Accessors of the data tree. They return zero values on a missing field or a field of
// another type: the checker has already reported those.

func mapAt(m map[string]any, keys ...string) map[string]any {
	cur := m
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

func strAt(m map[string]any, keys ...string) string {
	if len(keys) == 0 {
		return ""
	}
	parent := mapAt(m, keys[:len(keys)-1]...)
	s, _ := parent[keys[len(keys)-1]].(string)
	return s
}

func listAt(m map[string]any, keys ...string) []any {
	if len(keys) == 0 {
		return nil
	}
	parent := mapAt(m, keys[:len(keys)-1]...)
	l, _ := parent[keys[len(keys)-1]].([]any)
	return l
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		if s, ok := e.(string); ok {
			out[k] = s
		}
	}
	return out
}

func stringList(v any) []string {
	l, ok := v.([]any)
	if !ok {
		if s, ok := v.(string); ok {
			return []string{s}
		}
		return nil
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
