// `npm pretest`: installs what the tests need that npm does not: the embedded database (and, when the suite has
// browser or mail tests, Debian's chromium and dovecot).
import { ensureFerretDb } from './ferretdb.mjs'
if (process.env.MONGODB_URI === undefined) ensureFerretDb()
