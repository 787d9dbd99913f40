package convert

import "github.com/goccy/go-yaml"

func yamlUnmarshal(b []byte, v any) error { return yaml.Unmarshal(b, v) }
