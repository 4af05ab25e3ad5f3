/**
 * The generic (unoptimized) query-string SigV4 signer built from the primitives of
 * src/signing/sigv4.ts: it reproduces AWS's published example (which has no x-id /
 * X-Amz-Content-Sha256 params) with the code the presigner uses. Test-only: the presigner signs everything src needs.
 */
import { ALGORITHM, UNSIGNED_PAYLOAD, buildCanonicalRequest, buildStringToSign, canonicalHeaderValue, credentialScope, deriveSigningKey, formatAmzDate, hmacHex, uriEscape } from '../../src/signing/sigv4.js'

export interface SignQueryInput {
  method: string;
  /** Host header value (lower-case host[:port]); always signed. */
  host: string;
  /** Path exactly as it will be sent, already percent-encoded (e.g. from `uriEscapePath`). */
  path: string;
  /** Extra query params (raw, unencoded), signed along with the X-Amz-* ones. */
  query?: Readonly<Record<string, string>>;
  /** Extra signed headers, lower-case names, raw values. */
  headers?: Readonly<Record<string, string>>;
  /** Defaults to UNSIGNED-PAYLOAD. */
  payloadHash?: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
  date: Date;
  expiresIn: number;
}

export interface SignQueryResult {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  /** `name;name` list, as in X-Amz-SignedHeaders. */
  signedHeaders: string;
  /** Final query string (no leading '?'), params sorted by name, X-Amz-Signature included. */
  queryString: string;
}

export function signQuery (input: SignQueryInput): SignQueryResult {
  const amzDate = formatAmzDate(input.date)
  const date8 = amzDate.slice(0, 8)
  const scope = credentialScope(date8, input.region, input.service)

  const headers: Record<string, string> = { ...input.headers, host: input.host }
  const headerNames = Object.keys(headers).sort()
  let canonicalHeaders = ''
  for (const name of headerNames) canonicalHeaders += name + ':' + canonicalHeaderValue(headers[name] as string) + '\n'
  const signedHeaders = headerNames.join(';')

  const params: Record<string, string> = {
    ...input.query,
    'X-Amz-Algorithm': ALGORITHM,
    'X-Amz-Credential': `${input.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': String(input.expiresIn),
    'X-Amz-SignedHeaders': signedHeaders
  }
  const pairs = Object.keys(params)
    .map((k) => [uriEscape(k), uriEscape(params[k] as string)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const canonicalQuery = pairs.map(([k, v]) => k + '=' + v).join('&')

  const canonicalRequest = buildCanonicalRequest(
    input.method,
    input.path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    input.payloadHash ?? UNSIGNED_PAYLOAD
  )
  const stringToSign = buildStringToSign(amzDate, scope, canonicalRequest)
  const signature = hmacHex(deriveSigningKey(input.secretAccessKey, date8, input.region, input.service), stringToSign)

  const withSig = [...pairs, ['X-Amz-Signature', signature] as const].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return {
    canonicalRequest,
    stringToSign,
    signature,
    signedHeaders,
    queryString: withSig.map(([k, v]) => k + '=' + v).join('&')
  }
}
