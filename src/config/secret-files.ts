import { closeSync, openSync, readSync } from 'node:fs'
import { SECRET_ENV_NAMES } from './env-schema.js'
import type { RawEnv } from './config.js'

/** A secret file is a key or a token; anything bigger is the wrong file (or /dev/zero). */
const MAX_SECRET_FILE_BYTES = 64 * 1024

export interface ResolvedSecretFiles {
  /** The environment with every `NAME_FILE` replaced by `NAME` (its file's contents). */
  env: RawEnv
  /** Problems with `NAME` / `NAME_FILE` pairs, in ConfigError's [variable, message] form. */
  problems: Array<[variable: string, message: string]>
  /** Secret variables that could not be resolved: their own "is required" is a consequence, not news. */
  unresolved: Set<string>
}

/**
 * Docker and Kubernetes secrets arrive as files: for each secret variable NAME
 * (SECRET_ENV_NAMES), `NAME_FILE` may name a file holding its value. One trailing
 * newline is removed (editors and `echo` add one). Setting both NAME and NAME_FILE,
 * or naming a file that cannot be read, is a problem reported through the same single
 * ConfigError as every other variable; the contents are never echoed. Empty values
 * count as unset, as everywhere else.
 */
export function resolveSecretFiles (env: RawEnv, readFile: (path: string) => string = readSecretFile): ResolvedSecretFiles {
  const resolved: RawEnv = { ...env }
  const problems: Array<[string, string]> = []
  const unresolved = new Set<string>()
  for (const name of SECRET_ENV_NAMES) {
    const fileVariable = `${name}_FILE`
    const path = env[fileVariable]
    delete resolved[fileVariable]
    if (path === undefined || path === '') continue
    if (env[name] !== undefined && env[name] !== '') {
      problems.push([fileVariable, `must not be combined with ${name}: set one of them`])
      unresolved.add(name)
      continue
    }
    let value: string
    try {
      value = readFile(path)
    } catch (error) {
      problems.push([fileVariable, `names a file that cannot be read (${fileErrorCode(error)})`])
      unresolved.add(name)
      continue
    }
    if (value === '') {
      problems.push([fileVariable, 'names an empty file'])
      unresolved.add(name)
      continue
    }
    resolved[name] = value
  }
  return { env: resolved, problems, unresolved }
}

/** Reads at most MAX_SECRET_FILE_BYTES + 1 bytes (a device file never ends), drops one trailing newline. */
export function readSecretFile (path: string): string {
  const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1)
  const fd = openSync(path, 'r')
  let length = 0
  try {
    for (let read = -1; read !== 0 && length < buffer.length;) {
      read = readSync(fd, buffer, length, buffer.length - length, null)
      length += read
    }
  } finally {
    closeSync(fd)
  }
  if (length > MAX_SECRET_FILE_BYTES) throw Object.assign(new Error('secret file too large'), { code: 'larger than 64 KiB' })
  return buffer.toString('utf8', 0, length).replace(/\r?\n$/, '')
}

/** The error's code (ENOENT, EACCES, EISDIR…) only: never the path's contents, nor a message quoting them. */
function fileErrorCode (error: unknown): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : 'unreadable'
}
