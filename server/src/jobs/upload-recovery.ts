// Upload recovery (domain/uploads/upload-service.ts `recover`) as a recurring job of each host. A running upload's
// file is spooled on the disk of the host that received it, so only a process on that host can go on with it: the
// job's name carries the host, and only processes on that host define (and so run) it. The same run fails uploads
// spooled on a host that never came back, which any host may do. A run twice over takes nothing over twice: each
// upload is taken by a conditional update of its lease, and failed by one of its status.
import type { JobDefinition } from './job.js'

export const UPLOAD_RECOVERY = 'upload-recovery'

/** The recovery job of one host. */
export function uploadRecoveryName (host: string): string {
  return `${UPLOAD_RECOVERY}:${host}`
}

/** Every half lease, at most every 15 s: an upload whose process stopped waits at most that long after its lease. */
export function uploadRecoveryEveryMs (leaseMs: number): number {
  return Math.min(15_000, Math.max(500, Math.floor(leaseMs / 2)))
}

export function uploadRecoveryJob (deps: { host: string; recover: () => Promise<number> }): JobDefinition<undefined> {
  return { name: uploadRecoveryName(deps.host), concurrency: 1, handler: async () => { await deps.recover() } }
}
