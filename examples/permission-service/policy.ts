// Policy file format and decision logic of the reference permission service.
// Pure functions only (plus one file read), so they are easy to test and to copy.
import { readFile } from 'node:fs/promises'
import { Type, type Static } from 'typebox'
import Value from 'typebox/value'

export const ActionSchema = Type.Union([Type.Literal('read'), Type.Literal('write')])
export type Action = Static<typeof ActionSchema>

const KeyPattern = Type.String({ minLength: 1 })

/**
 * Upload limits sent with an allowed `write` (r2-signer's contract: README, openapi/permission-service.json):
 * r2-signer applies the tighter of these and its own UPLOAD_MAX_BYTES / UPLOAD_CONTENT_TYPES.
 */
export const LimitsSchema = Type.Object(
  {
    maxBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    // Media types or `type/*`, lower case, no parameters.
    contentTypes: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9!#$&^_.+-]*/(?:\\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$' }), { minItems: 1, maxItems: 100 })),
    writeOnce: Type.Optional(Type.Boolean())
  },
  { additionalProperties: false }
)
export type Limits = Static<typeof LimitsSchema>

export const RuleSchema = Type.Object(
  {
    effect: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    actions: Type.Array(ActionSchema, { minItems: 1 }),
    // Glob(s) over object keys: `*` = part of one segment, `**` = any depth, `${sub}` = the subject.
    keys: Type.Union([KeyPattern, Type.Array(KeyPattern, { minItems: 1 })]),
    // Exact bucket names; absent = any bucket.
    buckets: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    // Allow rules only: upload limits sent with an allowed write this rule matches.
    limits: Type.Optional(LimitsSchema)
  },
  { additionalProperties: false }
)
export type Rule = Static<typeof RuleSchema>

export const PolicySchema = Type.Object(
  {
    // 0 (or absent) = answers are sent with `Cache-Control: no-store`.
    decisionMaxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    rules: Type.Array(RuleSchema)
  },
  { additionalProperties: false }
)
export type Policy = Static<typeof PolicySchema>

export interface CheckRequest {
  subject: string
  action: Action
  bucket: string
  key: string
}

/** Validates an already-parsed policy document; throws an Error listing every problem. */
export function parsePolicy (doc: unknown, source = 'policy'): Policy {
  if (!Value.Check(PolicySchema, doc)) {
    const problems = Value.Errors(PolicySchema, doc).map((e) => `  ${e.instancePath || '/'}: ${e.message}`)
    throw new Error(`${source} is invalid:\n${problems.join('\n')}`)
  }
  // Things JSON Schema cannot say clearly: catch typos early instead of silently never matching.
  doc.rules.forEach((rule, i) => {
    if (rule.limits !== undefined && rule.effect !== 'allow') throw new Error(`${source} is invalid:\n  /rules/${i}/limits: only allow rules carry limits`)
    for (const pattern of patternsOf(rule)) {
      const problem = patternProblem(pattern)
      if (problem) throw new Error(`${source} is invalid:\n  /rules/${i}/keys: "${pattern}" ${problem}`)
    }
  })
  return doc
}

export async function loadPolicy (path: string): Promise<Policy> {
  const text = await readFile(path, 'utf8')
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  return parsePolicy(doc, path)
}

/**
 * Default deny; a matching `deny` rule beats any `allow` rule.
 * Keys with `.` or `..` segments are always denied: HTTP clients and gateways may normalise them
 * away, so the key that reaches the store could differ from the key checked here.
 */
export function decide (policy: Policy, req: CheckRequest): boolean {
  return decideWithLimits(policy, req).allowed
}

/**
 * decide(), with the upload limits of an allowed write: of every matching allow rule with
 * limits, the smallest maxBytes, write-once if any says so, and the contentTypes of the first
 * that names some (a list cannot state "both lists"; put the tightest rule first).
 */
export function decideWithLimits (policy: Policy, req: CheckRequest): { allowed: boolean, limits?: Limits } {
  if (req.key.split('/').some((segment) => segment === '.' || segment === '..')) return { allowed: false }
  let allowed = false
  let limits: Limits | undefined
  for (const rule of policy.rules) {
    if (!ruleMatches(rule, req)) continue
    if (rule.effect === 'deny') return { allowed: false }
    allowed = true
    if (rule.limits !== undefined && req.action === 'write') limits = tighter(limits, rule.limits)
  }
  return allowed && limits !== undefined ? { allowed, limits } : { allowed }
}

function tighter (a: Limits | undefined, b: Limits): Limits {
  if (a === undefined) return { ...b }
  const out: Limits = { ...a }
  if (b.maxBytes !== undefined) out.maxBytes = Math.min(a.maxBytes ?? b.maxBytes, b.maxBytes)
  if (b.writeOnce === true) out.writeOnce = true
  if (out.contentTypes === undefined && b.contentTypes !== undefined) out.contentTypes = b.contentTypes
  return out
}

function ruleMatches (rule: Rule, req: CheckRequest): boolean {
  if (!rule.actions.includes(req.action)) return false
  if (rule.buckets && !rule.buckets.includes(req.bucket)) return false
  return patternsOf(rule).some((pattern) => {
    // A subject that cannot be a single, ordinary path segment ("a/b" would land in user a's
    // folder) must never be substituted: such rules grant nothing, and deny rules fail closed.
    if (pattern.includes(SUB) && !isSafeSubject(req.subject)) return rule.effect === 'deny'
    return matchKey(pattern, req.subject, req.key)
  })
}

const SUB = '${sub}'

export function isSafeSubject (subject: string): boolean {
  return subject !== '' && subject !== '.' && subject !== '..' && !subject.includes('/')
}

/** True when `key` matches the glob `pattern` once `${sub}` is replaced (literally) by `subject`. */
export function matchKey (pattern: string, subject: string, key: string): boolean {
  return globToRegExp(pattern, subject).test(key)
}

function globToRegExp (pattern: string, subject: string): RegExp {
  const segments = pattern.split('/')
  let source = ''
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1
    if (segment === '**') {
      // Trailing `/**` = anything inside the folder (not the folder name itself);
      // leading or inner `**/` = zero or more whole segments.
      source += last ? '.*' : '(?:[^/]*/)*'
      return
    }
    for (const token of segment.split(/(\$\{sub\}|\*)/)) {
      if (token === '*') source += '[^/]*'
      else if (token === SUB) source += escapeRegExp(subject) // glob characters in a subject stay literal
      else source += escapeRegExp(token)
    }
    if (!last) source += '/'
  })
  return new RegExp(`^${source}$`, 's')
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

function patternsOf (rule: Rule): string[] {
  return typeof rule.keys === 'string' ? [rule.keys] : rule.keys
}

function patternProblem (pattern: string): string | undefined {
  if (pattern.replaceAll(SUB, '').includes('${')) return 'uses an unknown variable (only ${sub} exists)'
  if (pattern.split('/').some((segment) => segment.includes('**') && segment !== '**')) {
    return 'uses ** inside a segment (** must be a whole segment, e.g. "a/**/b")'
  }
  return undefined
}
