import fp from 'fastify-plugin'
import { createPresigner, type PresignInput, type PresignedUrl } from './presigner.js'
import { HttpProblem } from '../http/problem.js'

declare module 'fastify' {
  interface FastifyInstance {
    signing: Signing
  }
}

export interface Signing {
  /** The bucket a request names, or the default; 403 when it is not in S3_ALLOWED_BUCKETS. */
  resolveBucket: (requested: string | undefined) => string
  /** The lifetime a request asks for, or the default; 400 above SIGNED_URL_MAX_TTL_SECONDS. */
  resolveExpiresIn: (requested: number | undefined) => number
  /** Signs locally: no call to storage, no object bytes. */
  presign: (input: PresignInput) => PresignedUrl
}

export default fp(async function signing (app) {
  const { storage, signedUrls } = app.config
  const presigner = createPresigner(storage)

  app.decorate('signing', {
    resolveBucket (requested) {
      const bucket = requested ?? storage.defaultBucket
      if (!storage.allowedBuckets.has(bucket)) throw new HttpProblem('BUCKET_NOT_ALLOWED', 'This bucket is not served by r2-signer.')
      return bucket
    },
    resolveExpiresIn (requested) {
      const expiresIn = requested ?? signedUrls.defaultTtlSeconds
      if (expiresIn > signedUrls.maxTtlSeconds) {
        throw new HttpProblem('INVALID_EXPIRES_IN', `expiresIn must be at most ${signedUrls.maxTtlSeconds} seconds.`)
      }
      return expiresIn
    },
    presign: (input) => {
      const signed = presigner.presign(input)
      app.metrics.signedUrls.inc({ operation: input.operation })
      return signed
    }
  } satisfies Signing)
}, { name: 'signing', dependencies: ['config', 'metrics'] })
