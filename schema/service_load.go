package schema

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// alertLogger is the receiver (and route) of the Alertmanager defaults that no override
// may remove: it must stay the first route (seeds 000 L4085).
const alertLogger = "metalk8s-alert-logger"

func (l *loader) service(dc *docCheck, kind string) {
	d := dc.doc.Data
	sc := &ServiceConfig{Source: dc.doc.Source, APIVersion: strAt(d, "apiVersion"), Kind: kind, Override: d}
	switch kind {
	case "LokiConfig":
		field := "spec.config.table_manager.retention_period"
		if s := strAt(d, "spec", "config", "table_manager", "retention_period"); s != "" && !dc.isBad(field) {
			dur, err := parseDuration(s)
			switch {
			case err != nil:
				dc.errorf(field, "expected a duration such as 168h", "invalid duration %q", s)
			case dur%(24*time.Hour) != 0:
				dc.errorf(field, "expected a multiple of 24h, such as 168h (one week)", "%q is not a multiple of 24h", s)
			}
		}
	case "DexConfig":
		for i, u := range listAt(d, "spec", "config", "staticPasswords") {
			field := fmt.Sprintf("spec.config.staticPasswords[%d].hash", i)
			m, _ := u.(map[string]any) // another item is refused by the schema
			h := strAt(m, "hash")
			if h != "" && !IsEncrypted(h) && !bcryptHash.MatchString(h) && !dc.isBad(field) {
				dc.errorf(field, "expected a bcrypt hash ($2y$14$…) or an encrypted value", "invalid password hash")
			}
		}
	case "AlertmanagerConfig":
		cfg := mapAt(d, "spec", "notification", "config")
		for i, r := range listAt(cfg, "receivers") {
			if m, ok := r.(map[string]any); ok && strAt(m, "name") == alertLogger {
				l.diags.Warnf(dc.doc.File, dc.doc.Source.LineOf(fmt.Sprintf("spec.notification.config.receivers[%d]", i)),
					fmt.Sprintf("spec.notification.config.receivers[%d]", i), "the platform keeps its own",
					"receiver %s is ignored", alertLogger)
			}
		}
		for i, r := range listAt(cfg, "route", "routes") {
			if m, ok := r.(map[string]any); ok && strAt(m, "receiver") == alertLogger {
				f := fmt.Sprintf("spec.notification.config.route.routes[%d]", i)
				l.diags.Warnf(dc.doc.File, dc.doc.Source.LineOf(f), f, "the platform keeps its own as the first route",
					"route to %s is ignored", alertLogger)
			}
		}
	}
	l.checkSecrets(dc, d)
	if l.services == nil {
		l.services = map[string][]*ServiceConfig{}
	}
	l.services[kind] = append(l.services[kind], sc)
}

var bcryptHash = regexp.MustCompile(`^\$2[abxy]?\$[0-9]{2}\$[./A-Za-z0-9]{53}$`)

var durationPart = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d|w|y)`)

// parseDuration reads a duration as Loki and Prometheus write them: Go units plus d
// (24h), w (7d) and y (365d).
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	parts := durationPart.FindAllStringSubmatchIndex(s, -1)
	var total float64
	end := 0
	for _, p := range parts {
		if p[0] != end {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		end = p[1]
		n, err := strconv.ParseFloat(s[p[2]:p[3]], 64)
		if err != nil {
			return 0, err
		}
		unit := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
			"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
			"w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[s[p[4]:p[5]]]
		total += n * float64(unit)
	}
	if end != len(s) || strings.TrimSpace(s) != s {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return time.Duration(total), nil
}
