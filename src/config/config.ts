import { createPublicKey, type KeyObject } from 'node:crypto'
import type { FastifyEnvOptions } from '@fastify/env'
import { parseInlineContentTypes } from '../signing/inline-content-types.js'
import { parseContentTypeList, type UploadCeiling } from '../uploads/policy.js'
import { EnvSchema, CROSS_FIELD_KEYWORD, type Env, BUCKET_NAME_PATTERN, DEFAULT_TTL_SECONDS, DEFAULT_MAX_TTL_SECONDS, type STORAGE_UNSAFE_HEADERS_MODES } from './env-schema.js'

/** The validated, derived configuration the rest of the service reads. */
export interface Config {
  host: string
  port: number
  /** Swagger UI at /docs (the raw document at /openapi.json is always served). */
  docs: { enabled: boolean }
  storage: StorageConfig
  /** The storage self-test (src/storage/safety-plugin.ts). */
  storageCheck: StorageCheckConfig
  signedUrls: { defaultTtlSeconds: number, maxTtlSeconds: number }
  /** Download URLs: the `contentType` overrides served inline when asked (others become attachments). */
  downloads: { inlineContentTypes: readonly string[] }
  /** The deployment's upload ceiling (UPLOAD_MAX_BYTES, UPLOAD_CONTENT_TYPES); contentTypes undefined: any. */
  uploads: UploadCeiling
  jwt: JwtConfig
  permissions: PermissionsConfig
  /** POST /v1/batch: items per request, at most. */
  batch: { maxItems: number }
  /** GET /metrics: served when enabled; a bearer token is required when `token` is set. */
  metrics: { enabled: boolean, token?: string }
  /** On SIGTERM/SIGINT, in-flight requests get this long before the process exits anyway. */
  shutdown: { timeoutMs: number }
  /** Incoming requests: each must arrive whole (headers and body) within requestTimeoutMs. */
  http: { requestTimeoutMs: number }
  /** Redis shared by the instances; absent: rate limits, revocations and decisions stay in-process. */
  redis?: { url: string, keyPrefix: string }
  rateLimits: { urlsPerMinute: number, unauthenticatedPerMinute: number }
  /** failOpen: with Redis unavailable, the last known revocations decide instead of a 503. */
  revocations: { failOpen: boolean }
  /** Browsers calling r2-signer directly: the allowed page origins (none: no CORS headers) and the preflight cache time. */
  cors: { origins: readonly string[], maxAgeSeconds: number }
  /** Client address from Fly-Client-IP / X-Forwarded-For (set by a trusted proxy) rather than the socket. */
  trustProxy: boolean
  /** The admin API (revocations): served only when a token is set. */
  admin: { token?: string }
}

export interface StorageConfig {
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  forcePathStyle: boolean
  /** Timeout of one control-plane request to storage (S3_TIMEOUT_MS); signing never calls storage. */
  timeoutMs: number
  defaultBucket: string
  allowedBuckets: ReadonlySet<string>
}

export interface StorageCheckConfig {
  /** What writes do while storage is found unsafe (STORAGE_UNSAFE_HEADERS). */
  unsafeHeaders: (typeof STORAGE_UNSAFE_HEADERS_MODES)[number]
  /** Between self-tests after the one at startup; 0: only at startup. */
  intervalSeconds: number
  prefix: string
}

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256' | 'EdDSA'

export type JwtKeySource =
  | { kind: 'secret', secret: string, algorithms: ['HS256'] }
  | { kind: 'public-key', publicKey: string, algorithms: [JwtAlgorithm] }
  | { kind: 'jwks', jwksUrl: URL, algorithms: JwtAlgorithm[], /** Least time between two JWKS fetches. */ minRefetchSeconds: number }

export type JwtConfig = JwtKeySource & {
  issuer?: string
  audience?: string
  /** Verified tokens remembered by fast-jwt (never past `exp`); 0: every request verifies. */
  cacheMaxEntries: number
  /** Tokens whose `exp` is further ahead than this are refused. */
  maxLifetimeSeconds: number
}

export interface PermissionsConfig {
  url: string
  /** Bounds each whole check (waiting for a socket, connecting, headers and body). */
  timeoutMs: number
  maxConnections: number
  /** Decision cache: entries (0 disables it and single flight), cap on the service's max-age. */
  cache: { maxEntries: number, maxTtlSeconds: number }
  /** The batch endpoint (one round trip for many checks); unset: many checks are single checks, batchConcurrency at a time. */
  batchUrl?: string | undefined
  batchConcurrency: number
}

export type RawEnv = Record<string, string | undefined>

/** One message naming every offending variable; values are never echoed. */
export class ConfigError extends Error {
  readonly variables: string[]
  constructor (problems: Array<[variable: string, message: string]>) {
    super('Invalid configuration: ' + problems.map(([name, msg]) => `${name} ${msg}`).join('; '))
    this.name = 'ConfigError'
    this.variables = problems.map(([name]) => name)
  }
}

/**
 * Options for @fastify/env: only the given variables are read (never process.env
 * behind the caller's back), empty values count as unset (as in most deployment
 * tools), and the cross-variable rules run in the same Ajv pass so that one
 * error names every offending variable.
 */
export function envPluginOptions (env: RawEnv): FastifyEnvOptions {
  const data = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''))
  return {
    // env-schema sets additionalProperties=false on the schema it is given: hand it a copy.
    schema: structuredClone(EnvSchema),
    data,
    env: false,
    dotenv: false,
    confKey: 'env',
    ajv: { customOptions: addCrossVariableRules }
  }
}

/** @fastify/env's own Ajv instance type (Ajv is its dependency, not ours). */
type EnvAjv = Parameters<Extract<NonNullable<FastifyEnvOptions['ajv']>, { customOptions: unknown }>['customOptions']>[0]

function addCrossVariableRules (ajv: EnvAjv): EnvAjv {
  const validate = (_enabled: boolean, data: Record<string, unknown>): boolean => {
    const problems = crossVariableProblems(data)
    validate.errors = problems.map(([name, message]) => ({ instancePath: `/${name}`, keyword: CROSS_FIELD_KEYWORD, message, params: {} }))
    return problems.length === 0
  }
  validate.errors = [] as object[]
  ajv.addKeyword({ keyword: CROSS_FIELD_KEYWORD, schemaType: 'boolean', errors: true, validate })
  return ajv
}

/** Rules that involve several variables or need more than a pattern. Values may be uncoerced strings. */
export function crossVariableProblems (env: Record<string, unknown>): Array<[string, string]> {
  const problems: Array<[string, string]> = []
  const str = (name: string) => typeof env[name] === 'string' ? env[name] : undefined

  const endpoint = str('S3_ENDPOINT')
  if (endpoint !== undefined) {
    if (storageEndpoint(endpoint) === undefined) problems.push(['S3_ENDPOINT', 'must be an http(s) URL with no path, query or credentials'])
  } else if (env.R2_ACCOUNT_ID === undefined) {
    problems.push(['S3_ENDPOINT', 'is required unless R2_ACCOUNT_ID is set'])
  }

  const extraBuckets = splitList(str('S3_ALLOWED_BUCKETS'))
  if (extraBuckets.some((bucket) => !new RegExp(BUCKET_NAME_PATTERN).test(bucket))) {
    problems.push(['S3_ALLOWED_BUCKETS', 'must be a comma-separated list of valid bucket names'])
  }

  const corsOrigins = splitList(str('CORS_ORIGINS'))
  if (corsOrigins.some((origin) => !isOrigin(origin))) {
    problems.push(['CORS_ORIGINS', 'must be a comma-separated list of origins (http(s)://host[:port], no path, no trailing slash, no "*")'])
  }

  const ttl = Number(env.SIGNED_URL_TTL_SECONDS ?? DEFAULT_TTL_SECONDS)
  const maxTtl = Number(env.SIGNED_URL_MAX_TTL_SECONDS ?? DEFAULT_MAX_TTL_SECONDS)
  if (ttl > maxTtl) problems.push(['SIGNED_URL_TTL_SECONDS', 'must not exceed SIGNED_URL_MAX_TTL_SECONDS'])

  const inlineTypes = str('DOWNLOAD_INLINE_CONTENT_TYPES')
  if (inlineTypes !== undefined && parseInlineContentTypes(inlineTypes) === undefined) {
    problems.push(['DOWNLOAD_INLINE_CONTENT_TYPES', 'must be a comma-separated list of media types or type/* wildcards (or none)'])
  }

  const uploadTypes = str('UPLOAD_CONTENT_TYPES')
  if (uploadTypes !== undefined && parseContentTypeList(uploadTypes) === undefined) {
    problems.push(['UPLOAD_CONTENT_TYPES', 'must be a comma-separated list of media types or type/* wildcards'])
  }

  const keySources = (['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_URL'] as const).filter((name) => env[name] !== undefined)
  if (keySources.length === 0) {
    problems.push(['JWT_SECRET', 'is required (or JWT_PUBLIC_KEY, or JWT_JWKS_URL)'])
  } else if (keySources.length > 1) {
    problems.push([keySources[1] as string, `must not be combined with ${keySources[0]}: set exactly one JWT key source`])
  } else if (str('JWT_PUBLIC_KEY') !== undefined && algorithmForPublicKey(pemFromEnv(str('JWT_PUBLIC_KEY') as string)) === undefined) {
    problems.push(['JWT_PUBLIC_KEY', 'must be a PEM public key: RSA of 2048+ bits (RS256), EC P-256 (ES256) or Ed25519 (EdDSA)'])
  } else if (str('JWT_JWKS_URL') !== undefined && parseHttpUrl(str('JWT_JWKS_URL') as string) === undefined) {
    problems.push(['JWT_JWKS_URL', 'must be an http(s) URL'])
  }

  const redisUrl = str('REDIS_URL')
  if (redisUrl !== undefined && parseRedisUrl(redisUrl) === undefined) {
    problems.push(['REDIS_URL', 'must be a redis:// or rediss:// URL with a host'])
  }

  const permissionsUrl = str('PERMISSIONS_URL')
  if (permissionsUrl !== undefined && parseHttpUrl(permissionsUrl) === undefined) {
    problems.push(['PERMISSIONS_URL', 'must be an http(s) URL'])
  }
  const batchUrl = str('PERMISSIONS_BATCH_URL')
  if (batchUrl !== undefined && parseHttpUrl(batchUrl) === undefined) {
    problems.push(['PERMISSIONS_BATCH_URL', 'must be an http(s) URL'])
  }
  return problems
}

/** Derives the service configuration from an environment that passed validation. */
export function deriveConfig (env: Env): Config {
  return {
    host: env.HOST,
    port: env.PORT,
    docs: { enabled: env.DOCS_ENABLED },
    storage: {
      // S3_ENDPOINT wins over R2_ACCOUNT_ID, so R2 jurisdiction endpoints (e.g. ACCOUNT.eu.r2…) can be named.
      endpoint: env.S3_ENDPOINT !== undefined
        ? storageEndpoint(env.S3_ENDPOINT) as string
        : `https://${(env.R2_ACCOUNT_ID as string).toLowerCase()}.r2.cloudflarestorage.com`,
      region: env.S3_REGION,
      accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY,
      forcePathStyle: env.S3_FORCE_PATH_STYLE,
      timeoutMs: env.S3_TIMEOUT_MS,
      defaultBucket: env.S3_BUCKET,
      allowedBuckets: new Set([env.S3_BUCKET, ...splitList(env.S3_ALLOWED_BUCKETS)])
    },
    storageCheck: {
      unsafeHeaders: env.STORAGE_UNSAFE_HEADERS,
      intervalSeconds: env.STORAGE_CHECK_INTERVAL_SECONDS,
      prefix: env.STORAGE_CHECK_PREFIX
    },
    signedUrls: { defaultTtlSeconds: env.SIGNED_URL_TTL_SECONDS, maxTtlSeconds: env.SIGNED_URL_MAX_TTL_SECONDS },
    downloads: { inlineContentTypes: parseInlineContentTypes(env.DOWNLOAD_INLINE_CONTENT_TYPES) as string[] },
    uploads: {
      maxBytes: env.UPLOAD_MAX_BYTES,
      contentTypes: env.UPLOAD_CONTENT_TYPES === undefined ? undefined : parseContentTypeList(env.UPLOAD_CONTENT_TYPES)
    },
    jwt: { ...jwtKeySource(env), issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, cacheMaxEntries: env.JWT_CACHE_MAX_ENTRIES, maxLifetimeSeconds: env.JWT_MAX_LIFETIME_SECONDS },
    permissions: {
      url: env.PERMISSIONS_URL,
      timeoutMs: env.PERMISSIONS_TIMEOUT_MS,
      maxConnections: env.PERMISSIONS_MAX_CONNECTIONS,
      cache: { maxEntries: env.PERMISSIONS_CACHE_MAX_ENTRIES, maxTtlSeconds: env.PERMISSIONS_CACHE_MAX_TTL_SECONDS },
      batchUrl: env.PERMISSIONS_BATCH_URL,
      batchConcurrency: env.PERMISSIONS_BATCH_CONCURRENCY
    },
    batch: { maxItems: env.BATCH_MAX_ITEMS },
    metrics: { enabled: env.METRICS_ENABLED, token: env.METRICS_TOKEN },
    shutdown: { timeoutMs: env.SHUTDOWN_TIMEOUT_MS },
    http: { requestTimeoutMs: env.REQUEST_TIMEOUT_MS },
    redis: env.REDIS_URL === undefined ? undefined : { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    rateLimits: { urlsPerMinute: env.RATE_LIMIT_URLS_PER_MINUTE, unauthenticatedPerMinute: env.RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE },
    revocations: { failOpen: env.REVOCATION_FAIL_OPEN },
    cors: { origins: splitList(env.CORS_ORIGINS), maxAgeSeconds: env.CORS_MAX_AGE_SECONDS },
    trustProxy: env.TRUST_PROXY,
    admin: { token: env.ADMIN_TOKEN }
  }
}

function jwtKeySource (env: Env): JwtKeySource {
  if (env.JWT_SECRET !== undefined) return { kind: 'secret', secret: env.JWT_SECRET, algorithms: ['HS256'] }
  if (env.JWT_PUBLIC_KEY !== undefined) {
    const publicKey = pemFromEnv(env.JWT_PUBLIC_KEY)
    return { kind: 'public-key', publicKey, algorithms: [algorithmForPublicKey(publicKey) as JwtAlgorithm] }
  }
  // Asymmetric algorithms only: a JWKS never yields an HMAC secret we would accept.
  return { kind: 'jwks', jwksUrl: new URL(env.JWT_JWKS_URL as string), algorithms: ['RS256', 'ES256', 'EdDSA'], minRefetchSeconds: env.JWT_JWKS_MIN_REFETCH_SECONDS }
}

/** Env files often carry PEM newlines as the two characters "\n". */
function pemFromEnv (value: string): string {
  return value.replaceAll('\\n', '\n')
}

/** Each key type allows exactly one algorithm: no HS/RS confusion, no weak RSA. */
export function algorithmForPublicKey (pem: string): JwtAlgorithm | undefined {
  // createPublicKey also accepts a private key (deriving its public half): a private key does not belong here.
  if (/PRIVATE KEY-----/.test(pem)) return undefined
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    return undefined
  }
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  return undefined
}

function storageEndpoint (value: string): string | undefined {
  const url = parseHttpUrl(value)
  if (url === undefined || url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return undefined
  return url.origin
}

function parseHttpUrl (value: string): URL | undefined {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined
  } catch {
    return undefined
  }
}

/** An exact web origin as browsers send it in the Origin header: what `new URL(origin).origin` gives back unchanged. */
function isOrigin (value: string): boolean {
  const url = parseHttpUrl(value)
  return url !== undefined && url.origin === value
}

function parseRedisUrl (value: string): URL | undefined {
  try {
    const url = new URL(value)
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' ? url : undefined
  } catch {
    return undefined
  }
}

function splitList (value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter(Boolean)
}

interface AjvError { instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }

/**
 * Turns @fastify/env's Ajv errors into one ConfigError, a variable once each (Ajv never echoes values).
 * Problems found before validation (secret files) come first; a variable whose `NAME_FILE` failed is
 * not reported again as missing.
 */
export function toConfigError (error: unknown, before: { problems: Array<[string, string]>, unresolved: ReadonlySet<string> } = { problems: [], unresolved: new Set() }): Error {
  const ajvErrors = (error as { errors?: AjvError[] }).errors
  if (!Array.isArray(ajvErrors)) return error as Error
  const problems = new Map<string, string>(before.problems)
  for (const e of ajvErrors) {
    const name = e.keyword === 'required' ? String(e.params.missingProperty) : e.instancePath.replace(/^\//, '')
    if (!problems.has(name) && !before.unresolved.has(name)) problems.set(name, describeAjvError(e))
  }
  return new ConfigError([...problems])
}

function describeAjvError (e: AjvError): string {
  switch (e.keyword) {
    case 'required': return 'is required'
    case 'enum': return `must be one of ${(e.params.allowedValues as string[]).join(', ')}`
    case 'pattern': return 'has an invalid format'
    default: return e.message ?? 'is invalid'
  }
}
