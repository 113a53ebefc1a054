// Tandem back-end example (Node.js, Express + jose): the two endpoints that TinyMCE's
// rtc_token_provider and rtc_encryption_provider call.
//
//   GET /jwt?documentId=DOC                -> {"token": "<JWT>"}        (rtc_token_provider)
//   GET /rtc-key?documentId=DOC[&keyHint=H] -> {"key": "...", "keyHint": "..."}
//                                                                      (rtc_encryption_provider)
//
// Both answer only a logged-in user who may open the document (401 / 403 otherwise).
// Run:  npm ci && TANDEM_PRIVATE_KEY_FILE=acme.private.pem node server.js
// Settings (environment): PORT (3000), HOST (127.0.0.1), TANDEM_PRIVATE_KEY_FILE
// (private.pem), TANDEM_JWT_ALG (RS256), TANDEM_KEY_ID (default: the key's RFC 7638
// thumbprint, the kid `tandem keys add` gives it), TANDEM_KEY_SECRETS_FILE (key-secrets.json).

import { createHash, createPublicKey, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import express from 'express';
import { SignJWT, calculateJwkThumbprint, exportJWK, importPKCS8 } from 'jose';

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const ALG = process.env.TANDEM_JWT_ALG || 'RS256';
const TOKEN_TTL_SECONDS = 600;
const MAX_DOCUMENT_ID = 512; // Tandem's limit
const DOCUMENT_CLAIM = 'https://claims.tiny.cloud/rtc/document';
const ROLE_CLAIM = 'https://claims.tiny.cloud/rtc/role';

// --- Stand-ins for your application's own login and permissions: replace these. ----------
// A real app reads its session cookie and asks its database who may open which document.
const SESSIONS = { 'alice-session': 'alice', 'bob-session': 'bob', 'eve-session': 'eve' };
const ROLES = { alice: 'editor', bob: 'viewer' }; // every document; eve may open none

function currentUser(req) {
  for (const part of (req.headers.cookie || '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === 'session') return SESSIONS[value] ?? null;
  }
  return null;
}

function roleFor(user, documentId) {
  return ROLES[user] ?? null; // 'editor', 'viewer' or null (no access)
}
// -------------------------------------------------------------------------------------------

// The private key signs identity tokens; Tandem holds only the public key (`tandem keys add`).
const pem = readFileSync(process.env.TANDEM_PRIVATE_KEY_FILE || 'private.pem', 'utf8');
const privateKey = await importPKCS8(pem, ALG);
const KID = process.env.TANDEM_KEY_ID
  || await calculateJwkThumbprint(await exportJWK(createPublicKey(pem)));

// Per-document keys: HKDF-SHA256 of the secret named by the key hint (see examples/README.md).
// key-secrets.json: {"current": "2026-01", "secrets": {"2026-01": "<base64url, 32 random bytes>"}}
const keySecrets = JSON.parse(
  readFileSync(process.env.TANDEM_KEY_SECRETS_FILE || 'key-secrets.json', 'utf8'));
if (!Object.hasOwn(keySecrets.secrets, keySecrets.current)) {
  throw new Error('key-secrets.json: "current" must name one of "secrets"');
}
const KEY_INFO_LABEL = Buffer.from('tandem-example/document-key/v1:', 'utf8');

function documentKey(keyHint, documentId) {
  const secret = Buffer.from(keySecrets.secrets[keyHint], 'base64url');
  const info = Buffer.concat([KEY_INFO_LABEL, createHash('sha256').update(documentId, 'utf8').digest()]);
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, 32)).toString('base64url');
}

/** The user and their role for ?documentId=, or null after answering 400/401/403. */
function authorize(req, res) {
  const documentId = req.query.documentId;
  if (typeof documentId !== 'string' || !documentId || documentId.length > MAX_DOCUMENT_ID) {
    res.status(400).json({ message: 'documentId is required' });
    return null;
  }
  const user = currentUser(req);
  if (!user) {
    res.status(401).json({ message: 'not logged in' });
    return null;
  }
  const role = roleFor(user, documentId);
  if (!role) {
    res.status(403).json({ message: 'no access to this document' });
    return null;
  }
  res.set('Cache-Control', 'no-store');
  return { user, role, documentId };
}

const app = express();

app.get('/jwt', async (req, res) => {
  const who = authorize(req, res);
  if (!who) return;
  const token = await new SignJWT({ [DOCUMENT_CLAIM]: who.documentId, [ROLE_CLAIM]: who.role })
    .setProtectedHeader({ alg: ALG, kid: KID, typ: 'JWT' })
    .setSubject(who.user)
    .setIssuedAt()
    .setExpirationTime(`${TOKEN_TTL_SECONDS}s`)
    .sign(privateKey);
  res.json({ token });
});

app.get('/rtc-key', (req, res) => {
  const who = authorize(req, res);
  if (!who) return;
  // No keyHint: a new document (or a key rotation) - hand out the current hint.
  const keyHint = req.query.keyHint ?? keySecrets.current;
  if (typeof keyHint !== 'string' || !Object.hasOwn(keySecrets.secrets, keyHint)) {
    res.status(404).json({ message: 'unknown key hint' });
    return;
  }
  res.json({ key: documentKey(keyHint, who.documentId), keyHint });
});

app.listen(PORT, HOST, () => {
  console.log(`token endpoint and key service on http://${HOST}:${PORT} (alg ${ALG}, kid ${KID})`);
});
