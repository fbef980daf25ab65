# lastgood's container image. Node 24 runs the TypeScript in src/ as it is (type stripping), so there is no build
# step and no dist/ to keep in step: the image is the production dependencies, src/, bin/ (the CLI), package.json
# and openapi.yaml (served at GET /openapi.yaml).
# On Cloud Run the Terraform module probes GET /readyz (startup) and GET /healthz (liveness); HEALTHCHECK below
# does the same for plain Docker. Pin the base by digest in your registry mirror if you need reproducible builds.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, exactly as locked. No install scripts: no production dependency needs one
# (protobufjs's only prints a version warning), and skipping them shuts a supply-chain door.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE}
# OCI labels, so a registry, a scanner or `docker inspect` can tell where an image came from. CI passes them:
#   docker build --build-arg VERSION="$(node -p 'require("./package.json").version')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" --build-arg SOURCE=https://github.com/OWNER/lastgood .
ARG SOURCE=unknown
ARG REVISION=unknown
ARG VERSION=unknown
LABEL org.opencontainers.image.title="lastgood" \
  org.opencontainers.image.description="Takes a bad Cloud Run or Cloud Deploy release off production when an SLO burn-rate alert fires." \
  org.opencontainers.image.licenses="Apache-2.0" \
  org.opencontainers.image.source="${SOURCE}" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.version="${VERSION}"
# npm, npx and corepack are not needed to run lastgood: dropping them makes the image smaller and gives scanners
# less to flag. The compile cache directory (below) belongs to the runtime user, who fills and reads it.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
  && mkdir -p /var/lib/lastgood /app/.compile-cache && chown node:node /var/lib/lastgood /app/.compile-cache
# NODE_ENV=production turns on lastgood's startup safety checks. PORT is the default; Cloud Run sets its own,
# which lastgood listens on. The SQLite store (used without DATABASE_URL) lives in LASTGOOD_DATA_DIR.
ENV NODE_ENV=production \
  PORT=8080 \
  LASTGOOD_DATA_DIR=/var/lib/lastgood
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json openapi.yaml ./
COPY src ./src
COPY bin ./bin
# `docker run IMAGE lastgood ...` runs the operator CLI (bin/lastgood.js runs src/cli/main.ts).
RUN ln -s /app/bin/lastgood.js /usr/local/bin/lastgood
# The unprivileged user of the official Node images (uid 1000); the files above stay root's, read-only to it.
USER node
# src/main.ts keeps Node's compile cache in NODE_COMPILE_CACHE. Filling it here, at build time, spares every new
# instance most of the parsing and compiling on its first start (about a third of the time to /readyz). Node names
# the cache after the uid that wrote it, so this runs as the runtime user: filled by root, it went unused. Started
# without configuration, lastgood loads every module and stops with exit code 78, which is all this step needs.
ENV NODE_COMPILE_CACHE=/app/.compile-cache
RUN node src/main.ts; test $? -eq 78
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/main.ts"]
