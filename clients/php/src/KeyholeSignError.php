<?php
// The one error type of the keyhole signer (src/KeyholeSign.php).

declare(strict_types=1);

namespace Keyhole;

/** The inputs describe a URL or cookie keyhole would deny; nothing was signed. */
class KeyholeSignError extends \InvalidArgumentException
{
}
