// A browser for the end-to-end clients: fetch with manual redirects and a
// cookie jar of one origin, and a user who logs in and consents on
// Subzero's pages by filling their forms. Failures throw.
const check = (cond, msg) => { if (!cond) throw new Error(msg) }

const jar = new Map()

export async function browse(url, init = {}) {
  const headers = new Headers(init.headers)
  if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
  const res = await fetch(url, { ...init, headers, redirect: 'manual' })
  for (const c of res.headers.getSetCookie()) {
    const [pair, ...attrs] = c.split(';')
    const name = pair.slice(0, pair.indexOf('=')).trim()
    const value = pair.slice(pair.indexOf('=') + 1).trim()
    if (value === '' || attrs.some((a) => /^\s*max-age\s*=\s*(0|-)/i.test(a))) jar.delete(name)
    else jar.set(name, value)
  }
  return res
}

const unescapeHTML = (s) => s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e) =>
  e[0] === '#' ? String.fromCodePoint(Number(e[1].toLowerCase() === 'x' ? '0' + e.slice(1) : e.slice(1)))
    : { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e.toLowerCase()])
// pageMessage is a page's error or message paragraph, else the whole page.
export const pageMessage = (html) => unescapeHTML(html.match(/<p class="(?:error|message)"[^>]*>([^<]*)/)?.[1] ?? html)
const attrs = (tag) => Object.fromEntries([...tag.matchAll(/([a-z_-]+)="([^"]*)"/gi)].map(([, k, v]) => [k.toLowerCase(), unescapeHTML(v)]))

// submitForm POSTs a page's only form as a browser would: its inputs with
// their values (hidden ones included), then fields, to its action.
export async function submitForm(pageURL, html, fields) {
  const forms = [...html.matchAll(/<form\b[^>]*>/gi)]
  check(forms.length === 1, `want one form on ${pageURL}, found ${forms.length}: ${pageMessage(html)}`)
  const action = new URL(attrs(forms[0][0]).action ?? '', pageURL)
  const body = new URLSearchParams()
  for (const [tag] of html.matchAll(/<input\b[^>]*>/gi)) {
    const a = attrs(tag)
    if (a.name) body.set(a.name, a.value ?? '')
  }
  for (const [k, v] of Object.entries(fields)) body.set(k, v)
  const origin = new URL(pageURL).origin
  return browse(action, { method: 'POST', body, headers: { origin, 'sec-fetch-site': 'same-origin' } })
}

// loginAndConsent opens the authorization request url, logs in as
// username, approves on the consent page and returns the redirect to
// redirectUri (with the code) as a URL.
export async function loginAndConsent(url, username, password, redirectUri) {
  let res = await browse(url)
  let html = await res.text()
  check(res.status === 200 && /name="password"/.test(html), `authorization request: ${res.status}, want the login form: ${pageMessage(html)}`)
  res = await submitForm(url, html, { username, password })
  check(res.status === 302 || res.status === 303, `login: ${res.status}, want a redirect: ${pageMessage(await res.text())}`)
  const consentURL = new URL(res.headers.get('location'), url)
  res = await browse(consentURL)
  html = await res.text()
  check(res.status === 200 && /name="decision"/.test(html), `after login: ${res.status}, want the consent page: ${pageMessage(html)}`)
  res = await submitForm(consentURL, html, { decision: 'approve' })
  const location = res.headers.get('location') ?? ''
  check((res.status === 302 || res.status === 303) && location.startsWith(redirectUri + '?'),
    `consent: ${res.status} to ${location}, want a redirect to ${redirectUri}: ${pageMessage(await res.text())}`)
  return new URL(location)
}
