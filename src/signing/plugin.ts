import fp from 'fastify-plugin'
import { createPresigner, type PresignInput, type PresignedUrl } from './presigner.js'

declare module 'fastify' {
  interface FastifyInstance {
    signing: Signing
  }
}

export interface Signing {
  /** Signs locally: no call to storage, no object bytes. */
  presign: (input: PresignInput) => PresignedUrl
  /** presign without counting the URL in the metrics: for a batch, which counts its URLs per operation once. */
  presignUncounted: (input: PresignInput) => PresignedUrl
}

export default fp(async function signing (app) {
  const presigner = createPresigner(app.config.storage)

  app.decorate('signing', {
    presign: (input) => {
      const signed = presigner.presign(input)
      app.metrics.signedUrls.inc({ operation: input.operation })
      return signed
    },
    presignUncounted: (input) => presigner.presign(input)
  } satisfies Signing)
}, { name: 'signing', dependencies: ['config', 'metrics'] })
