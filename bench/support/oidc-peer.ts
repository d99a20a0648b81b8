/**
 * The identity bench's peer: panva's oidc-provider, one Node process, issuing RS256 JWT access
 * tokens for the client-credentials grant (resource indicators with `accessTokenFormat: 'jwt'`),
 * to one client that authenticates with client_secret_post — the same request our token endpoint
 * answers. Its in-memory defaults, no access log, no audit: the reference our whole system is held to.
 * Takes PORT, PEER_CLIENT_ID and PEER_CLIENT_SECRET; /health answers 200 for the bench's start-up check.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const clientId = process.env.PEER_CLIENT_ID;
const clientSecret = process.env.PEER_CLIENT_SECRET;
if (!Number.isInteger(port) || !clientId || !clientSecret) throw new Error('oidc-peer needs PORT, PEER_CLIENT_ID and PEER_CLIENT_SECRET');

const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:artstore:api';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'peer', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [signingKey] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: 'artstore',
        accessTokenTTL: 1800,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  ttl: { ClientCredentials: 1800 },
});
const callback = provider.callback();

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1');
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
