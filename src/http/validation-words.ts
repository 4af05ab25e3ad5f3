import { MUST_BE_KEYWORD } from './ajv.js'

/** One Ajv error, as Fastify hands it over (with `verbose`: the failing value and its schema). */
export interface ValidationIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
  /** The failing value (Ajv's `verbose` option, src/http/ajv.ts). */
  data?: unknown
  /** The schema holding the failed keyword (`verbose`). */
  parentSchema?: Record<string, unknown>
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'an array',
  null: 'null'
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`

/**
 * What is wrong with a value, in words, from an Ajv error: "is required", "must be an integer",
 * "must be at most 10000", "must not list the same value twice (items 0 and 3)". Never Ajv's own
 * phrasing and never a regular expression: a `pattern` or `format` says what its schema's
 * `mustBe` annotation says, else only that the format is wrong.
 */
export function describeIssue (issue: ValidationIssue): string {
  const p = issue.params
  const mustBe = issue.parentSchema?.[MUST_BE_KEYWORD]
  switch (issue.keyword) {
    case 'required': return `is missing the required property "${String(p.missingProperty)}"`
    case 'additionalProperties': return `must not have the property "${String(p.additionalProperty)}"`
    case 'type': return `must be ${String(p.type).split(',').map((type) => TYPE_WORDS[type] ?? type).join(' or ')}`
    case 'minLength': return `must be at least ${plural(Number(p.limit), 'character')} long`
    case 'maxLength': return `must be at most ${plural(Number(p.limit), 'character')} long`
    case 'minimum': return `must be at least ${String(p.limit)}`
    case 'maximum': return `must be at most ${String(p.limit)}`
    case 'exclusiveMinimum': return `must be more than ${String(p.limit)}`
    case 'exclusiveMaximum': return `must be less than ${String(p.limit)}`
    case 'multipleOf': return `must be a multiple of ${String(p.multipleOf)}`
    case 'minItems': return `must list at least ${plural(Number(p.limit), 'item')}`
    case 'maxItems': return `must list at most ${plural(Number(p.limit), 'item')}`
    case 'uniqueItems': {
      const [first, second] = [Number(p.i), Number(p.j)].sort((a, b) => a - b)
      return `must not list the same value twice (items ${first} and ${second} are the same)`
    }
    case 'minProperties': return `must have at least ${plural(Number(p.limit), 'property', 'properties')}`
    case 'maxProperties': return `must have at most ${plural(Number(p.limit), 'property', 'properties')}`
    case 'enum': return `must be one of ${(p.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')}`
    case 'const': return `must be ${JSON.stringify(p.allowedValue)}`
    case 'pattern':
    case 'format':
      return typeof mustBe === 'string' ? `must be ${mustBe}` : issue.keyword === 'format' ? `must be a valid ${String(p.format)}` : 'is not in the expected format'
    case 'anyOf':
    case 'oneOf':
      return 'matches none of the allowed forms'
    default: return 'is invalid'
  }
}
