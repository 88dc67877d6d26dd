// Package keyhole signs keyhole URLs (signed URL format v1, docs/signed-urls.md) with
// the standard library only.
//
//	url, err := keyhole.SignURL(os.Getenv("KEYHOLE_KEYS"), "/photos/café.jpg",
//		keyhole.URLOptions{TTL: 10 * time.Minute})
//	// url == "/photos/caf%C3%A9.jpg?kh_v=1&kh_kid=k1&kh_exp=…&kh_sig=…"
//
// Paths and scopes are decoded UTF-8 paths (what the file is called); SignURL writes
// them percent-encoded. Anything keyhole would deny is an error, and nothing is signed.
package keyhole

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	rawPathBytes = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/"
	maxRawPath   = 2048
	maxURI       = 8192
	maxParams    = 100
	maxTimestamp = 999999999999 // 12 digits: a millisecond timestamp does not fit
	jwtParam     = "token"      // keyhole's default JWT query parameter
)

var (
	kidPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	secretPattern  = regexp.MustCompile(`^[A-Za-z0-9_-]+={0,2}$`)
	methodsPattern = regexp.MustCompile(`^[A-Z]{1,16}(,[A-Z]{1,16}){0,7}$`)
	queryPattern   = regexp.MustCompile(`^[\x21\x22\x24-\x7e]+$`)
)

// ErrSign wraps every reason SignURL refuses: keyhole would deny such a URL.
var ErrSign = errors.New("keyhole: cannot sign")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSign, fmt.Sprintf(format, args...))
}

// URLOptions says what a URL grants. Set Expires, or TTL (from Now, default the clock).
type URLOptions struct {
	Expires   time.Time     // absolute expiry (whole seconds are used)
	TTL       time.Duration // lifetime from Now, when Expires is zero
	Window    time.Duration // round Now+TTL up to a multiple of this: cacheable URLs
	Now       time.Time     // the time TTL counts from; zero means time.Now()
	NotBefore time.Time     // zero: no not-before
	Scope     string        // decoded prefix ending in "/": the URL opens every file below
	IP        string        // "203.0.113.7", "10.0.0.0/8" or "203.0.113.7/32", canonical text
	Methods   string        // "GET,HEAD" when empty
	BindQuery bool          // sign Query too (kh_q=1); an empty Query binds an empty query
	Query     string        // application query, already percent-encoded ("w=640&h=480")
	Host      string        // the one virtual host the URL opens on ("img.example.com"); empty: any
}

// Signed is a URL and the exact text its signature covers.
type Signed struct {
	URL          string // "/encoded/path?…&kh_sig=…"
	StringToSign string
}

// SignURL signs the decoded path with the first key of keys ("kid:secret", or a
// KEYHOLE_KEYS list) and returns "/encoded/path?…&kh_sig=…".
func SignURL(keys, path string, o URLOptions) (string, error) {
	signed, err := Sign(keys, path, o)
	return signed.URL, err
}

// CacheableExpiry is now+ttl rounded up to the next multiple of window: every URL for
// the same file signed within one window is identical, so caches can keep it.
func CacheableExpiry(now time.Time, ttl, window time.Duration) time.Time {
	w := int64(window / time.Second)
	if w <= 0 {
		return now.Add(ttl)
	}
	end := now.Add(ttl).Unix()
	return time.Unix((end+w-1)/w*w, 0)
}

// EncodePath percent-encodes a decoded path the way keyhole's signers write it.
func EncodePath(decoded string) string {
	var b strings.Builder
	for i := 0; i < len(decoded); i++ {
		if strings.IndexByte(rawPathBytes, decoded[i]) >= 0 {
			b.WriteByte(decoded[i])
		} else {
			fmt.Fprintf(&b, "%%%02X", decoded[i])
		}
	}
	return b.String()
}

// SigningKey returns the key id and secret of the first entry of a KEYHOLE_KEYS value.
func SigningKey(keys string) (string, []byte, error) {
	for _, entry := range strings.FieldsFunc(keys, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		kid, secret, found := strings.Cut(entry, ":")
		kid, secret = strings.TrimSpace(kid), strings.TrimSpace(secret)
		if !found || !kidPattern.MatchString(kid) {
			return "", nil, refuse("key must be `kid:secret` with a kid of 1-32 of A-Z a-z 0-9 _ -")
		}
		if !secretPattern.MatchString(secret) {
			return "", nil, refuse("key secret must be base64url")
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(secret, "="))
		if err != nil || len(raw) < 32 {
			return "", nil, refuse("key secret must be at least 32 bytes of base64url")
		}
		return kid, raw, nil
	}
	return "", nil, refuse("no key given")
}

// Sign is SignURL that also returns the signed text (for checks against the vectors).
func Sign(keys, path string, o URLOptions) (Signed, error) {
	kid, sign, err := keySigner(keys)
	if err != nil {
		return Signed{}, err
	}
	expires := o.Expires
	if expires.IsZero() {
		if o.TTL <= 0 {
			return Signed{}, refuse("give Expires or a positive TTL")
		}
		now := o.Now
		if now.IsZero() {
			now = time.Now()
		}
		expires = CacheableExpiry(now, o.TTL, o.Window)
	}
	exp := expires.Unix()
	if exp < 0 || exp > maxTimestamp {
		return Signed{}, refuse("expiry %d is not Unix seconds (0 to 12 digits)", exp)
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if exp <= now.Unix() {
		return Signed{}, refuse("expiry %d is not after now (%d); keyhole would deny it as expired", exp, now.Unix())
	}
	nbf := ""
	if !o.NotBefore.IsZero() {
		n := o.NotBefore.Unix()
		if n < 0 || n > maxTimestamp {
			return Signed{}, refuse("not-before %d is not Unix seconds (0 to 12 digits)", n)
		}
		if n > exp {
			return Signed{}, refuse("not-before %d is after the expiry %d; the URL would never be valid", n, exp)
		}
		nbf = strconv.FormatInt(n, 10)
	}
	if err := checkPath(path, "path", false); err != nil {
		return Signed{}, err
	}
	if o.Scope != "" {
		if err := checkPath(o.Scope, "scope", true); err != nil {
			return Signed{}, err
		}
		if !strings.HasPrefix(path, o.Scope) {
			return Signed{}, refuse("path %q is not inside scope %q", path, o.Scope)
		}
	}
	if o.IP != "" {
		if err := checkIP(o.IP); err != nil {
			return Signed{}, err
		}
	}
	if o.Methods != "" {
		seen := map[string]bool{}
		for _, name := range strings.Split(o.Methods, ",") {
			if seen[name] || !methodsPattern.MatchString(o.Methods) {
				return Signed{}, refuse("methods %q must be distinct upper-case names like GET,HEAD", o.Methods)
			}
			seen[name] = true
		}
	}

	params := []string{"kh_v=1", "kh_kid=" + kid, "kh_exp=" + strconv.FormatInt(exp, 10)}
	if nbf != "" {
		params = append(params, "kh_nbf="+nbf)
	}
	if o.Scope != "" {
		escape := strings.NewReplacer("&", "%26", "=", "%3D", "+", "%2B")
		params = append(params, "kh_scope="+escape.Replace(EncodePath(o.Scope)))
	}
	if o.IP != "" {
		params = append(params, "kh_ip="+o.IP)
	}
	if o.Methods != "" {
		params = append(params, "kh_m="+o.Methods)
	}
	var items []string
	if o.BindQuery {
		params = append(params, "kh_q=1")
	}
	if o.Host != "" {
		if err := checkHost(o.Host); err != nil {
			return Signed{}, err
		}
		params = append(params, "kh_host="+o.Host)
	}
	if o.BindQuery {
		if o.Query != "" {
			if !queryPattern.MatchString(o.Query) {
				return Signed{}, refuse("query must be percent-encoded visible ASCII without `#`")
			}
			items = strings.Split(o.Query, "&")
		}
	} else if o.Query != "" {
		return Signed{}, refuse("a Query is signed only with BindQuery; append unsigned parameters yourself")
	}
	for _, item := range items {
		if item == "" || strings.HasPrefix(item, "kh_") {
			return Signed{}, refuse("query must not have empty items or keyhole's own kh_ names")
		}
		if name, _, _ := strings.Cut(item, "="); name == jwtParam {
			return Signed{}, refuse("query must not have an item named %s, keyhole's JWT parameter: with JWTs enabled the URL is ambiguous-credential", jwtParam)
		}
	}
	if count := len(items) + len(params) + 1; count > maxParams {
		return Signed{}, refuse("the URL would have %d query items counting keyhole's own; keyhole reads at most %d (too-many-params)", count, maxParams)
	}

	target := "path:" + path
	if o.Scope != "" {
		target = "scope:" + o.Scope
	}
	methods, bind, query := o.Methods, "0", ""
	if methods == "" {
		methods = "GET,HEAD"
	}
	if o.BindQuery {
		bind, query = "1", o.Query
	}
	text := strings.Join(hostLine([]string{
		"keyhole-url-v1",
		"kid:" + kid,
		target,
		"exp:" + strconv.FormatInt(exp, 10),
		"nbf:" + nbf,
		"ip:" + o.IP,
		"methods:" + methods,
		"bind-query:" + bind,
		"query:" + query,
	}, o.Host), "\n")
	params = append(params, "kh_sig="+base64.RawURLEncoding.EncodeToString(sign([]byte(text))))
	url := EncodePath(path) + "?" + strings.Join(append(items, params...), "&")
	if len(url) > maxURI {
		return Signed{}, refuse("the URL would be %d bytes; keyhole reads at most %d of path and query (uri-too-long)", len(url), maxURI)
	}
	return Signed{URL: url, StringToSign: text}, nil
}

// checkPath refuses what keyhole's canonical-path rules would deny.
func checkPath(decoded, what string, isScope bool) error {
	if !strings.HasPrefix(decoded, "/") {
		return refuse("%s must start with `/`: %q", what, decoded)
	}
	if !utf8.ValidString(decoded) {
		return refuse("%s is not valid UTF-8: %q", what, decoded)
	}
	if len(EncodePath(decoded)) > maxRawPath {
		return refuse("%s is longer than %d bytes once encoded", what, maxRawPath)
	}
	for _, r := range decoded {
		if strings.ContainsRune(`%\;?#`, r) || r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return refuse("%s contains %q, which keyhole refuses: %q", what, r, decoded)
		}
	}
	segments := strings.Split(decoded, "/")[1:]
	if isScope {
		if !strings.HasSuffix(decoded, "/") {
			return refuse("%s must end with `/`: %q", what, decoded)
		}
		segments = segments[:len(segments)-1]
	} else if strings.HasSuffix(decoded, "/") {
		return refuse("%s must name a file, not end with `/`: %q", what, decoded)
	}
	for _, segment := range segments {
		if segment == "" {
			return refuse("%s has an empty segment (`//`): %q", what, decoded)
		}
		if strings.HasSuffix(segment, ".") {
			return refuse("%s has a `.`, `..` or dot-ending segment: %q", what, decoded)
		}
	}
	return nil
}

// checkIP accepts an address, or a network (a full-length prefix such as /32
// included), only in the one canonical text keyhole accepts; it is signed as written.
func checkIP(text string) error {
	var canonical string
	var addr netip.Addr
	if strings.Contains(text, "/") {
		prefix, err := netip.ParsePrefix(text)
		if err != nil {
			return refuse("ip %q is not an address or network", text)
		}
		addr, canonical = prefix.Addr(), prefix.Masked().String()
	} else {
		parsed, err := netip.ParseAddr(text)
		if err != nil {
			return refuse("ip %q is not an address", text)
		}
		addr, canonical = parsed, parsed.String()
	}
	if addr.Is4In6() {
		return refuse("ip %q is IPv4-mapped; bind the IPv4 address instead", text)
	}
	if addr.Zone() != "" || canonical != text {
		return refuse("ip %q is not canonical (no host bits, lower case, compressed); write %q", text, canonical)
	}
	return nil
}
