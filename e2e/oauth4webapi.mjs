// Drives a Subzero node as a real agent would, with oauth4webapi (strict
// about the RFCs) and nothing else: discovery, dynamic registration,
// DPoP-bound client credentials with a nonce retry, introspection, a
// DPoP-protected resource found through RFC 9728 metadata,
// private_key_jwt, revocation and, when the node serves an authorization
// endpoint, the code flow with PKCE through the login and consent pages.
//
//	node e2e/oauth4webapi.mjs http://127.0.0.1:PORT
//
// The node must run with oauth.dpop.nonce: required. The code flow logs in
// as E2E_USERNAME with E2E_PASSWORD. Exits 1 with a message on any failure.
import * as oauth from 'oauth4webapi'
import { createHash, createPublicKey, verify } from 'node:crypto'
import { loginAndConsent } from './browser.mjs'

const insecure = { [oauth.allowInsecureRequests]: true } // http on loopback only
let stepN = 0
const step = (msg) => console.log(`step ${++stepN}: ${msg}`)
const fail = (msg) => { throw new Error(msg) }
const check = (cond, msg) => cond || fail(msg)

// sendRetrying sends a DPoP request and processes its response, sending it
// once more when the server asks for a nonce (RFC 9449 §8), as oauth4webapi
// documents; the handle has cached the nonce by then.
async function sendRetrying(request, processResponse) {
  try {
    return { result: await processResponse(await request()), retried: false }
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    return { result: await processResponse(await request()), retried: true }
  }
}

// thumbprint is the RFC 7638 SHA-256 JWK thumbprint of an EC public key,
// computed here independently of oauth4webapi.
async function thumbprint(publicKey) {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', publicKey)
  return createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url')
}

// accessTokenClaims checks an RFC 9068 access token: typ at+jwt, signed by
// a key of the server's JWKS, this issuer, not expired; returns its claims.
async function accessTokenClaims(as, jwt) {
  const [h, p, s] = jwt.split('.')
  const header = JSON.parse(Buffer.from(h, 'base64url'))
  const claims = JSON.parse(Buffer.from(p, 'base64url'))
  check(header.typ === 'at+jwt', `access token typ ${header.typ}, want at+jwt`)
  const res = await fetch(as.jwks_uri)
  check(res.ok, `GET ${as.jwks_uri}: ${res.status}`)
  const jwks = await res.json()
  const jwk = jwks.keys.find((k) => k.kid === header.kid) ?? fail(`no JWKS key has kid ${header.kid}`)
  const hash = { ES256: 'sha256', RS256: 'sha256', EdDSA: null }[header.alg]
  check(hash !== undefined, `unexpected access token alg ${header.alg}`)
  const key = { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }
  check(verify(hash, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')), 'access token signature does not verify')
  check(claims.iss === as.issuer, `access token iss ${claims.iss}, want ${as.issuer}`)
  check(claims.exp > Date.now() / 1000, 'access token already expired')
  return claims
}

async function codeFlow(as) {
  const username = process.env.E2E_USERNAME ?? fail('E2E_USERNAME is not set')
  const password = process.env.E2E_PASSWORD ?? fail('E2E_PASSWORD is not set')
  const redirectUri = 'http://127.0.0.1:8976/cb'
  const client = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    token_endpoint_auth_method: 'none', scope: 'mcp', client_name: 'e2e public client',
  }, insecure))
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const jkt = await DPoP.calculateThumbprint()
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(as.authorization_endpoint)
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: redirectUri, scope: 'mcp', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', dpop_jkt: jkt,
  })

  const location = await loginAndConsent(url, username, password, redirectUri)
  const params = oauth.validateAuthResponse(as, client, location, state) // checks iss (RFC 9207)
  step(`code flow: logged in as ${username}, approved, code returned to ${redirectUri} with state and iss`)

  const { result: tokens } = await sendRetrying(
    () => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, redirectUri, verifier, { DPoP, ...insecure }),
    (r) => oauth.processAuthorizationCodeResponse(as, client, r))
  check(tokens.token_type === 'dpop', `code exchange token_type ${tokens.token_type}, want dpop`)
  check(tokens.refresh_token, 'code exchange returned no refresh token')
  const claims = await accessTokenClaims(as, tokens.access_token)
  check(claims.cnf?.jkt === jkt, `code flow token cnf.jkt ${claims.cnf?.jkt}, want ${jkt}`)
  check(claims.client_id === client.client_id && claims.sub, `code flow token client_id ${claims.client_id}, sub ${claims.sub}`)
  step(`code exchange with PKCE verifier and DPoP: token bound to ${jkt}, sub ${claims.sub}, refresh token issued`)

  const refresh = (rt) => sendRetrying(
    () => oauth.refreshTokenGrantRequest(as, client, oauth.None(), rt, { DPoP, ...insecure }),
    (r) => oauth.processRefreshTokenResponse(as, client, r))
  const { result: next } = await refresh(tokens.refresh_token)
  check(next.token_type === 'dpop' && next.refresh_token && next.refresh_token !== tokens.refresh_token,
    'refresh did not return a DPoP token and a new refresh token')
  check((await accessTokenClaims(as, next.access_token)).cnf?.jkt === jkt, 'refreshed token is not bound to the DPoP key')
  const refused = async (rt, what) => {
    const err = await refresh(rt).then(() => null, (e) => e)
    check(err instanceof oauth.ResponseBodyError && err.error === 'invalid_grant', `${what}: ${err ?? 'accepted'}, want invalid_grant`)
  }
  await refused(tokens.refresh_token, 'reuse of the rotated-out refresh token')
  await refused(next.refresh_token, 'the new refresh token after reuse was detected')
  step('refresh: rotated; the old refresh token is refused (invalid_grant) and its family revoked')
}

async function main() {
  const major = Number(process.versions.node.split('.')[0])
  check(major >= 20, `Node.js ${process.versions.node}: oauth4webapi needs 20 or later`)
  const issuer = new URL(process.argv[2] ?? fail('usage: node e2e/oauth4webapi.mjs <issuer URL>'))
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  for (const k of ['token_endpoint', 'registration_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri']) {
    check(as[k], `discovery document lacks ${k}`)
  }
  step(`discovery: issuer ${as.issuer}, token endpoint ${as.token_endpoint}`)

  const client = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'mcp', client_name: 'e2e robot',
  }, insecure))
  check(client.client_secret, 'registration of a confidential client returned no client_secret')
  const basic = oauth.ClientSecretBasic(client.client_secret)
  step(`registration: confidential client ${client.client_id} (client_secret_basic)`)

  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const jkt = await DPoP.calculateThumbprint()
  check(jkt === await thumbprint(keyPair.publicKey), 'oauth4webapi and node:crypto disagree on the JWK thumbprint')
  const { result: tok, retried } = await sendRetrying(
    () => oauth.clientCredentialsGrantRequest(as, client, basic, { scope: 'mcp' }, { DPoP, ...insecure }),
    (r) => oauth.processClientCredentialsResponse(as, client, r))
  check(retried, 'the first DPoP proof without a nonce was accepted; want use_dpop_nonce (node runs with oauth.dpop.nonce: required)')
  check(tok.token_type === 'dpop', `token_type ${tok.token_type}, want dpop`)
  const claims = await accessTokenClaims(as, tok.access_token)
  check(claims.cnf?.jkt === jkt, `token cnf.jkt ${claims.cnf?.jkt}, want the key's thumbprint ${jkt}`)
  check(claims.client_id === client.client_id, `token client_id ${claims.client_id}, want ${client.client_id}`)
  step(`client credentials with DPoP: use_dpop_nonce, retried; token_type DPoP, typ at+jwt, cnf.jkt ${jkt}`)

  const introspect = async (token) => oauth.processIntrospectionResponse(as, client,
    await oauth.introspectionRequest(as, client, basic, token, insecure))
  const info = await introspect(tok.access_token)
  check(info.active === true, `introspection: active ${info.active}, want true`)
  check(info.client_id === client.client_id, `introspection client_id ${info.client_id}, want ${client.client_id}`)
  check(info.cnf?.jkt === jkt, `introspection cnf.jkt ${info.cnf?.jkt}, want ${jkt}`)
  step('introspection: active, client_id and cnf.jkt match')

  // A protected resource of the node: discovered from its 401 challenge
  // (RFC 9728), then called with a DPoP-bound token for its audience.
  const resourceURL = new URL('/oauth2/userinfo', as.issuer)
  const bare = await fetch(resourceURL)
  const challenge = bare.headers.get('www-authenticate') ?? ''
  check(bare.status === 401 && /resource_metadata="/.test(challenge), `unauthenticated resource call: ${bare.status} ${challenge}`)
  const rs = await oauth.processResourceDiscoveryResponse(resourceURL, await oauth.resourceDiscoveryRequest(resourceURL, insecure))
  check(rs.authorization_servers?.includes(as.issuer), `resource metadata names ${rs.authorization_servers}, want ${as.issuer}`)
  const { result: rtok } = await sendRetrying(
    () => oauth.clientCredentialsGrantRequest(as, client, basic, { scope: 'mcp', resource: rs.resource }, { DPoP, ...insecure }),
    (r) => oauth.processClientCredentialsResponse(as, client, r))
  const rclaims = await accessTokenClaims(as, rtok.access_token)
  check([rclaims.aud].flat().includes(rs.resource), `token aud ${rclaims.aud}, want the resource ${rs.resource}`)
  const { result: me } = await sendRetrying(
    () => oauth.protectedResourceRequest(rtok.access_token, 'GET', resourceURL, undefined, undefined, { DPoP, ...insecure }),
    async (r) => { check(r.status === 200, `resource call: ${r.status} ${await r.clone().text()}`); return r.json() })
  check(me.client_id === client.client_id, `resource saw client ${me.client_id}, want ${client.client_id}`)
  const asBearer = await fetch(resourceURL, { headers: { authorization: `Bearer ${rtok.access_token}` } })
  check(asBearer.status === 401 && /invalid_token/.test(asBearer.headers.get('www-authenticate') ?? ''),
    `a DPoP-bound token sent as Bearer: ${asBearer.status}, want 401 invalid_token`)
  step(`protected resource ${resourceURL.pathname}: discovered by RFC 9728, DPoP call ok, the bound token as Bearer refused`)

  const pkj = await oauth.generateKeyPair('ES256')
  const publicJwk = { ...(await crypto.subtle.exportKey('jwk', pkj.publicKey)), kid: 'e2e-1', alg: 'ES256', use: 'sig' }
  delete publicJwk.key_ops
  delete publicJwk.ext
  const jwtClient = await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, {
    grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] }, scope: 'mcp',
  }, insecure))
  check(!jwtClient.client_secret, 'a private_key_jwt client was given a client_secret')
  const jwtTok = await oauth.processClientCredentialsResponse(as, jwtClient, await oauth.clientCredentialsGrantRequest(
    as, jwtClient, oauth.PrivateKeyJwt({ key: pkj.privateKey, kid: publicJwk.kid }), { scope: 'mcp' }, insecure))
  check(jwtTok.access_token && jwtTok.token_type === 'bearer', `private_key_jwt token_type ${jwtTok.token_type}, want bearer`)
  check((await accessTokenClaims(as, jwtTok.access_token)).client_id === jwtClient.client_id, 'private_key_jwt token names another client')
  step(`private_key_jwt: client ${jwtClient.client_id} got a bearer token`)

  await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, basic, tok.access_token, insecure))
  const after = await introspect(tok.access_token)
  check(after.active === false, `introspection after revocation: active ${after.active}, want false`)
  step('revocation: accepted; introspection now says active false')

  if (!as.authorization_endpoint) {
    console.log('authorization_endpoint not served: skipping the code flow')
  } else {
    await codeFlow(as)
  }
  console.log('PASS')
}

main().catch((err) => {
  console.error(`FAIL at step ${stepN + 1}: ${err.message}`)
  if (err instanceof oauth.ResponseBodyError) console.error(`  HTTP ${err.status}: ${JSON.stringify(err.cause)}`)
  else if (err.cause !== undefined) console.error('  cause:', err.cause)
  process.exit(1)
})
