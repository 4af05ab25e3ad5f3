import type { FastifyServerOptions } from 'fastify'
import { LOG_LEVELS } from './config/env-schema.js'

/**
 * pino options. Secrets never reach a log line: Authorization headers and token
 * or secret fields are redacted by path, and the signature parts of any presigned
 * URL are masked wherever a string carries one.
 */
const SIGNED_URL_SECRETS = /(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"'<>]*/gi

export function redactSignedUrlSecrets (text: string): string {
  return text.replace(SIGNED_URL_SECRETS, '$1[redacted]')
}

function scrub (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('X-Amz-') || value.includes('x-amz-') ? redactSignedUrlSecrets(value) : value
  if (depth > 4 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1))
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, depth + 1)]))
}

export function loggerOptions (level: string | undefined): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  return {
    // An invalid LOG_LEVEL is reported by config validation; until then, log at info.
    level: (LOG_LEVELS as readonly string[]).includes(level ?? '') ? level : 'info',
    redact: {
      paths: [
        'req.headers.authorization', 'headers.authorization', 'authorization', '*.authorization',
        'token', '*.token', 'secret', '*.secret', 'secretAccessKey', '*.secretAccessKey',
        'S3_SECRET_ACCESS_KEY', '*.S3_SECRET_ACCESS_KEY', 'JWT_SECRET', '*.JWT_SECRET'
      ],
      censor: '[redacted]'
    },
    formatters: {
      log: (object: Record<string, unknown>) => scrub(object) as Record<string, unknown>
    },
    hooks: {
      logMethod (args: unknown[], method: (...args: unknown[]) => void) {
        method.apply(this, args.map((arg) => typeof arg === 'string' ? redactSignedUrlSecrets(arg) : arg))
      }
    }
  }
}
