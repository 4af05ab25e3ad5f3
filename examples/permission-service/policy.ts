// Policy file format and decision logic of the reference permission service.
// Pure functions only (plus one file read), so they are easy to test and to copy.
import { readFile } from 'node:fs/promises'
import { Type, type Static } from 'typebox'
import Value from 'typebox/value'

export const ActionSchema = Type.Union([Type.Literal('read'), Type.Literal('write')])
export type Action = Static<typeof ActionSchema>

const KeyPattern = Type.String({ minLength: 1 })

export const RuleSchema = Type.Object(
  {
    effect: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    actions: Type.Array(ActionSchema, { minItems: 1 }),
    // Glob(s) over object keys: `*` = part of one segment, `**` = any depth, `${sub}` = the subject.
    keys: Type.Union([KeyPattern, Type.Array(KeyPattern, { minItems: 1 })]),
    // Exact bucket names; absent = any bucket.
    buckets: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }))
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
  if (req.key.split('/').some((segment) => segment === '.' || segment === '..')) return false
  let allowed = false
  for (const rule of policy.rules) {
    if (!ruleMatches(rule, req)) continue
    if (rule.effect === 'deny') return false
    allowed = true
  }
  return allowed
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
