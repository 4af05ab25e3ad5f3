import { Type, type Static } from 'typebox'
import { MAX_EXPIRES_SECONDS } from '../signing/sigv4.js'
import { DEFAULT_INLINE_CONTENT_TYPES } from '../signing/inline-content-types.js'
import { DEFAULT_UPLOAD_MAX_BYTES } from '../uploads/policy.js'
import { MAX_OBJECT_SIZE } from '../storage/part-size.js'

/**
 * The environment variables r2-signer reads: these names are the contract.
 * Validated by @fastify/env (Ajv with type coercion and defaults). Cross-variable
 * rules (endpoint, one JWT key source, TTL <= max TTL) live in ./config.ts.
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/**
 * S3 bucket naming rules: 3..63 lowercase letters, digits, dots and hyphens; not the
 * reserved `xn--` prefix or the `-s3alias` / `--x-s3` / `--xa-s3` / `--op-s3` suffixes
 * (the SDK treats those as access points or directory buckets, not plain buckets).
 */
export const BUCKET_NAME_PATTERN = '^(?!xn--)(?!.*(?:-s3alias|--x-s3|--xa-s3|--op-s3)$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'

/** Defaults of SIGNED_URL_TTL_SECONDS and SIGNED_URL_MAX_TTL_SECONDS (./config.ts checks one against the other). */
export const DEFAULT_TTL_SECONDS = 300
export const DEFAULT_MAX_TTL_SECONDS = 3600

export const STORAGE_UNSAFE_HEADERS_MODES = ['refuse', 'warn'] as const

/** A key prefix: 1 to 8 `/`-terminated segments of letters, digits, `.`, `_`, `-` (no `.` or `..` segment). */
export const STORAGE_CHECK_PREFIX_PATTERN = '^(?:(?!\\.{1,2}/)[A-Za-z0-9._-]+/){1,8}$'

/** BATCH_MAX_ITEMS may not exceed this: the body limit of a batch request is sized for it (src/routes/v1/batch.ts). */
export const MAX_BATCH_ITEMS_LIMIT = 5000

const TtlSeconds = (fallback: number) =>
  Type.Integer({ minimum: 1, maximum: MAX_EXPIRES_SECONDS, default: fallback })

/** Root keyword running the cross-variable rules of ./config.ts inside the same Ajv pass. */
export const CROSS_FIELD_KEYWORD = 'x-cross-variable-rules'

export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  LOG_LEVEL: Type.Enum(LOG_LEVELS, { default: 'info' }),
  /** Interactive API docs at /docs (swagger UI); `npm run dev` turns them on. */
  DOCS_ENABLED: Type.Boolean({ default: false }),

  S3_ENDPOINT: Type.Optional(Type.String({ minLength: 1 })),
  R2_ACCOUNT_ID: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{32}$' })),
  S3_REGION: Type.String({ minLength: 1, pattern: '^[a-z0-9-]+$', default: 'auto' }),
  S3_ACCESS_KEY_ID: Type.String({ minLength: 1 }),
  S3_SECRET_ACCESS_KEY: Type.String({ minLength: 1 }),
  S3_BUCKET: Type.String({ pattern: BUCKET_NAME_PATTERN }),
  S3_ALLOWED_BUCKETS: Type.Optional(Type.String()),
  S3_FORCE_PATH_STYLE: Type.Boolean({ default: true }),
  /** Timeout of one control-plane call to storage (multipart create/list/complete/abort); one retry. */
  S3_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120000, default: 10000 }),

  /** refuse: writes answer 503 STORAGE_UNSAFE while the storage self-test finds storage unsafe; warn: sign anyway, log and meter. */
  STORAGE_UNSAFE_HEADERS: Type.Enum(STORAGE_UNSAFE_HEADERS_MODES, { default: 'refuse' }),
  /** Seconds between storage self-tests after the one at startup; 0: only at startup. */
  STORAGE_CHECK_INTERVAL_SECONDS: Type.Integer({ minimum: 0, maximum: MAX_EXPIRES_SECONDS, default: 3600 }),
  /** Where the self-test's canary objects live (in S3_BUCKET), deleted after each run. */
  STORAGE_CHECK_PREFIX: Type.String({ pattern: STORAGE_CHECK_PREFIX_PATTERN, maxLength: 128, default: '.r2-signer-check/' }),

  /** Largest upload (single PUT or whole multipart file) in bytes; the permission service may narrow it per request. */
  UPLOAD_MAX_BYTES: Type.Integer({ minimum: 0, maximum: MAX_OBJECT_SIZE, default: DEFAULT_UPLOAD_MAX_BYTES }),
  /** Content types uploads may have: comma list of media types or `type/*`; unset: any. */
  UPLOAD_CONTENT_TYPES: Type.Optional(Type.String({ minLength: 1 })),

  SIGNED_URL_TTL_SECONDS: TtlSeconds(DEFAULT_TTL_SECONDS),
  SIGNED_URL_MAX_TTL_SECONDS: TtlSeconds(DEFAULT_MAX_TTL_SECONDS),

  /** `contentType` overrides a download URL may serve inline; others are served as attachment. */
  DOWNLOAD_INLINE_CONTENT_TYPES: Type.String({ minLength: 1, default: DEFAULT_INLINE_CONTENT_TYPES }),

  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1 })),
  JWT_JWKS_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Least time between two JWKS fetches (unknown kids between them are refused at once); 0: no limit. */
  JWT_JWKS_MIN_REFETCH_SECONDS: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
  /** Tokens whose exp is further ahead than this are refused. */
  JWT_MAX_LIFETIME_SECONDS: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 86_400 }),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  /** Verified tokens remembered (fast-jwt's cache, never past `exp`); 0 disables. */
  JWT_CACHE_MAX_ENTRIES: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000 }),

  PERMISSIONS_URL: Type.String({ minLength: 1 }),
  PERMISSIONS_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 60000, default: 2000 }),
  /** Keep-alive sockets to the permission service, at most. */
  PERMISSIONS_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 4096, default: 64 }),
  /** Decisions remembered when the permission service allows it (Cache-Control max-age); 0 disables. */
  PERMISSIONS_CACHE_MAX_ENTRIES: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000 }),
  /** Cap on the max-age the permission service may grant a decision. */
  PERMISSIONS_CACHE_MAX_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  /** The permission service's batch endpoint: one round trip decides many checks (POST /v1/batch, and single-route checks that arrive together). */
  PERMISSIONS_BATCH_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Without PERMISSIONS_BATCH_URL: single checks one batch request sends at once, at most. */
  PERMISSIONS_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1024, default: 16 }),
  /** Items one POST /v1/batch may carry. */
  BATCH_MAX_ITEMS: Type.Integer({ minimum: 1, maximum: MAX_BATCH_ITEMS_LIMIT, default: 1000 }),

  /** Longest a client may take to send one whole request (headers and body); then 408 and the socket is closed. */
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 300000, default: 10000 }),
  /** Shared state for several instances (rate limits, revocations, decisions): redis:// or rediss:// URL. Unset: in-process. */
  REDIS_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Prepended to every Redis key and channel, so several services or environments can share one Redis. */
  REDIS_KEY_PREFIX: Type.String({ minLength: 1, maxLength: 64, pattern: '^[!-~]+$', default: 'r2-signer:' }),
  /** URLs one subject may get per minute (a batch counts its items, part URLs one each). */
  RATE_LIMIT_URLS_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 1_000_000_000, default: 600 }),
  /** Requests that fail authentication, per client address per minute. */
  RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: Type.Integer({ minimum: 1, maximum: 1_000_000_000, default: 120 }),
  /** With Redis unavailable, answer from the last known revocations instead of refusing (503). */
  REVOCATION_FAIL_OPEN: Type.Boolean({ default: false }),
  /** Web origins (scheme://host[:port], comma-separated) whose pages may call r2-signer directly. Unset: no CORS headers at all. */
  CORS_ORIGINS: Type.Optional(Type.String()),
  /** How long a browser may cache a CORS preflight answer. */
  CORS_MAX_AGE_SECONDS: Type.Integer({ minimum: 0, maximum: 86_400, default: 600 }),
  /** Behind a proxy (Fly): the client address comes from Fly-Client-IP / X-Forwarded-For. */
  TRUST_PROXY: Type.Boolean({ default: false }),
  /** Bearer token of the admin API (/admin/v1/revocations); unset: the admin routes do not exist. */
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 32 })),

  METRICS_ENABLED: Type.Boolean({ default: true }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 10000 })
}, { [CROSS_FIELD_KEYWORD]: true })

export type Env = Static<typeof EnvSchema>
export type EnvName = keyof Env

/**
 * Credentials and keys, listed once: their values never appear in a message or a log
 * line, they belong in a secret store rather than in fly.toml's [env], and each may be
 * given as `NAME_FILE`, the path of a file holding the value (./secret-files.ts).
 */
export const SECRET_ENV_NAMES: readonly EnvName[] = ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'JWT_SECRET', 'JWT_PUBLIC_KEY', 'METRICS_TOKEN', 'REDIS_URL', 'ADMIN_TOKEN']
