// IPv6 addresses that carry an IPv4 address: a connection to one of them can end at that IPv4 host (the kernel maps
// ::ffff:0:0/96 to IPv4 sockets, NAT64 and 6to4 gateways forward to the embedded address), so an address guard must
// judge the embedded IPv4 address by the IPv4 rules too.
import { isIP } from 'node:net'

/** The eight 16-bit groups of an IPv6 address (a zone such as `%eth0` is ignored), or null when it is not one. */
export function ipv6Groups (ip: string): number[] | null {
  const zone = ip.indexOf('%')
  let s = (zone >= 0 ? ip.slice(0, zone) : ip).toLowerCase()
  if (isIP(s) !== 6) return null
  // a trailing dotted quad (::ffff:127.0.0.1) is the last two groups
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const gap = s.indexOf('::')
  const part = (p: string): string[] => p === '' ? [] : p.split(':')
  const head = part(gap >= 0 ? s.slice(0, gap) : s)
  const tail = gap >= 0 ? part(s.slice(gap + 2)) : []
  const groups = [...head, ...Array<string>(gap >= 0 ? 8 - head.length - tail.length : 0).fill('0'), ...tail].map((g) => parseInt(g, 16))
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : null
}

const dottedQuad = (hi: number, lo: number): string => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`

/**
 * The IPv4 address an IPv6 address embeds, or null:
 * `::ffff:0:0/96` (IPv4-mapped, also written `::ffff:7f00:1`), `::ffff:0:0:0/96` (IPv4-translated), `::/96`
 * (IPv4-compatible; `::` and `::1` give 0.0.0.0 and 0.0.0.1), `64:ff9b::/96` (NAT64), `2002::/16` (6to4: the
 * 32 bits after the prefix) and `2001::/32` (Teredo: the client address, stored inverted in the last 32 bits).
 */
export function embeddedIPv4 (ip: string): string | null {
  const g = ipv6Groups(ip)
  if (g === null) return null
  const zeros = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0)
  if (zeros(0, 5) && g[5] === 0xffff) return dottedQuad(g[6]!, g[7]!)
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return dottedQuad(g[6]!, g[7]!)
  if (zeros(0, 6)) return dottedQuad(g[6]!, g[7]!)
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return dottedQuad(g[6]!, g[7]!)
  if (g[0] === 0x2002) return dottedQuad(g[1]!, g[2]!)
  if (g[0] === 0x2001 && g[1] === 0) return dottedQuad(g[6]! ^ 0xffff, g[7]! ^ 0xffff)
  return null
}
