<?php
// Prints whether opcache serves this pool ("opcache on" or "opcache off"), so the benchmark can
// check that PHP-FPM runs as in production.
$status = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
echo ($status !== false && $status['opcache_enabled']) ? "opcache on\n" : "opcache off\n";
