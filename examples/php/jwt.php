<?php
// Tandem token endpoint example (PHP, firebase/php-jwt): what TinyMCE's rtc_token_provider
// calls.
//
//   GET /jwt?documentId=DOC -> {"token": "<JWT>"}
//
// It answers only a logged-in user who may open the document (401 / 403 otherwise).
// Run:  composer install
//       TANDEM_PRIVATE_KEY_FILE=acme.private.pem php -S 127.0.0.1:3000 jwt.php
// Settings (environment): TANDEM_PRIVATE_KEY_FILE (private.pem), TANDEM_JWT_ALG (RS256;
// php-jwt also signs RS384, RS512, ES256, ES384, EdDSA), TANDEM_KEY_ID (the kid
// `tandem keys list` shows; without it the token has no kid and Tandem tries each
// registered key that fits the algorithm).
//
// UNTESTED: the test suite runs the Node and Python examples against a real Tandem server;
// this one is only checked with `php -l` where PHP is installed.

declare(strict_types=1);

require __DIR__ . '/vendor/autoload.php';

use Firebase\JWT\JWT;

const TOKEN_TTL_SECONDS = 600;
const DOCUMENT_CLAIM = 'https://claims.tiny.cloud/rtc/document';
const ROLE_CLAIM = 'https://claims.tiny.cloud/rtc/role';

// --- Stand-ins for your application's own login and permissions: replace these. ----------
// A real app reads its session and asks its database who may open which document.
const SESSIONS = ['alice-session' => 'alice', 'bob-session' => 'bob', 'eve-session' => 'eve'];
const ROLES = ['alice' => 'editor', 'bob' => 'viewer']; // every document; eve may open none

function current_user(): ?string
{
    return SESSIONS[$_COOKIE['session'] ?? ''] ?? null;
}

function role_for(string $user, string $documentId): ?string
{
    return ROLES[$user] ?? null; // 'editor', 'viewer' or null (no access)
}
// -------------------------------------------------------------------------------------------

function answer(int $status, array $body): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    header('Cache-Control: no-store');
    echo json_encode($body, JSON_UNESCAPED_SLASHES);
}

if (parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH) !== '/jwt') {
    answer(404, ['message' => 'not found']);
    return;
}
$documentId = $_GET['documentId'] ?? '';
if (!is_string($documentId) || $documentId === '') {
    answer(400, ['message' => 'documentId is required']);
    return;
}
$user = current_user();
if ($user === null) {
    answer(401, ['message' => 'not logged in']);
    return;
}
$role = role_for($user, $documentId);
if ($role === null) {
    answer(403, ['message' => 'no access to this document']);
    return;
}

// The private key signs identity tokens; Tandem holds only the public key (`tandem keys add`).
$privateKey = file_get_contents(getenv('TANDEM_PRIVATE_KEY_FILE') ?: 'private.pem');
$alg = getenv('TANDEM_JWT_ALG') ?: 'RS256';
$kid = getenv('TANDEM_KEY_ID') ?: null;
$now = time();
$claims = [
    'sub' => $user,
    'iat' => $now,
    'exp' => $now + TOKEN_TTL_SECONDS,
    DOCUMENT_CLAIM => $documentId,
    ROLE_CLAIM => $role,
];
answer(200, ['token' => JWT::encode($claims, $privateKey, $alg, $kid)]);
