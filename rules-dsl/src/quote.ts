/**
 * String literal quoting.
 *
 * @module
 * @internal
 */

/**
 * Writes `s` as a DSL string literal with canonical escapes: `\"`, `\\`,
 * `\n`, `\r`, `\t`, and `\u{…}` for other control and line-separator characters.
 */
export function quote (s: string): string {
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    switch (c) {
      case 0x22:
        out += '\\"'
        break
      case 0x5c:
        out += '\\\\'
        break
      case 0x0a:
        out += '\\n'
        break
      case 0x0d:
        out += '\\r'
        break
      case 0x09:
        out += '\\t'
        break
      default:
        out += c < 0x20 || c === 0x7f || c === 0x2028 || c === 0x2029 ? `\\u{${c.toString(16)}}` : s[i]
    }
  }
  return `${out}"`
}
