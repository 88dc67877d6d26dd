#!/bin/sh
# Signs keyhole URLs (signed URL format v1, docs/signed-urls.md). POSIX sh, openssl,
# od, tr, sed and iconv; no other tools (and mktemp, rm for Ed25519 keys).
#
#   KEYHOLE_KEYS=k1:… keyhole-sign.sh --ttl 600 '/photos/café au lait.jpg'
#   # -> /photos/caf%C3%A9%20au%20lait.jpg?kh_v=1&kh_kid=k1&kh_exp=…&kh_sig=…
#
# Usage: keyhole-sign.sh [--exp N | --ttl N [--window N] [--now N]] [--nbf N]
#          [--scope S] [--ip IP] [--methods M] [--query Q] [--host H] [--string-to-sign] PATH
#        keyhole-sign.sh --cookie [--exp N | --ttl N] [--now N] [--sid ID | --no-sid]
#          [--ip IP] [--methods GET,HEAD|GET|HEAD] [--same-site Lax|Strict]
#          [--value | --string-to-sign] SCOPE
#
# --cookie signs a cookie grant (format v2, docs/cookies.md) for every file below SCOPE
# and prints the Set-Cookie header value (Max-Age = exp - now); the session id is random
# unless --sid or --no-sid is given; --ip binds it to a client address or network;
# --methods narrows it to GET or HEAD (default GET,HEAD).
#
# --ip is an address or network in canonical text, signed as written (127.0.0.1/32 and
# 127.0.0.1 are both accepted, and signed differently).
#
# PATH and --scope are decoded paths (what the file is called); they are written
# percent-encoded. Times are Unix seconds. Exit 0 with the URL on stdout, or 2 with a
# message when keyhole would deny such a URL. The first entry of KEYHOLE_KEYS signs:
# an HMAC `kid:secret`, or an Ed25519 `kid:ed25519-seed:SEED` (needs openssl 3.0 or
# later). Note: an HMAC secret (hex) is passed to openssl as an argument, so other users
# of the machine can see it in the process list while openssl runs; an Ed25519 seed is
# passed in a file only its owner can read, removed at once.
set -eu
LC_ALL=C
export LC_ALL
nl='
'

die() {
    printf 'keyhole-sign: %s\n' "$*" >&2
    exit 2
}

# The bytes of $1 as lower-case hex, one per line.
hex_bytes() {
    printf '%s' "$1" | od -An -v -tx1 | tr ' ' '\n' | sed '/^$/d'
}

# Percent-encodes every byte outside A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , = : @ /
encode_path() {
    encoded=''
    for h in $(hex_bytes "$1"); do
        case $h in
            21 | 24 | 2[6-9a-f] | 3[0-9a] | 3d | 4[0-9a-f] | 5[0-9a] | 5f | 6[1-9a-f] | 7[0-9a] | 7e)
                encoded="$encoded$(printf "\\$(printf '%03o' "0x$h")")" ;;
            *) encoded="$encoded%$(printf '%s' "$h" | tr a-f A-F)" ;;
        esac
    done
    printf '%s' "$encoded"
}

# Refuses what keyhole's canonical-path rules would deny. $1 value, $2 name, $3 file|scope.
check_path() {
    case $1 in /*) ;; *) die "$2 must start with /: $1" ;; esac
    case $1 in *//*) die "$2 has an empty segment (//): $1" ;; esac
    case $1 in *./* | *.) die "$2 has a '.', '..' or dot-ending segment: $1" ;; esac
    case $3 in
        scope) case $1 in */) ;; *) die "$2 must end with /: $1" ;; esac ;;
        *) case $1 in */) die "$2 must name a file, not end with /: $1" ;; esac ;;
    esac
    printf '%s' "$1" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 || die "$2 is not valid UTF-8"
    previous=''
    for h in $(hex_bytes "$1"); do
        case $h in
            # % \ ; ? # C0 controls DEL
            25 | 5c | 3b | 3f | 23 | [01]? | 7f) die "$2 contains a byte keyhole refuses (0x$h): $1" ;;
            # C1 controls U+0080-U+009F are C2 80-9F in UTF-8
            [89]?) [ "$previous" != c2 ] || die "$2 contains a C1 control character: $1" ;;
        esac
        previous=$h
    done
    encoded_path=$(encode_path "$1")
    [ "${#encoded_path}" -le 2048 ] || die "$2 is longer than 2048 bytes once encoded"
}

# Unix seconds: 1 to 12 digits, no leading zero.
check_time() {
    case $1 in '' | *[!0-9]* | 0?*) die "$2 must be Unix seconds, not '$1'" ;; esac
    [ "${#1}" -le 12 ] || die "$2 has more than 12 digits (milliseconds?): $1"
}

# An IPv4 octet or a prefix length: decimal without leading zero, at most $2.
small_number() {
    case $1 in '' | *[!0-9]* | 0?*) return 1 ;; esac
    [ "${#1}" -le 3 ] && [ "$1" -le "$2" ]
}

# The decimal groups of the colon-separated hex groups in $1 (each 1-4 digits), or fail.
v6_fields() {
    [ -n "$1" ] || return 0
    case ":$1:" in *::*) return 1 ;; esac
    old_ifs=$IFS
    IFS=:
    # shellcheck disable=SC2086 # split on colons on purpose
    set -- $1
    IFS=$old_ifs
    for g in "$@"; do
        case $g in ? | ?? | ??? | ????) printf '%d ' "$((0x$g))" ;; *) return 1 ;; esac
    done
}

# The eight decimal groups of the IPv6 address $1 (hex, at most one `::`), or fail.
v6_groups() {
    case $1 in '' | *[!0-9a-f:]* | *:::* | *::*::*) return 1 ;; esac
    case $1 in
        *::*)
            left=$(v6_fields "${1%%::*}") || return 1
            right=$(v6_fields "${1#*::}") || return 1
            # shellcheck disable=SC2086 # count the words
            set -- $left
            zeros=$((8 - $#))
            # shellcheck disable=SC2086
            set -- $right
            zeros=$((zeros - $#))
            [ "$zeros" -ge 1 ] || return 1
            middle=''
            while [ "$zeros" -gt 0 ]; do middle="${middle}0 "; zeros=$((zeros - 1)); done
            printf '%s' "$left$middle$right"
            ;;
        *)
            all=$(v6_fields "$1") || return 1
            # shellcheck disable=SC2086
            set -- $all
            [ $# -eq 8 ] || return 1
            printf '%s' "$all"
            ;;
    esac
}

# RFC 5952 text of eight decimal groups: lower-case hex without leading zeros, the
# longest run of two or more zero groups (the first on a tie) written `::`.
v6_text() {
    best_at=-1 best_len=1 run_at=0 run_len=0 i=0
    for g in "$@"; do
        if [ "$g" -eq 0 ]; then
            [ "$run_len" -gt 0 ] || run_at=$i
            run_len=$((run_len + 1))
            if [ "$run_len" -gt "$best_len" ]; then best_at=$run_at best_len=$run_len; fi
        else
            run_len=0
        fi
        i=$((i + 1))
    done
    out='' i=0
    for g in "$@"; do
        if [ "$i" -eq "$best_at" ]; then
            out="$out::"
        elif [ "$best_at" -lt 0 ] || [ "$i" -lt "$best_at" ] || [ "$i" -ge $((best_at + best_len)) ]; then
            case $out in '' | *:) ;; *) out="$out:" ;; esac
            out="$out$(printf '%x' "$g")"
        fi
        i=$((i + 1))
    done
    printf '%s' "$out"
}

# An address, or a network (a full-length prefix such as /32 included), in the one
# canonical text keyhole accepts: IPv4 dotted decimal without leading zeros, IPv6
# RFC 5952 hex (no dotted part, no zone), no host bits, no IPv4-mapped IPv6. The text
# is signed exactly as written.
check_ip() {
    addr=${1%%/*}
    prefix=''
    case $1 in */*) prefix=${1#*/}; [ -n "$prefix" ] || die "ip $1 has an empty prefix length" ;; esac
    case $addr in
        *:*)
            groups=$(v6_groups "$addr") || die "ip $1 is not an IPv6 address in lower-case hex"
            # shellcheck disable=SC2086 # split the groups on purpose
            set -- $groups
            canonical=$(v6_text "$@")
            [ "$canonical" = "$addr" ] || die "ip $addr is not canonical; write $canonical"
            if [ "$1$2$3$4$5" = 00000 ] && [ "$6" -eq 65535 ]; then
                die "ip $addr is IPv4-mapped; bind the IPv4 address instead"
            fi
            max=128
            ;;
        *)
            old_ifs=$IFS
            IFS=.
            # shellcheck disable=SC2086 # split on dots on purpose
            set -- $addr
            IFS=$old_ifs
            [ $# -eq 4 ] && small_number "$1" 255 && small_number "$2" 255 &&
                small_number "$3" 255 && small_number "$4" 255 ||
                die "ip $addr is not an IPv4 address in dotted decimal without leading zeros"
            set -- $((($1 * 256 + $2) * 256 + $3)) "$4"
            set -- $(($1 / 256)) $(($1 % 256 * 256 + $2))
            max=32
            ;;
    esac
    [ -z "$prefix" ] && return 0
    small_number "$prefix" "$max" || die "ip $addr/$prefix has a bad prefix length"
    # Host bits: each 16-bit group keeps min(max(prefix - 16 i, 0), 16) high bits.
    i=0
    for g in "$@"; do
        keep=$((prefix - 16 * i))
        [ "$keep" -ge 0 ] || keep=0
        [ "$keep" -le 16 ] || keep=16
        [ $((g % (1 << (16 - keep)))) -eq 0 ] || die "ip $addr/$prefix has host bits set"
        i=$((i + 1))
    done
}

check_methods() {
    case ",$1," in *[!A-Z,]* | *,,*) die "methods '$1' must be upper-case names like GET,HEAD" ;; esac
    seen=','
    count=0
    old_ifs=$IFS
    IFS=,
    for name in $1; do
        case $seen in *",$name,"*) die "methods '$1' repeats $name" ;; esac
        [ "${#name}" -le 16 ] || die "method $name is longer than 16 letters"
        seen="$seen$name,"
        count=$((count + 1))
    done
    IFS=$old_ifs
    [ "$count" -le 8 ] || die "at most 8 methods"
}

exp='' ttl='' window='' now='' nbf='' scope='' ip='' methods='' query='' bind=0 show_text=0
host='' bind_host=0
mode=url sid='' no_sid=0 same_site=Lax show_value=0 cookie_methods=GET,HEAD
if [ "${1:-}" = --cookie ]; then
    mode=cookie
    shift
    while [ $# -gt 0 ]; do
        case $1 in
            --string-to-sign) show_text=1; shift; continue ;;
            --value) show_value=1; shift; continue ;;
            --no-sid) no_sid=1; shift; continue ;;
            --exp | --ttl | --now | --sid | --ip | --methods | --same-site)
                [ $# -ge 2 ] || die "$1 needs a value" ;;
            --*) die "unknown option $1" ;;
            *) break ;;
        esac
        case $1 in
            --exp) exp=$2 ;;
            --ttl) ttl=$2 ;;
            --now) now=$2 ;;
            --sid) sid=$2; [ -n "$sid" ] || die "--sid needs an id; use --no-sid for none" ;;
            --ip) ip=$2; [ -n "$ip" ] || die "--ip needs an address or network; leave it out for any client" ;;
            --methods) cookie_methods=$2 ;;
            --same-site) same_site=$2 ;;
        esac
        shift 2
    done
fi
while [ "$mode" = url ] && [ $# -gt 0 ]; do
    case $1 in
        --string-to-sign) show_text=1; shift; continue ;;
        --exp | --ttl | --window | --now | --nbf | --scope | --ip | --methods | --query | --host)
            [ $# -ge 2 ] || die "$1 needs a value" ;;
        --*) die "unknown option $1" ;;
        *) break ;;
    esac
    case $1 in
        --exp) exp=$2 ;;
        --ttl) ttl=$2 ;;
        --window) window=$2 ;;
        --now) now=$2 ;;
        --nbf) nbf=$2 ;;
        --scope) scope=$2 ;;
        --ip) ip=$2 ;;
        --methods) methods=$2 ;;
        --query) query=$2; bind=1 ;;
        --host) host=$2; bind_host=1 ;;
    esac
    shift 2
done
[ $# -eq 1 ] || die "give exactly one PATH (decoded, e.g. '/photos/café au lait.jpg') or, with --cookie, one SCOPE"
path=$1

# The key: first entry of KEYHOLE_KEYS (kid:secret, entries separated by , or newlines).
entry=$(printf '%s\n' "${KEYHOLE_KEYS:-}" | tr ',' '\n' |
    sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' -e '/^#/d' | sed -n 1p)
kid=${entry%%:*}
secret=${entry#*:}
case $entry in *:*) ;; *) die "KEYHOLE_KEYS must hold kid:secret" ;; esac
case $kid in '' | *[!A-Za-z0-9_-]*) die "key id must be 1-32 of A-Z a-z 0-9 _ -" ;; esac
[ "${#kid}" -le 32 ] || die "key id must be 1-32 of A-Z a-z 0-9 _ -"
# An Ed25519 key (docs/signed-urls.md, "Ed25519 keys"): `kid:ed25519-seed:SEED` signs
# with openssl >= 3 (pkeyutl -rawin); `kid:ed25519:PUBLIC` only verifies.
alg=hmac
case $secret in
    ed25519:*) die "the key is an Ed25519 public key (kid:ed25519:...): it verifies but cannot sign; sign with its kid:ed25519-seed:... line" ;;
    ed25519-seed:*) alg=ed25519 secret=${secret#ed25519-seed:} ;;
esac
case $secret in '' | *[!A-Za-z0-9_=-]* | *=*[!=]*) die "key secret must be base64url" ;; esac
secret=${secret%%=*}
case $((${#secret} % 4)) in
    1) die "key secret must be base64url" ;;
    2) padding='==' ;;
    3) padding='=' ;;
    *) padding='' ;;
esac
key_hex=$(printf '%s%s' "$secret" "$padding" | tr -- '-_' '+/' | openssl base64 -d -A |
    od -An -v -tx1 | tr -d ' \n')
[ "${#key_hex}" -ge 64 ] || die "key secret must be at least 32 bytes"
[ "$alg" = hmac ] || [ "${#key_hex}" -eq 64 ] || die "the Ed25519 seed must be exactly 32 bytes"

base64url() {
    openssl base64 -A | tr '+/' '-_' | tr -d '='
}

hmac_sha256() {
    [ "$alg" = hmac ] || { ed25519_sign "$1"; return; }
    sig=$(printf '%s' "$1" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary |
        base64url)
    [ "${#sig}" -eq 43 ] || die "openssl did not produce an HMAC-SHA256"
    printf '%s' "$sig"
}

# The Ed25519 signature of $1 (86 base64url characters). openssl reads the key (PKCS #8
# DER: a fixed 16-byte prefix, then the seed) and the text from files in a private
# temporary folder, removed at once; the seed never appears in the process list.
ed25519_sign() {
    work=$(umask 077 && mktemp -d) || die "cannot make a temporary folder"
    {
        printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040'
        printf '%s%s' "$secret" "$padding" | tr -- '-_' '+/' | openssl base64 -d -A
    } >"$work/key"
    printf '%s' "$1" >"$work/text"
    sig=$(openssl pkeyutl -sign -rawin -keyform DER -inkey "$work/key" -in "$work/text" |
        base64url)
    rm -rf "$work"
    [ "${#sig}" -eq 86 ] || die "openssl (3.0 or later) did not produce an Ed25519 signature"
    printf '%s' "$sig"
}

# A cookie grant (docs/cookies.md): PATH is the decoded scope.
if [ "$mode" = cookie ]; then
    [ -z "$exp" ] || [ -z "$ttl" ] || die "give --exp or --ttl, not both"
    [ -n "$now" ] || now=$(date +%s)
    check_time "$now" --now
    if [ -z "$exp" ]; then
        [ -n "$ttl" ] || die "give --exp or --ttl"
        check_time "$ttl" --ttl
        exp=$((now + ttl))
    fi
    check_time "$exp" exp
    [ "$exp" -gt "$now" ] || die "exp $exp is not in the future"
    check_path "$path" scope scope
    if [ "$no_sid" = 1 ]; then
        [ -z "$sid" ] || die "give --sid or --no-sid, not both"
    elif [ -z "$sid" ]; then
        sid=$(openssl rand 16 | base64url)
    fi
    case $sid in *[!A-Za-z0-9_-]*) die "sid '$sid' must be 1-64 of A-Z a-z 0-9 _ -" ;; esac
    [ "${#sid}" -le 64 ] || die "sid '$sid' must be 1-64 of A-Z a-z 0-9 _ -"
    [ -z "$ip" ] || check_ip "$ip"
    case $cookie_methods in
        GET,HEAD | GET | HEAD) ;;
        *) die "--methods must be GET,HEAD, GET or HEAD, not '$cookie_methods'" ;;
    esac
    case $same_site in Lax | Strict) ;; *) die "--same-site must be Lax or Strict" ;; esac
    text="keyhole-cookie-v2${nl}kid:$kid${nl}scope:$path${nl}exp:$exp${nl}sid:$sid"
    text="$text${nl}ip:$ip${nl}methods:$cookie_methods"
    if [ "$show_text" = 1 ]; then
        printf '%s\n' "$text"
        exit 0
    fi
    sig=$(hmac_sha256 "$text")
    encoded_scope=$(printf '%s' "$path" | base64url)
    encoded_ip=$(printf '%s' "$ip" | base64url)
    encoded_methods=$(printf '%s' "$cookie_methods" | base64url)
    value="2.$kid.$encoded_scope.$exp.$sid.$encoded_ip.$encoded_methods.$sig"
    [ "${#value}" -le 1024 ] || die "the cookie value would be longer than 1024 bytes"
    if [ "$show_value" = 1 ]; then
        printf '%s\n' "$value"
    else
        printf '__Host-keyhole=%s; HttpOnly; SameSite=%s; Secure; Path=/; Max-Age=%s\n' \
            "$value" "$same_site" $((exp - now))
    fi
    exit 0
fi

# The expiry: given, or now + ttl, rounded up to a multiple of window when given.
if [ -n "$exp" ]; then
    [ -z "$ttl" ] || die "give --exp or --ttl, not both"
else
    [ -n "$ttl" ] || die "give --exp or --ttl"
    [ -n "$now" ] || now=$(date +%s)
    check_time "$ttl" --ttl
    check_time "$now" --now
    exp=$((now + ttl))
    if [ -n "$window" ]; then
        check_time "$window" --window
        [ "$window" -gt 0 ] || die "--window must be positive"
        exp=$(((exp + window - 1) / window * window))
    fi
fi
check_time "$exp" exp
[ -n "$now" ] || now=$(date +%s)
check_time "$now" --now
[ "$exp" -gt "$now" ] || die "exp $exp is not after now ($now); keyhole would deny it as expired"
if [ -n "$nbf" ]; then
    check_time "$nbf" nbf
    [ "$nbf" -le "$exp" ] || die "nbf $nbf is after exp $exp; the URL would never be valid"
fi
check_path "$path" path file
target="path:$path"
if [ -n "$scope" ]; then
    check_path "$scope" scope scope
    case $path in "$scope"*) ;; *) die "path $path is not inside scope $scope" ;; esac
    target="scope:$scope"
fi
[ -z "$ip" ] || check_ip "$ip"
[ -z "$methods" ] || check_methods "$methods"

params="kh_v=1&kh_kid=$kid&kh_exp=$exp"
[ -z "$nbf" ] || params="$params&kh_nbf=$nbf"
if [ -n "$scope" ]; then
    params="$params&kh_scope=$(encode_path "$scope" | sed -e 's/&/%26/g' -e 's/=/%3D/g' -e 's/+/%2B/g')"
fi
[ -z "$ip" ] || params="$params&kh_ip=$ip"
[ -z "$methods" ] || params="$params&kh_m=$methods"
if [ "$bind" = 1 ]; then
    params="$params&kh_q=1"
    if [ -n "$query" ]; then
        case $query in *[!!-~]* | *'#'*) die "query must be percent-encoded visible ASCII without #" ;; esac
        case "&$query&" in *'&&'*) die "query must not have empty items" ;; esac
        case "&$query" in *'&kh_'*) die "query must not use keyhole's own kh_ names" ;; esac
        case "&$query&" in *'&token&'* | *'&token='*)
            die "query must not have an item named token, keyhole's JWT parameter: with JWTs enabled the URL is ambiguous-credential" ;;
        esac
        params="$query&$params"
    fi
fi
# Host binding (kh_host; docs/signed-urls.md, "Hosts"): the one form keyhole compares,
# lower case, no trailing dot, no port, IDNA names as xn--...
check_host() {
    host_rule="host $1 must be a lower-case name (a-z 0-9 - _ and dots, labels of 1 to 63, at most 253 bytes; IDNA names as xn--...), without a port or a trailing dot; keyhole would deny it as malformed"
    case $1 in '' | *[!a-z0-9._-]* | .* | *. | *..*) die "$host_rule" ;; esac
    [ "${#1}" -le 253 ] || die "$host_rule"
    old_ifs=$IFS
    IFS=.
    for label in $1; do
        [ "${#label}" -le 63 ] || { IFS=$old_ifs; die "$host_rule"; }
    done
    IFS=$old_ifs
}
if [ "$bind_host" = 1 ]; then
    check_host "$host"
    params="$params&kh_host=$host"
fi
# Items: one more than the `&`s, plus kh_sig.
count=$(($(printf '%s' "$params" | tr -cd '&' | wc -c) + 2))
[ "$count" -le 100 ] ||
    die "the URL would have $count query items counting keyhole's own; keyhole reads at most 100 (too-many-params)"

text="keyhole-url-v1${nl}kid:$kid$nl$target${nl}exp:$exp${nl}nbf:$nbf${nl}ip:$ip"
text="$text${nl}methods:${methods:-GET,HEAD}${nl}bind-query:$bind${nl}query:$query"
[ "$bind_host" = 0 ] || text="$text${nl}host:$host"
if [ "$show_text" = 1 ]; then
    printf '%s\n' "$text"
    exit 0
fi
sig=$(hmac_sha256 "$text")
url="$(encode_path "$path")?$params&kh_sig=$sig"
[ "${#url}" -le 8192 ] ||
    die "the URL would be ${#url} bytes; keyhole reads at most 8192 of path and query (uri-too-long)"
printf '%s\n' "$url"
