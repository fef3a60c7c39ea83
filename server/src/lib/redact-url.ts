// query parameters that carry credentials, whatever route they are sent to; logs and problem
// answers show them as [redacted]
const URL_CREDENTIAL_RE = /token|ticket|^(api_?key|key|password|secret)$/i

/** `url` with the values of credential-like query parameters replaced by `[redacted]`, for logs and the
 * `instance` of problem answers. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq < 0 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name.replace(/\+/g, ' ')) } catch { /* keep it as sent */ }
    return eq >= 0 && URL_CREDENTIAL_RE.test(decoded) ? `${name}=[redacted]` : pair
  })
  return `${url.slice(0, q)}?${parts.join('&')}`
}
