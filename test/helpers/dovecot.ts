// A private dovecot IMAP server (Debian's dovecot-imapd, installed by scripts/test-setup.mjs) on 127.0.0.1 for one
// test file: its own config, users, maildirs and port in a temporary folder, stopped and removed at teardown.
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { ImapFlow } from 'imapflow'

export interface Dovecot {
  host: string
  port: number
  user: string
  password: string
  /** A logged-in client for the test's own mailbox work (APPEND, CREATE, DELETE). */
  client(): Promise<ImapFlow>
  /** dovecot's log so far (logins and authentication attempts are logged: auth_verbose). */
  log(): string
  stop(): Promise<void>
}

interface Tap { teardown(fn: () => unknown): void }

const BIN = process.env.LEADSCORE_DOVECOT_BIN ?? '/usr/sbin/dovecot'

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function waitForPort (port: number, proc: ChildProcess, log: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`dovecot exited (${proc.exitCode}): ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`)
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1')
      sock.once('connect', () => { sock.destroy(); resolve(true) })
      sock.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`dovecot did not listen on ${port}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts dovecot with one user; registers its stop with the test's teardown. */
export async function startDovecot (t: Tap): Promise<Dovecot> {
  if (!existsSync(BIN)) throw new Error(`dovecot is not installed at ${BIN}: run scripts/test-setup.mjs (npm run pretest), which installs dovecot-imapd`)
  const dir = mkdtempSync(join(tmpdir(), 'ls-dovecot-'))
  chmodSync(dir, 0o755) // dovecot's auth and mail processes run as other users
  const port = await freePort()
  const user = 'leads@example.test'
  const password = 'imap-test-password'
  const root = process.getuid?.() === 0
  // as root, mail is handled as nobody and the internal processes run as Debian's dovecot users; otherwise all as us
  const mailUid = root ? 65534 : process.getuid!()
  const mailGid = root ? 65534 : process.getgid!()
  const internal = root ? 'dovecot' : userInfo().username
  const login = root ? 'dovenull' : userInfo().username
  for (const d of ['run', 'state', 'home']) mkdirSync(join(dir, d))
  if (root) chownSync(join(dir, 'home'), mailUid, mailGid)
  writeFileSync(join(dir, 'users'), `${user}:{PLAIN}${password}\n`)
  const log = join(dir, 'dovecot.log')
  writeFileSync(join(dir, 'dovecot.conf'), `
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = leadscore-test-${port}
log_path = ${log}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_verbose = yes
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = ${internal}
default_login_user = ${login}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=${mailUid} gid=${mailGid} home=${dir}/home/%u
}
mail_location = maildir:~/Maildir
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`)
  const proc = spawn(BIN, ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' })
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (proc.exitCode === null) proc.kill('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)
  await waitForPort(port, proc, log)
  return {
    host: '127.0.0.1', port, user, password, stop,
    log: () => existsSync(log) ? readFileSync(log, 'utf8') : '',
    async client () {
      const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass: password }, logger: false })
      await c.connect()
      return c
    },
  }
}

/** An RFC 5322 message (CRLF line ends). `messageId: null` leaves the Message-ID header out. */
export function mail (o: { from: string; subject: string; messageId?: string | null; inReplyTo?: string; references?: string; date?: string; to?: string; body?: string }): string {
  const lines = [`From: ${o.from}`, `To: ${o.to ?? 'sales@acme.test'}`, `Subject: ${o.subject}`, `Date: ${o.date ?? 'Sat, 01 Mar 2025 10:00:00 +0000'}`]
  if (o.messageId !== null) lines.push(`Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}@example.com>`}`)
  if (o.inReplyTo !== undefined) lines.push(`In-Reply-To: ${o.inReplyTo}`)
  if (o.references !== undefined) lines.push(`References: ${o.references}`)
  return `${lines.join('\r\n')}\r\n\r\n${o.body ?? 'Thanks, sounds good.'}\r\n`
}
