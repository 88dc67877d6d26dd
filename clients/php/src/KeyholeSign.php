<?php
// Signs keyhole URLs (signed URL format v1, docs/signed-urls.md) and cookie grants
// (format v2, docs/cookies.md). hash_hmac, and ext-sodium for Ed25519 keys.
//
//   use Keyhole\KeyholeSign;                 // Composer autoload (PSR-4: Keyhole\ => src/)
//   $url = KeyholeSign::signUrl(getenv('KEYHOLE_KEYS'), '/photos/café.jpg', ['ttl' => 600]);
//   // -> "/photos/caf%C3%A9.jpg?kh_v=1&kh_kid=k1&kh_exp=…&kh_sig=…"
//
// `path` and `scope` are *decoded* UTF-8 paths (what the file is called); this class
// writes them percent-encoded into the URL. Anything keyhole would deny throws
// KeyholeSignError.
//
// Command line: bin/keyhole-sign (vendor/bin/keyhole-sign once installed with Composer),
// which calls KeyholeSign::main; its usage is written there.

declare(strict_types=1);

namespace Keyhole;

final class KeyholeSign
{
    // Bytes written raw in a path; every other byte of the UTF-8 path becomes %XX.
    private const RAW_PATH_BYTES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/";
    private const MAX_RAW_PATH = 2048;
    private const MAX_URI = 8192;
    private const MAX_PARAMS = 100;
    private const MAX_TIMESTAMP = 999999999999; // 12 digits: milliseconds do not fit
    private const JWT_PARAM = 'token'; // keyhole's default JWT query parameter

    /**
     * Returns `/encoded/path?…&kh_sig=…` for the decoded `$path`.
     *
     * $keys: "kid:secret" (or a KEYHOLE_KEYS list; the first key signs).
     * $options: 'exp' (Unix seconds) or 'ttl' (seconds from 'now', default the clock;
     * rounded up to a multiple of 'window' when given), 'nbf', 'scope' (decoded prefix
     * ending in `/`), 'ip' ('203.0.113.7', '10.0.0.0/8'), 'methods' ('GET,HEAD'),
     * 'query' (an already encoded application query to bind; '' binds an empty one),
     * 'host' (the one virtual host the URL opens on, 'img.example.com').
     */
    public static function signUrl(string $keys, string $path, array $options): string
    {
        return self::sign($keys, $path, $options)[0];
    }

    /** now + ttl rounded up to the next multiple of $window: cacheable URLs. */
    public static function cacheableExpiry(int $now, int $ttl, int $window): int
    {
        if ($window <= 0) {
            throw new KeyholeSignError('window must be positive');
        }
        return intdiv($now + $ttl + $window - 1, $window) * $window;
    }

    /** The exact text HMAC-SHA256 covers (nine labelled lines, a tenth with a host). */
    public static function stringToSign(string $kid, string $path, array $f): string
    {
        return self::hostLine(implode("\n", [
            'keyhole-url-v1',
            "kid:$kid",
            isset($f['scope']) ? "scope:{$f['scope']}" : "path:$path",
            "exp:{$f['exp']}",
            'nbf:' . ($f['nbf'] ?? ''),
            'ip:' . ($f['ip'] ?? ''),
            'methods:' . ($f['methods'] ?? 'GET,HEAD'),
            'bind-query:' . (isset($f['query']) ? '1' : '0'),
            'query:' . ($f['query'] ?? ''),
        ]), $f['host'] ?? null);
    }

    // --- Host binding (kh_host; docs/signed-urls.md, "Hosts") ----------------------

    /** A host in the one form keyhole compares: lower case, no trailing dot, no port. */
    private static function checkHost(string $host): void
    {
        if (!preg_match('/^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$/D', $host) || strlen($host) > 253) {
            throw new KeyholeSignError("host $host must be a lower-case name (a-z 0-9 - _ and dots, "
                . 'labels of 1 to 63, at most 253 bytes; IDNA names as xn--...), without a port or '
                . 'a trailing dot; keyhole would deny it as malformed');
        }
    }

    /** The signed text with the tenth line, `host:`, when a host is bound. */
    private static function hostLine(string $text, ?string $host): string
    {
        return $host === null ? $text : "$text\nhost:$host";
    }

    /** Percent-encodes a decoded path the way keyhole's signers write it. */
    public static function encodePath(string $decoded): string
    {
        $out = '';
        foreach (str_split($decoded) as $byte) {
            $out .= strpos(self::RAW_PATH_BYTES, $byte) !== false ? $byte : sprintf('%%%02X', ord($byte));
        }
        return $decoded === '' ? '' : $out;
    }

    // --- Ed25519 keys (docs/signed-urls.md, "Ed25519 keys"), with ext-sodium ---------

    /**
     * ['ed25519' => sodium secret key] of an `ed25519-seed:SEED` material; an
     * `ed25519:PUBLIC` one verifies but cannot sign.
     */
    private static function ed25519Key(string $material): array
    {
        [$kind, $text] = explode(':', $material, 2);
        if ($kind === 'ed25519') {
            throw new KeyholeSignError('the key is an Ed25519 public key (`kid:ed25519:…`): it verifies but '
                . 'cannot sign; sign with its `kid:ed25519-seed:…` line');
        }
        if (!function_exists('sodium_crypto_sign_seed_keypair')) {
            throw new KeyholeSignError('Ed25519 keys need the sodium extension (ext-sodium)');
        }
        $body = rtrim(trim($text), '=');
        $seed = preg_match('/^[A-Za-z0-9_-]+$/D', $body) && strlen($body) % 4 !== 1
            ? base64_decode(strtr($body, '-_', '+/'), true) : false;
        if ($seed === false || strlen($seed) !== 32) {
            throw new KeyholeSignError('the Ed25519 seed must be exactly 32 bytes of base64url');
        }
        return ['ed25519' => sodium_crypto_sign_secretkey(sodium_crypto_sign_seed_keypair($seed))];
    }

    /**
     * The base64url signature of $text: HMAC-SHA256 under secret bytes, or Ed25519 under
     * a key from ed25519Key (chosen by the key, as keyhole does).
     */
    private static function signature($secret, string $text): string
    {
        $bytes = is_array($secret)
            ? sodium_crypto_sign_detached($text, $secret['ed25519'])
            : hash_hmac('sha256', $text, $secret, true);
        return self::base64url($bytes);
    }

    /** The key line of a vector file: `kid:secret`, or `kid:ed25519-seed:SEED`. */
    private static function vectorKey(array $vectors): string
    {
        $key = $vectors['key'];
        return isset($key['seed']) ? "{$key['kid']}:ed25519-seed:{$key['seed']}" : "{$key['kid']}:{$key['secret']}";
    }

    /**
     * [kid, secret] of the first entry of a KEYHOLE_KEYS-style value: the secret bytes
     * of an HMAC key, or ['ed25519' => secret key] for an Ed25519 seed.
     */
    public static function signingKey(string $keys): array
    {
        foreach (preg_split('/[,\n]/', $keys) as $entry) {
            $entry = trim($entry);
            if ($entry === '' || $entry[0] === '#') {
                continue;
            }
            $parts = explode(':', $entry, 2);
            $kid = trim($parts[0]);
            $secret = trim($parts[1] ?? '');
            if (count($parts) !== 2 || !preg_match('/^[A-Za-z0-9_-]{1,32}$/D', $kid)) {
                throw new KeyholeSignError('key must be `kid:secret` with a kid of 1-32 of A-Z a-z 0-9 _ -');
            }
            if (strncmp($secret, 'ed25519:', 8) === 0 || strncmp($secret, 'ed25519-seed:', 13) === 0) {
                return [$kid, self::ed25519Key($secret)];
            }
            $body = rtrim($secret, '=');
            if (!preg_match('/^[A-Za-z0-9_-]+={0,2}$/D', $secret) || strlen($body) % 4 === 1) {
                throw new KeyholeSignError('key secret must be base64url');
            }
            $bytes = base64_decode(strtr($body, '-_', '+/'), true);
            if ($bytes === false || strlen($bytes) < 32) {
                throw new KeyholeSignError('key secret must be at least 32 bytes of base64url');
            }
            return [$kid, $bytes];
        }
        throw new KeyholeSignError('no key given');
    }

    /** [url, string to sign]: signUrl's work, with the signed text for checks. */
    public static function sign(string $keys, string $path, array $options): array
    {
        [$kid, $secret] = self::signingKey($keys);
        $o = $options;
        if (isset($o['exp']) === isset($o['ttl'])) {
            throw new KeyholeSignError('give exactly one of exp or ttl');
        }
        $now = $o['now'] ?? time();
        self::checkTimestamp($now, 'now');
        if (!isset($o['exp'])) {
            $o['exp'] = isset($o['window'])
                ? self::cacheableExpiry($now, $o['ttl'], $o['window'])
                : $now + $o['ttl'];
        }
        self::checkTimestamp($o['exp'], 'exp');
        if ($o['exp'] <= $now) {
            throw new KeyholeSignError("exp {$o['exp']} is not after now ($now); keyhole would deny it as expired");
        }
        if (isset($o['nbf'])) {
            self::checkTimestamp($o['nbf'], 'nbf');
            if ($o['nbf'] > $o['exp']) {
                throw new KeyholeSignError("nbf {$o['nbf']} is after exp {$o['exp']}; the URL would never be valid");
            }
        }
        self::checkPath($path, 'path', false);
        if (isset($o['scope'])) {
            self::checkPath($o['scope'], 'scope', true);
            if (strncmp($path, $o['scope'], strlen($o['scope'])) !== 0) {
                throw new KeyholeSignError("path $path is not inside scope {$o['scope']}");
            }
        }
        if (isset($o['ip'])) {
            self::checkIp($o['ip']);
        }
        if (isset($o['methods'])) {
            $names = explode(',', $o['methods']);
            if (!preg_match('/^[A-Z]{1,16}(,[A-Z]{1,16}){0,7}$/D', $o['methods'])
                || count(array_unique($names)) !== count($names)) {
                throw new KeyholeSignError("methods {$o['methods']} must be distinct upper-case names like GET,HEAD");
            }
        }

        $params = ['kh_v=1', "kh_kid=$kid", "kh_exp={$o['exp']}"];
        if (isset($o['nbf'])) {
            $params[] = "kh_nbf={$o['nbf']}";
        }
        if (isset($o['scope'])) {
            $params[] = 'kh_scope=' . strtr(self::encodePath($o['scope']), ['&' => '%26', '=' => '%3D', '+' => '%2B']);
        }
        if (isset($o['ip'])) {
            $params[] = "kh_ip={$o['ip']}";
        }
        if (isset($o['methods'])) {
            $params[] = "kh_m={$o['methods']}";
        }
        $query = $o['query'] ?? null;
        if ($query !== null) {
            $params[] = 'kh_q=1';
        }
        if (isset($o['host'])) {
            self::checkHost($o['host']);
            $params[] = "kh_host={$o['host']}";
        }
        $items = ($query ?? '') === '' ? [] : explode('&', $query);
        if ($items) {
            if (!preg_match('/^[\x21\x22\x24-\x7e]+$/D', $query)) {
                throw new KeyholeSignError('query must be percent-encoded visible ASCII without `#`');
            }
            foreach ($items as $item) {
                if ($item === '' || strncmp($item, 'kh_', 3) === 0) {
                    throw new KeyholeSignError("query must not have empty items or keyhole's own kh_ names");
                }
                if (explode('=', $item, 2)[0] === self::JWT_PARAM) {
                    throw new KeyholeSignError('query must not have an item named ' . self::JWT_PARAM
                        . ", keyhole's JWT parameter: with JWTs enabled the URL is ambiguous-credential");
                }
            }
        }
        $count = count($items) + count($params) + 1;
        if ($count > self::MAX_PARAMS) {
            throw new KeyholeSignError("the URL would have $count query items counting keyhole's own; keyhole reads at most "
                . self::MAX_PARAMS . ' (too-many-params)');
        }

        $text = self::stringToSign($kid, $path, $o);
        $params[] = 'kh_sig=' . self::signature($secret, $text);
        $url = self::encodePath($path) . '?' . implode('&', array_merge($items, $params));
        if (strlen($url) > self::MAX_URI) {
            throw new KeyholeSignError('the URL would be ' . strlen($url) . ' bytes; keyhole reads at most '
                . self::MAX_URI . ' of path and query (uri-too-long)');
        }
        return [$url, $text];
    }

    private static function checkTimestamp($value, string $what): void
    {
        if (!is_int($value) || $value < 0 || $value > self::MAX_TIMESTAMP) {
            throw new KeyholeSignError("$what must be Unix seconds (0 to 12 digits), not " . var_export($value, true));
        }
    }

    /** Refuses what keyhole's canonical-path rules would deny. */
    private static function checkPath(string $decoded, string $what, bool $isScope): void
    {
        if ($decoded === '' || $decoded[0] !== '/') {
            throw new KeyholeSignError("$what must start with `/`: $decoded");
        }
        if (!preg_match('//u', $decoded)) {
            throw new KeyholeSignError("$what is not valid UTF-8");
        }
        if (strlen(self::encodePath($decoded)) > self::MAX_RAW_PATH) {
            throw new KeyholeSignError("$what is longer than " . self::MAX_RAW_PATH . ' bytes once encoded');
        }
        // `%`, `\`, `;`, `?`, `#`, C0 controls, DEL and C1 controls (U+0080-U+009F).
        if (preg_match('/[%\\\\;?#\x00-\x1f\x7f]|\xc2[\x80-\x9f]/', $decoded)) {
            throw new KeyholeSignError("$what contains a character keyhole refuses: $decoded");
        }
        $segments = array_slice(explode('/', $decoded), 1);
        $endsWithSlash = substr($decoded, -1) === '/';
        if ($isScope) {
            if (!$endsWithSlash) {
                throw new KeyholeSignError("$what must end with `/`: $decoded");
            }
            array_pop($segments);
        } elseif ($endsWithSlash) {
            throw new KeyholeSignError("$what must name a file, not end with `/`: $decoded");
        }
        foreach ($segments as $segment) {
            if ($segment === '') {
                throw new KeyholeSignError("$what has an empty segment (`//`): $decoded");
            }
            if (substr($segment, -1) === '.') {
                throw new KeyholeSignError("$what has a `.`, `..` or dot-ending segment: $decoded");
            }
        }
    }

    /**
     * An address, or a network (a full-length prefix such as /32 included), in the one
     * canonical text keyhole accepts; the text is signed exactly as written.
     */
    private static function checkIp(string $text): void
    {
        $parts = explode('/', $text, 2);
        $packed = @inet_pton($parts[0]);
        if ($packed === false || !filter_var($parts[0], FILTER_VALIDATE_IP)) {
            throw new KeyholeSignError("ip $text is not an IPv4 or IPv6 address");
        }
        if (strlen($packed) === 16 && substr($packed, 0, 12) === str_repeat("\0", 10) . "\xff\xff") {
            throw new KeyholeSignError("ip $text is IPv4-mapped; bind the IPv4 address instead");
        }
        // inet_ntop writes some IPv6 addresses with a dotted IPv4 part (`::1.2.3.4`);
        // keyhole's canonical text is RFC 5952 hex only.
        $canonical = strlen($packed) === 4 ? inet_ntop($packed) : self::ipv6Text($packed);
        if ($canonical !== $parts[0]) {
            throw new KeyholeSignError("ip $text is not canonical; write $canonical");
        }
        if (count($parts) === 1) {
            return;
        }
        $max = strlen($packed) * 8;
        if (!preg_match('/^(0|[1-9][0-9]*)$/D', $parts[1]) || (int) $parts[1] > $max) {
            throw new KeyholeSignError("ip $text has a bad prefix length");
        }
        $prefix = (int) $parts[1];
        for ($i = 0; $i < strlen($packed); $i++) {
            $keep = min(max($prefix - $i * 8, 0), 8);
            if (ord($packed[$i]) & ((1 << (8 - $keep)) - 1)) {
                throw new KeyholeSignError("ip $text has host bits set");
            }
        }
    }

    /**
     * RFC 5952 text of a packed IPv6 address: lower-case hex without leading zeros, the
     * longest run of two or more zero groups (the first on a tie) written `::`.
     */
    private static function ipv6Text(string $packed): string
    {
        $groups = array_values(unpack('n8', $packed));
        [$bestAt, $bestLen, $runAt, $runLen] = [-1, 1, 0, 0];
        foreach ($groups as $index => $group) {
            if ($group !== 0) {
                $runLen = 0;
                continue;
            }
            if ($runLen === 0) {
                $runAt = $index;
            }
            $runLen++;
            if ($runLen > $bestLen) {
                [$bestAt, $bestLen] = [$runAt, $runLen];
            }
        }
        $hexes = array_map('dechex', $groups);
        if ($bestAt < 0) {
            return implode(':', $hexes);
        }
        return implode(':', array_slice($hexes, 0, $bestAt)) . '::'
            . implode(':', array_slice($hexes, $bestAt + $bestLen));
    }

    /** Signs every `signing` vector and compares; returns the number of mismatches. */
    public static function checkVectors(string $fileName): int
    {
        $vectors = json_decode(file_get_contents($fileName), true, 16, JSON_THROW_ON_ERROR);
        $keys = self::vectorKey($vectors);
        $failures = 0;
        foreach ($vectors['signing'] as $case) {
            $input = $case['input'] + ['now' => $vectors['now']];
            [$url, $text] = self::sign($keys, $input['path'], $input);
            $ok = $url === $case['url'] && $text === $case['string_to_sign'];
            $failures += $ok ? 0 : 1;
            echo ($ok ? 'ok   ' : 'FAIL ') . $case['name'] . "\n";
            if (!$ok) {
                echo "  want {$case['url']}\n  got  $url\n";
            }
        }
        return $failures;
    }

    /** The default cookie name (KEYHOLE_COOKIE_NAME). */
    public const COOKIE_NAME = '__Host-keyhole';

    /** The exact text HMAC-SHA256 covers for a cookie grant, format v2 (seven lines). */
    public static function cookieStringToSign(
        string $kid,
        string $scope,
        int $exp,
        string $sid = '',
        string $ip = '',
        string $methods = 'GET,HEAD'
    ): string {
        return implode("\n", [
            'keyhole-cookie-v2', "kid:$kid", "scope:$scope", "exp:$exp", "sid:$sid", "ip:$ip",
            "methods:$methods",
        ]);
    }

    /**
     * Signs a cookie grant for every file below the decoded $scope (ending in `/`).
     * Returns ['value' => …, 'setCookie' => …, 'sid' => …, 'exp' => …, 'maxAge' => …].
     *
     * $keys: "kid:secret" (or a KEYHOLE_KEYS list; the first key signs).
     * $options: 'exp' (Unix seconds) or 'ttl' (seconds from 'now', default the clock;
     * Max-Age is exp - now), 'sid' (1-64 of A-Z a-z 0-9 _ -; '' for none; default a
     * fresh random 128-bit id), 'ip' (client address or network in canonical form; ''
     * default: any client), 'methods' ('GET,HEAD' default, 'GET' or 'HEAD'), 'sameSite'
     * ('Lax' default, or 'Strict').
     */
    public static function signCookie(string $keys, string $scope, array $options): array
    {
        return self::cookie($keys, $scope, $options)[0];
    }

    /** [grant, string to sign]: signCookie's work, with the signed text for checks. */
    public static function cookie(string $keys, string $scope, array $o): array
    {
        [$kid, $secret] = self::signingKey($keys);
        if (isset($o['exp']) === isset($o['ttl'])) {
            throw new KeyholeSignError('give exactly one of exp or ttl');
        }
        $now = $o['now'] ?? time();
        self::checkTimestamp($now, 'now');
        $exp = $o['exp'] ?? $now + $o['ttl'];
        self::checkTimestamp($exp, 'exp');
        if ($exp <= $now) {
            throw new KeyholeSignError("exp $exp is not in the future");
        }
        self::checkPath($scope, 'scope', true);
        $sid = $o['sid'] ?? self::base64url(random_bytes(16));
        if ($sid !== '' && !preg_match('/^[A-Za-z0-9_-]{1,64}$/D', $sid)) {
            throw new KeyholeSignError("sid $sid must be 1-64 of A-Z a-z 0-9 _ -");
        }
        $ip = $o['ip'] ?? '';
        if ($ip !== '') {
            self::checkIp($ip);
        }
        $methods = $o['methods'] ?? 'GET,HEAD';
        if (!in_array($methods, ['GET,HEAD', 'GET', 'HEAD'], true)) {
            throw new KeyholeSignError("methods must be GET,HEAD, GET or HEAD, not '$methods'");
        }
        $sameSite = $o['sameSite'] ?? 'Lax';
        if ($sameSite !== 'Lax' && $sameSite !== 'Strict') {
            throw new KeyholeSignError("sameSite must be Lax or Strict, not $sameSite");
        }
        $text = self::cookieStringToSign($kid, $scope, $exp, $sid, $ip, $methods);
        $signature = self::signature($secret, $text);
        $value = implode('.', [
            '2', $kid, self::base64url($scope), (string) $exp, $sid, self::base64url($ip),
            self::base64url($methods), $signature,
        ]);
        if (strlen($value) > 1024) {
            throw new KeyholeSignError('the cookie value would be longer than 1024 bytes');
        }
        $maxAge = $exp - $now;
        $name = $o['name'] ?? self::COOKIE_NAME;
        $setCookie = "$name=$value; HttpOnly; SameSite=$sameSite; Secure; Path=/; Max-Age=$maxAge";
        return [
            ['value' => $value, 'setCookie' => $setCookie, 'sid' => $sid, 'exp' => $exp, 'maxAge' => $maxAge],
            $text,
        ];
    }

    private static function base64url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }

    public static function checkCookieVectors(string $fileName): int
    {
        $vectors = json_decode((string) file_get_contents($fileName), true, 512, JSON_THROW_ON_ERROR);
        $keys = self::vectorKey($vectors);
        $failures = 0;
        // The Ed25519 file keeps its cookie vectors under `cookies`.
        foreach ($vectors['cookies'] ?? $vectors['signing'] as $case) {
            $in = $case['input'];
            [$grant, $text] = self::cookie($keys, $in['scope'], [
                'exp' => $in['exp'], 'sid' => $in['sid'], 'ip' => $in['ip'],
                'methods' => $in['methods'], 'sameSite' => $in['same_site'],
                'now' => $vectors['now'], 'name' => $vectors['name'],
            ]);
            $ok = $grant['value'] === $case['value'] && $grant['setCookie'] === $case['set_cookie']
                && $text === $case['string_to_sign'] && $grant['maxAge'] === $in['max_age'];
            $failures += $ok ? 0 : 1;
            echo ($ok ? 'ok   ' : 'FAIL ') . $case['name'] . "\n";
            if (!$ok) {
                echo "  want {$case['set_cookie']}\n  got  {$grant['setCookie']}\n";
            }
        }
        return $failures;
    }

    private static function cookieMain(array $argv): int
    {
        $options = [];
        $flags = [];
        $positional = [];
        $keys = [
            'exp' => 'exp', 'ttl' => 'ttl', 'now' => 'now', 'sid' => 'sid', 'ip' => 'ip',
            'methods' => 'methods', 'same-site' => 'sameSite',
        ];
        for ($i = 0; $i < count($argv); $i++) {
            $name = strncmp($argv[$i], '--', 2) === 0 ? substr($argv[$i], 2) : null;
            if (in_array($name, ['no-sid', 'value', 'string-to-sign'], true)) {
                $flags[$name] = true;
            } elseif (isset($keys[$name ?? '']) && $i + 1 < count($argv)) {
                $value = $argv[++$i];
                if (in_array($name, ['exp', 'ttl', 'now'], true)) {
                    if (!preg_match('/^[0-9]{1,15}$/D', $value)) {
                        throw new KeyholeSignError("--$name needs seconds, not $value");
                    }
                    $value = (int) $value;
                }
                $options[$keys[$name]] = $value;
            } elseif ($name !== null) {
                throw new KeyholeSignError("unknown option or missing value: {$argv[$i]}");
            } else {
                $positional[] = $argv[$i];
            }
        }
        if (count($positional) !== 1) {
            throw new KeyholeSignError('give exactly one SCOPE (decoded, ending in `/`)');
        }
        if (isset($flags['no-sid'])) {
            if (isset($options['sid'])) {
                throw new KeyholeSignError('give --sid or --no-sid, not both');
            }
            $options['sid'] = '';
        }
        [$grant, $text] = self::cookie((string) getenv('KEYHOLE_KEYS'), $positional[0], $options);
        echo (isset($flags['string-to-sign']) ? $text : (isset($flags['value']) ? $grant['value'] : $grant['setCookie'])) . "\n";
        return 0;
    }

    /**
     * The command line (`bin/keyhole-sign`), `$argv` without the program name; returns
     * the exit code: 0 success, 1 a vector differs. Throws KeyholeSignError for a usage
     * error or an input keyhole would deny (the caller prints it and exits 2).
     */
    public static function main(array $argv): int
    {
        if (count($argv) === 2 && $argv[0] === '--cookie-vectors') {
            return self::checkCookieVectors($argv[1]) ? 1 : 0;
        }
        if (($argv[0] ?? '') === '--cookie') {
            return self::cookieMain(array_slice($argv, 1));
        }
        if (count($argv) === 2 && $argv[0] === '--vectors') {
            return self::checkVectors($argv[1]) ? 1 : 0;
        }
        $names = ['exp', 'ttl', 'window', 'now', 'nbf', 'scope', 'ip', 'methods', 'query', 'host'];
        $numbers = ['exp', 'ttl', 'window', 'now', 'nbf'];
        $options = [];
        $positional = [];
        $showText = false;
        for ($i = 0; $i < count($argv); $i++) {
            $name = strncmp($argv[$i], '--', 2) === 0 ? substr($argv[$i], 2) : null;
            if ($name === 'string-to-sign') {
                $showText = true;
            } elseif (in_array($name, $names, true) && $i + 1 < count($argv)) {
                $value = $argv[++$i];
                if (in_array($name, $numbers, true) && !preg_match('/^[0-9]{1,15}$/D', $value)) {
                    throw new KeyholeSignError("--$name needs Unix seconds, not $value");
                }
                $options[$name] = in_array($name, $numbers, true) ? (int) $value : $value;
            } elseif ($name !== null) {
                throw new KeyholeSignError("unknown option or missing value: {$argv[$i]}");
            } else {
                $positional[] = $argv[$i];
            }
        }
        if (count($positional) !== 1) {
            throw new KeyholeSignError("give exactly one PATH (decoded, e.g. '/photos/café au lait.jpg')");
        }
        [$url, $text] = self::sign((string) getenv('KEYHOLE_KEYS'), $positional[0], $options);
        echo ($showText ? $text : $url) . "\n";
        return 0;
    }
}
