// A real OpenID Connect provider for the local run and the tests: panva's OpenID-certified
// `oidc-provider` (npm, pinned in deploy/tools/npm/package-lock.json), configured with the demo
// people of deploy/local/oidc/users.json, the console as a public client (authorization code + PKCE)
// and the services as confidential clients (client_credentials). Access tokens are JWTs for the
// audience C360_OIDC_AUDIENCE carrying a `groups` claim, which the services map to scopes
// (shared/web/roles.json). NOT for production: users and secrets are demo data, and it serves HTTP.
//
//   node provider.mjs                 serve on C360_OIDC_PORT (default 8090)
//
// Environment:
//   C360_OIDC_PORT       port on 127.0.0.1 (default 8090)
//   C360_OIDC_ISSUER     issuer URL (default http://127.0.0.1:<port>)
//   C360_OIDC_AUDIENCE   the API audience (default urn:customer360:api)
//   C360_OIDC_KEYS       JSON file with {"keys": [private JWKs]}; the first RSA key signs RS256 tokens,
//                        the first EC P-256 key ES256 ones. Created (one RSA, one EC key) when missing.
//                        Key rotation = write a new file and restart on the same port: every key in
//                        the file is published, the first of each type signs.
//   C360_OIDC_USERS      users file (default users.json next to this script)
//   C360_OIDC_REDIRECTS  comma-separated extra redirect URIs for the console client
//   C360_OIDC_TTL        access token lifetime in seconds (default 300)
//   C360_NPM_TOOLS       where deploy/tools/npm/install.sh installed oidc-provider (default .local/tools/npm)
// Prints one JSON line {"ready": true, "issuer": ...} on stdout once it listens.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// oidc-provider lives in the npm tools directory (deploy/tools/npm/install.sh), not next to this script.
const tools = process.env.C360_NPM_TOOLS || path.join(here, '..', '..', '..', '.local', 'tools', 'npm');
const { default: Provider, errors } = await import(
  pathToFileURL(path.join(tools, 'node_modules', 'oidc-provider', 'lib', 'index.js')).href
);
const port = Number(process.env.C360_OIDC_PORT || 8090);
const issuer = process.env.C360_OIDC_ISSUER || `http://127.0.0.1:${port}`;
const audience = process.env.C360_OIDC_AUDIENCE || 'urn:customer360:api';
const ttl = Number(process.env.C360_OIDC_TTL || 300);
const usersFile = process.env.C360_OIDC_USERS || path.join(here, 'users.json');
const keysFile = process.env.C360_OIDC_KEYS || path.join(here, '..', '..', '..', '.local', 'oidc-keys.json');

const directory = JSON.parse(fs.readFileSync(usersFile, 'utf8'));
const users = new Map(directory.users.map((user) => [user.username, user]));

function loadKeys() {
  if (!fs.existsSync(keysFile)) {
    // Node's own crypto makes the key pairs; no extra dependency.
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const stamp = Date.now().toString(36);
    const keys = [
      { ...rsa, kid: `rsa-${stamp}`, use: 'sig', alg: 'RS256' },
      { ...ec, kid: `ec-${stamp}`, use: 'sig', alg: 'ES256' },
    ];
    fs.mkdirSync(path.dirname(keysFile), { recursive: true });
    fs.writeFileSync(keysFile, JSON.stringify({ keys }), { mode: 0o600 });
  }
  return JSON.parse(fs.readFileSync(keysFile, 'utf8'));
}

const consoleRedirects = [
  'http://127.0.0.1:8004/console/signin',
  'http://localhost:8004/console/signin',
  ...(process.env.C360_OIDC_REDIRECTS || '').split(',').map((uri) => uri.trim()).filter(Boolean),
];

// Which algorithm signs each client's access tokens: the console gets RS256, services ES256, so
// both verification paths are exercised by the same provider.
const tokenAlg = new Map([['c360-console', 'RS256']]);
for (const service of directory.services) tokenAlg.set(service.client_id, service.access_token_alg || 'ES256');

const clients = [
  {
    client_id: 'c360-console',
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: consoleRedirects,
    post_logout_redirect_uris: consoleRedirects,
  },
  ...directory.services.map((service) => ({
    client_id: service.client_id,
    client_secret: service.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  })),
];
const serviceGroups = new Map(directory.services.map((service) => [service.client_id, service.groups]));

const configuration = {
  clients,
  jwks: loadKeys(),
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
  pkce: { required: () => true },
  ttl: { AccessToken: ttl, IdToken: ttl, ClientCredentials: ttl, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600, RefreshToken: 8 * 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // The provider's own confirmation page, without the default's web fonts (works offline).
      async logoutSource(ctx, form) {
        ctx.type = 'html';
        ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head><body>
<h1>Sign out of the Customer 360 local identity provider?</h1>${form}
<button id="sign-out" autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>`;
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        if (resource !== audience) throw new errors.InvalidTarget();
        return {
          scope: 'api',
          audience,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: tokenAlg.get(client.clientId) || 'RS256' } },
        };
      },
    },
  },
  // Refresh tokens for the console (public client) without an offline_access consent screen.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, name: user.name, preferred_username: id, email: user.email, groups: user.groups }),
    };
  },
  // The groups claim goes into every access token: people's from the directory, services' from their client.
  async extraTokenClaims(ctx, token) {
    if (token.accountId) return { groups: users.get(token.accountId)?.groups || [] };
    if (token.clientId && serviceGroups.has(token.clientId)) return { groups: serviceGroups.get(token.clientId) };
    return undefined;
  },
  // First-party clients only: grant what they ask without a consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email groups offline_access');
    grant.addOIDCClaims(['sub', 'name', 'preferred_username', 'email', 'groups']);
    grant.addResourceScope(audience, 'api');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1><pre>${escape(JSON.stringify(out))}</pre>`;
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = true;

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, message) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer 360 local sign-in</title></head>
<body>
<h1>Customer 360 — local identity provider</h1>
${message ? `<p id="error" role="alert">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label>Username <input id="username" name="username" required autofocus></label>
  <label>Password <input id="password" name="password" type="password" required></label>
  <button id="sign-in" type="submit">Sign in</button>
</form>
</body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function passwordMatches(user, password) {
  const expected = Buffer.from(user.password);
  const given = Buffer.from(password);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

async function interaction(req, res) {
  const match = /^\/interaction\/([^/?]+)(\/login)?/.exec(req.url);
  const details = await provider.interactionDetails(req, res);
  if (!match || details.uid !== match[1]) throw new errors.SessionNotFound('interaction mismatch');
  if (req.method === 'GET' && !match[2]) {
    if (details.prompt.name === 'login') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(loginPage(details.uid));
    }
    // Consent for a first-party client: loadExistingGrant already granted everything.
    const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope('openid profile email groups offline_access');
    grant.addResourceScope(audience, 'api');
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (req.method === 'POST' && match[2]) {
    const form = await readForm(req);
    const user = users.get(form.get('username') || '');
    if (!user || !passwordMatches(user, form.get('password') || '')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(loginPage(details.uid, 'Unknown user or wrong password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
  }
  res.writeHead(405);
  return res.end();
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${error.message}`);
    });
    return;
  }
  callback(req, res);
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, audience, kids: configuration.jwks.keys.map((k) => k.kid) })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
