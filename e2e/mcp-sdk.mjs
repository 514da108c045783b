// An MCP agent built on the official TypeScript SDK (@modelcontextprotocol/sdk),
// given nothing but the gateway's URL. It meets the 401, reads the protected
// resource metadata and the authorization server metadata, registers itself,
// logs in through the login and consent pages with PKCE (the script fills the
// forms as a browser would), gets a token, then lists and calls tools of the
// upstreams behind the gateway.
//
//   node mcp-sdk.mjs <gateway MCP URL>
//
// Environment: E2E_USERNAME, E2E_PASSWORD (the user to log in as),
// E2E_EXPECT (JSON: {"tools": [names that must be listed], "absent": [names
// that must not be], "calls": [{"name", "arguments", "contains"?,
// "lacks"?, "isError"?, "rpcError"?}]}).
// It prints one line per step and exits non-zero on the first failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { loginAndConsent } from './browser.mjs'

const fail = (msg) => { console.error(`FAIL: ${msg}`); process.exit(1) }
const check = (ok, msg) => { if (!ok) fail(msg) }
const step = (msg) => console.log(`ok: ${msg}`)

const mcpURL = new URL(process.argv[2] ?? fail('usage: node mcp-sdk.mjs <gateway MCP URL>'))
const username = process.env.E2E_USERNAME ?? fail('E2E_USERNAME is not set')
const password = process.env.E2E_PASSWORD ?? fail('E2E_PASSWORD is not set')
const expect = JSON.parse(process.env.E2E_EXPECT ?? '{}')
const redirectUri = 'http://127.0.0.1:8976/callback'

// The agent's OAuth client provider: in memory; redirectToAuthorization
// plays the user at the login and consent pages and keeps the code.
let code
const store = {}
const provider = {
  get redirectUrl() { return redirectUri },
  get clientMetadata() {
    return {
      redirect_uris: [redirectUri], client_name: 'MCP TypeScript SDK e2e agent',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
    }
  },
  clientInformation() { return store.client },
  saveClientInformation(info) {
    check(typeof info.client_id === 'string' && info.client_id.length > 0, 'registration returned no client_id')
    store.client = info
    step(`registered dynamically as ${info.client_id}`)
  },
  tokens() { return store.tokens },
  saveTokens(t) {
    check(typeof t.access_token === 'string', 'token response without access_token')
    store.tokens = t
    step(`token: ${t.token_type}, expires in ${t.expires_in}s, scope ${t.scope}`)
  },
  saveCodeVerifier(v) { store.verifier = v },
  codeVerifier() { return store.verifier },
  async redirectToAuthorization(url) {
    check(url.searchParams.get('code_challenge_method') === 'S256', 'the SDK did not use PKCE S256')
    check(url.searchParams.get('resource') === mcpURL.href, `resource ${url.searchParams.get('resource')}, want ${mcpURL.href}`)
    const location = await loginAndConsent(url, username, password, redirectUri)
    code = location.searchParams.get('code')
    check(code, `no code in ${location}`)
    step(`logged in as ${username} and approved; code returned to ${redirectUri}`)
  },
}

// Before the SDK: what an agent meets at the bare URL.
{
  const res = await fetch(mcpURL, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }) })
  check(res.status === 401, `unauthenticated request: ${res.status}, want 401`)
  const challenge = res.headers.get('www-authenticate') ?? ''
  check(/resource_metadata="[^"]+"/.test(challenge), `WWW-Authenticate lacks resource_metadata: ${challenge}`)
  step(`401 with WWW-Authenticate: ${challenge.split(',')[0]}, ...`)
}

const client = new Client({ name: 'subzero-e2e-agent', version: '1.0.0' })
let transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })
try {
  await client.connect(transport)
  fail('connected without authorization')
} catch (e) {
  check(e instanceof UnauthorizedError, `first connect: ${e}, want UnauthorizedError`)
}
check(code, 'the SDK never sent the user to the authorization endpoint')
await transport.finishAuth(code)
transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })
await client.connect(transport)
step(`connected: server ${client.getServerVersion()?.name}, protocol ${transport.protocolVersion ?? 'negotiated'}`)

const { tools } = await client.listTools()
const names = tools.map((t) => t.name)
step(`tools/list: ${names.join(', ')}`)
for (const n of expect.tools ?? []) check(names.includes(n), `tool ${n} not listed`)
for (const n of expect.absent ?? []) check(!names.includes(n), `tool ${n} listed, but the user may not use it`)

for (const c of expect.calls ?? []) {
  let result
  try {
    result = await client.callTool({ name: c.name, arguments: c.arguments ?? {} })
  } catch (e) {
    check(c.rpcError, `tools/call ${c.name}: ${e}`)
    check(!c.contains || String(e.message).includes(c.contains), `tools/call ${c.name}: error ${e.message} lacks ${c.contains}`)
    step(`tools/call ${c.name}: refused as expected: ${e.message}`)
    continue
  }
  check(!c.rpcError, `tools/call ${c.name} succeeded, want a JSON-RPC error`)
  const text = (result.content ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('\n')
  check(Boolean(result.isError) === Boolean(c.isError), `tools/call ${c.name}: isError ${result.isError}, want ${Boolean(c.isError)}: ${text}`)
  if (c.contains) check(text.includes(c.contains), `tools/call ${c.name}: result lacks ${JSON.stringify(c.contains)}: ${text}`)
  if (c.lacks) check(!text.includes(c.lacks), `tools/call ${c.name}: result holds ${JSON.stringify(c.lacks)}: ${text}`)
  step(`tools/call ${c.name}: ${text.slice(0, 100).replace(/\s+/g, ' ')}`)
}
await transport.terminateSession().catch(() => {})
await client.close()
step('done')
