# One image for the three deployables; the chart picks the entry point:
#   runner:   node /app/runner/src/main.ts   (the default)
#   operator: node operator/src/main.ts
#   api:      node api/src/main.ts
# Node 24 runs the TypeScript sources directly (type stripping), so there is no
# build step. The test bed builds this file with buildah (test/cluster/build-images.sh),
# from a NODE_IMAGE it builds itself under the default name, and runs it on its real node.
#
#   docker build -t claude-operator .
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no test tooling in the image. The claude CLI's install script
# fetches its platform binary from the npm registry.
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# tini as PID 1: it reaps the processes the agent's tools leave and passes signals on,
# which node as PID 1 does not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY crds ./crds
COPY packages ./packages
COPY runner ./runner
COPY operator ./operator
COPY api ./api
ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH
LABEL org.opencontainers.image.title="claude-operator" \
      org.opencontainers.image.description="The claude-operator operator, API server and task runner (Claude Code CLI)" \
      org.opencontainers.image.licenses="Apache-2.0"
# Non-root, as the restricted Pod Security profile requires.
USER 65532:65532
ENTRYPOINT ["/usr/bin/tini", "--", "node"]
# Absolute: runner pods start in their workspace (the Job's workingDir).
CMD ["/app/runner/src/main.ts"]
