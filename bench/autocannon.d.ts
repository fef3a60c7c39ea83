// The part of autocannon's API the benchmark uses (the package ships no type declarations).
declare module 'autocannon' {
  export interface AutocannonRequest {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
    setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest
    onResponse?: (status: number, body: string, context: Record<string, unknown>) => void
  }
  export interface AutocannonOptions {
    url: string
    connections?: number
    duration?: number
    amount?: number
    timeout?: number
    method?: string
    headers?: Record<string, string>
    requests?: AutocannonRequest[]
  }
  export interface AutocannonResult {
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    latency: { p50: number; p99: number; average: number }
    requests: { total: number; average: number }
    statusCodeStats: Record<string, { count: number }>
  }
  function autocannon (opts: AutocannonOptions): Promise<AutocannonResult>
  export default autocannon
}
