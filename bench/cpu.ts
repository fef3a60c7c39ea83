// CPU time of processes, so that a benchmark can say what its work cost in CPU besides how long it took, and on which
// side (the client's or server's process, the database's). Linux only (/proc); elsewhere the figures are left out.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

let ticks: number | null = null
/** Clock ticks per second, the unit of /proc's CPU times. */
function ticksPerSecond (): number {
  if (ticks === null) {
    try { ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch { ticks = 100 }
  }
  return ticks
}

/** CPU seconds (user and system, all threads) a process has used so far; null where /proc cannot tell. */
export function processCpuSeconds (pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the fields after the command name (which may hold spaces) in parentheses; utime and stime are the 14th and 15th
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond()
  } catch {
    return null
  }
}

/** The processes whose command line contains `needle`. */
export function pidsOf (needle: string): number[] {
  let entries: string[]
  try { entries = readdirSync('/proc') } catch { return [] }
  return entries.filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle) } catch { return false }
  })
}

/** The CPU seconds of this process (all threads) so far. */
export function ownCpuSeconds (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** Microseconds of CPU per unit of work between two readings, as text ('n/a' when either is unknown). */
export function perUnit (before: number | null, after: number | null, units: number): string {
  return before === null || after === null || units <= 0 ? 'n/a' : `${Math.round(((after - before) * 1e6) / units)} µs`
}
