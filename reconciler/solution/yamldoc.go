package solution

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	k8sjson "k8s.io/apimachinery/pkg/util/json"
)

// document is one YAML document of a file of the archive: its JSON-compatible value
// (int64 and float64 numbers, as unstructured objects want them) and its node, for the
// line of a field in errors.
type document struct {
	// Index is the document's 0-based position in its file, empty documents counted.
	Index int
	Value map[string]any
	node  *yaml.Node
}

// yamlError is a YAML file that does not decode, with the line yaml.v3 reports.
type yamlError struct {
	line int
	msg  string
}

func (e *yamlError) Error() string { return e.msg }

// decodeDocuments decodes every non-empty document of a multi-document YAML file. Each
// must be a mapping.
func decodeDocuments(data []byte) ([]*document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*document
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, toYAMLError(err)
		}
		if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
			continue
		}
		root := n.Content[0]
		if root.Kind != yaml.MappingNode {
			return nil, &yamlError{line: root.Line, msg: fmt.Sprintf("document %d is not a mapping", i+1)}
		}
		var v any
		if err := root.Decode(&v); err != nil {
			return nil, toYAMLError(err)
		}
		// A JSON round trip gives the types Kubernetes objects are made of.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, &yamlError{line: root.Line, msg: fmt.Sprintf("document %d cannot be read as JSON: %v", i+1, err)}
		}
		var m map[string]any
		if err := k8sjson.Unmarshal(b, &m); err != nil {
			return nil, &yamlError{line: root.Line, msg: fmt.Sprintf("document %d cannot be read as JSON: %v", i+1, err)}
		}
		docs = append(docs, &document{Index: i, Value: m, node: root})
	}
}

// toYAMLError takes the line out of a yaml.v3 error ("yaml: line 7: ...").
func toYAMLError(err error) *yamlError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, perr := strconv.Atoi(num); perr == nil {
				line, msg = n, tail
			}
		}
	}
	return &yamlError{line: line, msg: msg}
}

// lineOf returns the line of the field at path (map keys as strings, list indexes as
// ints), or of its closest existing parent.
func (d *document) lineOf(path ...any) int {
	n := d.node
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						line = n.Content[i].Line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// kindOf names the YAML kind of a decoded value, for errors.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
