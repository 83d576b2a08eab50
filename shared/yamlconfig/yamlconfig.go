// Package yamlconfig decodes a program's YAML configuration strictly: an
// unknown key anywhere in the tree is an error naming its full path, and a
// value of the wrong type is an error naming its key and line. The programs'
// own Validate methods then judge the values.
package yamlconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrEmpty is returned for a document with no configuration in it.
var ErrEmpty = errors.New("the configuration is empty")

// Decode decodes b into dst, which holds the defaults on entry: a key left
// out keeps its default.
func Decode[T any](b []byte, dst *T) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
		return ErrEmpty
	}
	keyAt := map[int]string{} // line of a value → its key path
	if err := checkKeys(doc.Content[0], reflect.TypeFor[T](), "", keyAt); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(dst)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if at, rest, ok := lineOf(e); ok && keyAt[at] != "" {
			e = fmt.Sprintf("%s (line %d):%s", keyAt[at], at, rest)
		}
		msgs = append(msgs, e)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// lineOf splits yaml.v3's "line N: message" into N and what follows
// "line N:".
func lineOf(e string) (int, string, bool) {
	m := lineRE().FindStringSubmatch(e)
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.Atoi(m[1])
	return n, e[len(m[0]):], err == nil
}

func lineRE() *regexp.Regexp { return regexp.MustCompile(`^line (\d+):`) }

// checkKeys walks a YAML node against the type it decodes into and rejects
// keys the type does not have, naming their full path. yaml.v3's KnownFields
// does not reach into types with their own UnmarshalYAML (the scanner
// format, the PLC register map), so the whole tree is checked here. keyAt
// records the key path of every value's line, to name the key in type
// errors.
func checkKeys(n *yaml.Node, t reflect.Type, path string, keyAt map[int]string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		for i, item := range n.Content {
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i), keyAt); err != nil {
				return err
			}
		}
		return nil
	}
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode {
		return nil
	}
	fields := map[string]reflect.Type{}
	anyKey := yamlFields(t, fields)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok && anyKey {
			continue // an inlined map's key
		}
		if !ok {
			return fmt.Errorf("line %d: unknown key %q", k.Line, path+k.Value)
		}
		keyAt[v.Line] = path + k.Value
		if ft == reflect.TypeFor[time.Duration]() {
			continue
		}
		if err := checkKeys(v, ft, path+k.Value+".", keyAt); err != nil {
			return err
		}
	}
	return nil
}

// Validator is a configuration that judges its own values, naming the key
// that breaks a rule.
type Validator interface{ Validate() error }

// Parse reads YAML from r over defaults, strictly (see Decode), and
// validates the result.
func Parse[T Validator](r io.Reader, defaults T) (T, error) {
	var zero T
	b, err := io.ReadAll(r)
	if err != nil {
		return zero, err
	}
	cfg := defaults
	if err := Decode(b, &cfg); err != nil {
		return zero, err
	}
	if err := cfg.Validate(); err != nil {
		return zero, err
	}
	return cfg, nil
}

// yamlFields adds the keys of struct type t to fields, with the keys of an
// inlined struct (`yaml:",inline"`: a driver's own configuration embedded
// in a program's) as its own, as yaml.v3 reads them. It reports whether an
// inlined map takes any other key.
func yamlFields(t reflect.Type, fields map[string]reflect.Type) (anyKey bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				anyKey = yamlFields(ft, fields) || anyKey
			case reflect.Map:
				anyKey = true
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return anyKey
}
