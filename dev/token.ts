/**
 * `npm run token -- bob`: prints a token for subject "bob" that the running `npm run dev`
 * accepts (valid 12 hours). Use it as `export TOKEN=$(npm run -s token -- bob)`.
 * The secret comes from the dev server's session file (see session.ts); with JWT_SECRET set,
 * from the environment instead (with JWT_ISSUER and JWT_AUDIENCE, as the server reads them).
 */
import { mintToken, readSession, sessionFile } from './session.js'

const env = process.env
/** Subjects end up in object keys (users/<sub>/…): keep them to a plain, printable name. */
const SUBJECT = /^[A-Za-z0-9._@+-]{1,128}$/

function fail (message: string): never {
  process.stderr.write(`npm run token: ${message}\n`)
  process.exit(1)
}

const [subject, ...rest] = process.argv.slice(2)
if (subject === undefined || rest.length > 0) fail('give one subject, e.g. `npm run token -- bob`')
if (!SUBJECT.test(subject)) fail(`the subject must be 1 to 128 letters, digits or . _ @ + -, not ${JSON.stringify(subject.slice(0, 40))}`)

const signing = env.JWT_SECRET
  ? { jwtSecret: env.JWT_SECRET, issuer: env.JWT_ISSUER || undefined, audience: env.JWT_AUDIENCE || undefined }
  : readSession(sessionFile(env))
if (signing === undefined) fail('no running `npm run dev` found: start it first (or set JWT_SECRET to the secret it uses)')
process.stdout.write(mintToken(signing, subject) + '\n')
