package keyhole

import "regexp"

// Host binding (kh_host; docs/signed-urls.md, "Hosts").

var hostPattern = regexp.MustCompile(`^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$`)

// checkHost refuses a host that is not in the one form keyhole compares: lower
// case, no trailing dot, no port, an internationalised name in its IDNA A-label
// form (xn--...).
func checkHost(host string) error {
	if !hostPattern.MatchString(host) || len(host) > 253 {
		return refuse("host %s must be a lower-case name (a-z 0-9 - _ and dots, labels of 1 to 63, at most 253 bytes; IDNA names as xn--...), without a port or a trailing dot; keyhole would deny it as malformed", host)
	}
	return nil
}

// hostLine appends the tenth signed line, "host:", when a host is bound.
func hostLine(lines []string, host string) []string {
	if host == "" {
		return lines
	}
	return append(lines, "host:"+host)
}
