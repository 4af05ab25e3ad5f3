import fp from 'fastify-plugin'
import { MultipartStorage, StorageProblem } from './multipart.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The multipart control plane (create, list parts, complete, abort) on the configured storage. */
    multipart: MultipartStorage
  }
}

/**
 * Decorates `app.multipart` with one S3 client for the service's lifetime (closed with the app),
 * and logs what storage said whenever a storage call fails: the caller only gets the problem.
 */
export default fp(async function multipart (app) {
  // The SDK is loaded on the first multipart call (src/storage/multipart.ts); a missing package
  // still stops the service at startup, as the static import it replaced did.
  import.meta.resolve('@aws-sdk/client-s3')
  const storage = new MultipartStorage(app.config.storage)
  app.decorate('multipart', storage)
  app.addHook('onClose', async () => storage.destroy())

  app.addHook('onError', async (request, _reply, error) => {
    if (!(error instanceof StorageProblem)) return
    // 502: the operator must act (credentials, bucket); 503: storage is down or slow; 4xx: the caller's mistake.
    const level = error.statusCode === 502 ? 'error' : error.statusCode >= 500 ? 'warn' : 'info'
    request.log[level]({ storage: error.storage, problem: error.code }, 'storage call failed')
  })
}, { name: 'multipart', dependencies: ['config'] })
