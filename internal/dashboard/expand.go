package dashboard

import "regexp"

// variableRef matches the three spellings Grafana accepts for a variable:
// $name, ${name} (optionally ${name:format}) and [[name]].
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// Expand replaces every reference to a variable in vars with its value, the
// way Grafana interpolates a query before sending it to Prometheus. Names are
// given without the dollar sign ("job", "__rate_interval"). References to
// unknown variables are left as they are, so the query fails to parse.
func Expand(expr string, vars map[string]string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3] // exactly one group is non-empty
		if v, ok := vars[name]; ok {
			return v
		}
		return ref
	})
}
