# Three images from one file, a target each, sharing the dependency stage:
#   docker build --target operator -t claude-operator/operator .   node operator/src/main.ts
#   docker build --target api      -t claude-operator/api .        node api/src/main.ts, with Chromium for report PDFs
#   docker build --target runner   -t claude-operator/runner .     node /app/runner/src/main.ts: the task pods' image
# `docker build .` builds the last target, the runner. The chart runs each by its own
# value (operator.image, api.image, runner.image). Node 24 runs the TypeScript
# sources directly (type stripping), so there is no build step. The test bed builds
# each target with buildah (test/cluster/build-images.sh), from a NODE_IMAGE it
# builds itself under the default name, and runs them on its real node.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no test tooling in the images. The claude CLI's install script
# fetches its platform binary from the npm registry.
RUN npm ci --omit=dev --no-audit --no-fund

# The operator and the API run no agent: without the claude CLI (its platform binary
# is most of node_modules) and the Messages API SDK, which only the runner imports.
FROM dependencies AS server-dependencies
RUN rm -rf node_modules/@anthropic-ai node_modules/.bin/claude

# What every image starts from. tini as PID 1: it reaps what child processes leave
# and passes signals on, which node as PID 1 does not.
FROM ${NODE_IMAGE} AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
ENTRYPOINT ["/usr/bin/tini", "--", "node"]

# The code every deployable imports (the deployables never import one another).
FROM scratch AS shared-code
COPY package.json /app/
COPY crds /app/crds
COPY packages /app/packages

FROM base AS operator
COPY --from=server-dependencies /app/node_modules ./node_modules
COPY --from=shared-code /app ./
COPY operator ./operator
LABEL org.opencontainers.image.title="claude-operator-operator" \
      org.opencontainers.image.description="The claude-operator operator: ClaudeTask and ClaudeSession to Jobs" \
      org.opencontainers.image.licenses="Apache-2.0"
# Non-root, as the restricted Pod Security profile requires.
USER 65532:65532
CMD ["operator/src/main.ts"]

FROM base AS api
# Debian's Chromium prints report PDFs (api/src/reports/pdf.ts: headless, no
# sandbox, HOME and profile in a temporary directory, so it writes only under
# /tmp); a font, or the PDF has no text.
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
COPY --from=server-dependencies /app/node_modules ./node_modules
COPY --from=shared-code /app ./
COPY api ./api
ENV REPORT_CHROMIUM_PATH=/usr/bin/chromium
LABEL org.opencontainers.image.title="claude-operator-api" \
      org.opencontainers.image.description="The claude-operator REST and WebSocket API server, with Chromium for report PDFs" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
CMD ["api/src/main.ts"]

# The last target, so `docker build .` builds it.
FROM base AS runner
# git and ssh for git workspaces.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/*
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=shared-code /app ./
COPY runner ./runner
ENV PATH=/app/node_modules/.bin:$PATH
LABEL org.opencontainers.image.title="claude-operator-runner" \
      org.opencontainers.image.description="The claude-operator task runner: the Claude Code CLI in a task's pod" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
# Absolute: runner pods start in their workspace (the Job's workingDir).
CMD ["/app/runner/src/main.ts"]
