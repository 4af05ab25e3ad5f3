# syntax=docker/dockerfile:1
# r2-signer: a stateless container; configuration comes from the environment only
# (secrets as variables or as NAME_FILE files), nothing secret is baked into the image.
# test/deploy/dockerfile.test.ts replays these COPY/RUN steps without a Docker engine: keep to
# plain COPY, WORKDIR, ENV and `npm …` RUN steps, or teach the test the new instruction.

# Node 26 (LTS) on Debian 13 slim, the same major in both stages: .nvmrc names it, and the test
# checks that package.json's engines and @types/node follow.

# ---- build: dev dependencies + TypeScript → dist/ ----
FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing needs one to compile or run (the only one, esbuild's, checks its binary).
# The npm cache lives in a BuildKit cache mount, never in a layer.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies + dist/ only ----
FROM node:26-trixie-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist ./dist
# The image's unprivileged user (uid 1000): the app needs no write access anywhere.
USER node
EXPOSE 8080
# Node itself is PID 1 and handles SIGTERM (graceful shutdown, SHUTDOWN_TIMEOUT_MS).
# Heap limits sized for fly.toml's 512 MB VM (raise them with the VM): the live heap is ≈30 MB, but
# under load V8 otherwise lets garbage grow the heap to what the machine allows (docs/performance.md:
# 480 MB RSS in the batch benchmark without them, ≈180 MB with these). npm run bench uses these flags.
# At most two glibc malloc arenas: V8's and libuv's worker threads otherwise get one each, whose freed
# memory stays resident (≈10 MB less peak RSS in the benchmark, no CPU cost measured). npm run bench
# passes the image's MALLOC_* variables to the servers it measures.
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-old-space-size=96", "--max-semi-space-size=4", "dist/server.js"]
