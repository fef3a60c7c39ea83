// What a job definition is: a name, how many run at once per process, and a handler. Agenda triggers and claims;
// what a job does is recorded in our own documents (the `jobs` collection), which the jobs API reads.
export interface JobRun {
  /** Extends the claim on the running job (Agenda's lock), so no other process takes it over as abandoned. */
  touch(): Promise<void>
  /**
   * Asks for the job's recurring schedule to run again no later than `at` (at once when `at` has passed); it keeps
   * its own period when that comes sooner. Only the jobs handed this (recurring ones) have it.
   */
  runBy?(at: Date): Promise<void>
}

export interface JobDefinition<D> {
  name: string
  /** Runs of this job at once in one process (default: the worker concurrency). */
  concurrency?: number
  handler: (data: D, run: JobRun) => Promise<void>
}

/** Calls `touch` every third of the lock lifetime while `fn` runs: a long job keeps its claim, whatever it waits on. */
export async function keepingClaim<T> (run: JobRun, lockLifetimeMs: number, log: { warn(o: object, m: string): void }, fn: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => { run.touch().catch((err: unknown) => log.warn({ err }, 'could not renew the job claim')) }, Math.max(200, Math.floor(lockLifetimeMs / 3)))
  try {
    return await fn()
  } finally {
    clearInterval(timer)
  }
}
