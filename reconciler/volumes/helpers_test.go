package volumes_test

import "encoding/json"

func stringify(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
